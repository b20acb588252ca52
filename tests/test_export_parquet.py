"""Parquet export of a recording of the real sample app, read back with DuckDB: the same
questions asked in our query language and in SQL over the files give the same answers."""

from __future__ import annotations

import asyncio

import duckdb
import pyarrow.parquet as pq
import pytest

from elixir_scope.store import EventKind, ExportError, TraceStore
from elixir_scope.store.export import TABLES, ParquetOptions, export_parquet
from elixir_scope.store.query import run_query

from support.export_recording import SECRET, record_sample_app


@pytest.fixture(scope="module")
def recording(sample_app_module, tmp_path_factory):
    path = tmp_path_factory.mktemp("parquet") / "rec.db"
    rid = asyncio.run(record_sample_app(sample_app_module, path, ops=80))
    store = TraceStore.open(path)
    yield store.recording(rid)
    store.close()


@pytest.fixture(scope="module")
def exported(recording, tmp_path_factory):
    out = tmp_path_factory.mktemp("pq") / "rec"
    report = export_parquet(recording, out, ParquetOptions(row_group=1000))
    return out, report


def sql(out, query: str) -> list[tuple]:
    con = duckdb.connect()
    for name in TABLES:
        con.execute(f"CREATE VIEW {name} AS SELECT * FROM read_parquet('{out / (name + '.parquet')}')")
    return con.execute(query).fetchall()


def test_every_table_has_its_documented_schema_and_all_rows(recording, exported):
    out, report = exported
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{t}.parquet" for t in TABLES)
    for name, cols in TABLES.items():
        assert pq.read_schema(out / f"{name}.parquet").names == [c for c, _ in cols]
    stats = recording.stats
    assert report.rows["events"] == stats.event_count == sql(out, "SELECT count(*) FROM events")[0][0]
    by_kind = dict(sql(out, "SELECT kind, count(*) FROM events GROUP BY kind"))
    assert by_kind == stats.by_kind
    # written in row groups, never the whole recording at once
    assert pq.ParquetFile(out / "events.parquet").metadata.num_row_groups == -(-stats.event_count // 1000) > 1


def test_counts_per_function_match_the_query_language(recording, exported):
    out, _ = exported
    ours = {g.key["function"]: g.values["count"] for g in run_query(recording, "calls | count by function").groups}
    theirs = dict(sql(out, "SELECT mfa, count(*) FROM calls GROUP BY mfa"))
    assert ours == theirs and ours
    assert theirs == dict(sql(out, "SELECT mfa, count(*) FROM events WHERE kind = 'call' GROUP BY mfa"))


def test_calls_with_an_argument_pattern_match_the_query_language(recording, exported):
    out, _ = exported
    ours = [r.event.id for r in run_query(
        recording, "calls SampleApp.Inventory.handle_call where arg[0] = {:reserve, _, _}", limit=1000).rows]
    theirs = [r[0] for r in sql(out, "SELECT event_id FROM events WHERE kind = 'call' AND "
                                     "mfa = 'SampleApp.Inventory.handle_call/3' AND payload LIKE '[{:reserve, %' "
                                     "ORDER BY event_id")]
    assert ours == theirs and ours


def test_durations_match_the_query_language(recording, exported):
    out, _ = exported
    res = run_query(recording, "calls | stats count, max(duration) by function")
    ours = {g.key["function"]: (g.values["count"], g.values["max(duration)"]) for g in res.groups}
    theirs = {m: (n, mx / 1e6) for m, n, mx in sql(out, "SELECT mfa, count(*), max(duration_ns) FROM calls "
                                                      "WHERE outcome IN ('return', 'exception') GROUP BY mfa")}
    assert ours.keys() == theirs.keys()
    for fn, (n, mx) in ours.items():
        assert theirs[fn][0] == n and theirs[fn][1] == pytest.approx(mx, rel=1e-6), fn
    # parents: Inventory.reserve always runs inside Cart.handle_call
    rows = sql(out, "SELECT p.mfa, count(*) FROM calls c JOIN calls p ON p.call_id = c.parent_call_id "
                    "WHERE c.mfa = 'SampleApp.Inventory.reserve/2' GROUP BY p.mfa")
    assert rows == [("SampleApp.Cart.handle_call/3", ours["SampleApp.Inventory.reserve/2"][0])]


def test_messages_and_states_match_the_recording(recording, exported):
    out, _ = exported
    links = set(recording.db.query("SELECT send_id, recv_id FROM msg_links WHERE recording_id = ?", (recording.id,)))
    assert links == set(sql(out, "SELECT send_id, receive_id FROM messages WHERE receive_id IS NOT NULL"))
    sends = run_query(recording, "sends | count").groups[0].values["count"]
    assert sends == sql(out, "SELECT count(*) FROM messages WHERE NOT dead")[0][0]
    assert all(lat >= 0 for (lat,) in sql(out, "SELECT latency_ns FROM messages WHERE receive_id IS NOT NULL "
                                               "AND sender_node = receiver_node"))
    states = run_query(recording, "states of SampleApp.Inventory | count").groups[0].values["count"]
    assert states == sql(out, "SELECT count(*) FROM states WHERE process_name = 'SampleApp.Inventory'")[0][0] > 0
    last = recording.events(kind=EventKind.STATE, limit=100_000)[-1]
    (text,) = sql(out, f"SELECT state FROM states WHERE event_id = {last.id}")[0]
    assert '"apple" =>' in text  # the inventory's map, rebuilt from the stored state history


def test_redacted_values_stay_redacted(recording, tmp_path):
    report = export_parquet(recording, tmp_path / "plain", ParquetOptions(compression="none"))
    raw = b"".join(p.read_bytes() for p in (tmp_path / "plain").iterdir())
    assert SECRET not in raw and b"hunter2" not in raw
    hits = sql(tmp_path / "plain", "SELECT count(*) FROM events WHERE redacted AND payload LIKE '%«redacted»%'")
    assert hits[0][0] > 0 and report.rows["events"] == recording.stats.event_count


def test_values_are_bounded(recording, tmp_path):
    export_parquet(recording, tmp_path / "small", ParquetOptions(value_bytes=32))
    assert sql(tmp_path / "small", "SELECT max(octet_length(encode(payload))) FROM events")[0][0] <= 32
    assert sql(tmp_path / "small", "SELECT max(octet_length(encode(args))) FROM calls")[0][0] <= 32
    cut = sql(tmp_path / "small", "SELECT count(*) FROM events WHERE payload LIKE '%…'")[0][0]
    assert cut > 0  # the long ones say they were cut


def test_never_overwrites_and_leaves_nothing_half_written(recording, exported, tmp_path):
    out, _ = exported
    with pytest.raises(ExportError, match="already exists"):
        export_parquet(recording, out)
    with pytest.raises(ExportError, match="is not a directory"):
        export_parquet(recording, tmp_path / "missing" / "rec")
    with pytest.raises(ExportError, match="row_group"):
        ParquetOptions(row_group=5)
    assert not list(tmp_path.iterdir())
