"""The recorded history: the embedded trace store (schema, ingest, export/import), time
travel, causal order and the query language. Never calls the live node."""
