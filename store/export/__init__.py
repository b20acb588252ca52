"""A recording out to the wider observability world: OpenTelemetry traces over OTLP/HTTP and
Parquet files for columnar engines (DuckDB, ClickHouse, Spark). Both read the store only.

    from elixir_scope.store.export import export_otlp, export_parquet
    export_otlp(rec, "http://127.0.0.1:4318")          -> OtlpReport
    export_parquet(rec, Path("out/rec7"))               -> ParquetReport

Modules: ``calls`` (call → return pairing, parents and message placement in one bounded
pass, shared by both), ``otlp_spans`` (the mapping to OpenTelemetry spans and semantic
conventions), ``otlp_http`` (the OTLP/HTTP client: batching limits, retries), ``otlp``,
``parquet``, ``text`` (bounded term text). The packages they need come with the ``export``
extra (``pip install 'elixir-scope[export]'``); without them an ``ExportError`` says so.
"""

from .calls import CallLimits
from .otlp import OtlpOptions, OtlpReport, OtlpStream, export_otlp
from .otlp_http import HttpOptions, is_loopback, traces_url
from .otlp_spans import SpanOptions
from .parquet import TABLES, ParquetOptions, ParquetReport, export_parquet

__all__ = [
    "CallLimits",
    "HttpOptions",
    "OtlpOptions",
    "OtlpReport",
    "OtlpStream",
    "ParquetOptions",
    "ParquetReport",
    "SpanOptions",
    "TABLES",
    "export_otlp",
    "export_parquet",
    "is_loopback",
    "traces_url",
]
