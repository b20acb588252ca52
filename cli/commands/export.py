"""``export``: a recording out of the store — as a standalone recording file (for ``import``
elsewhere), as OpenTelemetry traces to an OTLP/HTTP endpoint (``--otlp URL``), or as Parquet
files for columnar engines (``--parquet DIR``)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import CliError
from ..render import Output
from ..session import opened_store

EPILOG = """\
examples:
  elixir-scope export 7 cart.esrec                        one file, `elixir-scope import` it elsewhere
  elixir-scope export 7 --otlp http://127.0.0.1:4318      traces to an OpenTelemetry collector
  elixir-scope export 7 --parquet out/rec7                Parquet files, e.g. for DuckDB:
      duckdb -c "SELECT mfa, count(*) FROM 'out/rec7/calls.parquet' GROUP BY mfa"

What goes where is documented in docs/store.md ("Export to OpenTelemetry and Parquet")."""


def register(sub, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("export", parents=[common], help="export a recording: a file, OTLP traces or Parquet",
                       description=__doc__, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("id", type=int, help="recording id (see `elixir-scope recordings`)")
    p.add_argument("file", type=Path, nargs="?", help="recording file to write (for `elixir-scope import`)")
    to = p.add_argument_group("other targets (instead of FILE)")
    to.add_argument("--otlp", metavar="URL",
                    help="send the traced calls as OpenTelemetry spans to this OTLP/HTTP endpoint "
                         "(base URL like http://127.0.0.1:4318, or a full URL ending in /v1/traces)")
    to.add_argument("--parquet", metavar="DIR", type=Path,
                    help="write Parquet files (events, calls, messages, states, ...) into this new directory")
    o = p.add_argument_group("export options")
    o.add_argument("--value-bytes", type=int, metavar="N",
                   help="longest text of one argument, return value, message or state (OTLP default 1024, "
                        "0 for none: names, ids, times and links only; Parquet default 4096)")
    o.add_argument("--otlp-header", action="append", default=[], metavar="NAME=VALUE",
                   help="an extra request header, e.g. an API key (repeatable)")
    o.add_argument("--otlp-batch", type=int, default=512, metavar="N", help="spans per request (default 512)")
    o.add_argument("--otlp-gzip", action="store_true", help="gzip the request bodies")
    o.add_argument("--service-name", metavar="NAME",
                   help="service.name of the exported resource (default: the node's name before @)")
    p.set_defaults(run=run_export)


def run_export(args: argparse.Namespace, out: Output) -> int:
    targets = [t for t in (args.file, args.otlp, args.parquet) if t is not None]
    if len(targets) != 1:
        raise CliError("give exactly one target: FILE, --otlp URL or --parquet DIR",
                       "e.g. `elixir-scope export 7 --otlp http://127.0.0.1:4318`")
    if args.otlp is not None:
        return _otlp(args, out)
    if args.parquet is not None:
        return _parquet(args, out)
    return _file(args, out)


def _file(args: argparse.Namespace, out: Output) -> int:
    if args.file.exists():
        raise CliError(f"{args.file} already exists", "choose another file name or remove it first")
    with opened_store(args) as store:
        path = store.export_recording(args.id, args.file)
    size = path.stat().st_size
    if out.json_mode:
        out.emit_json({"recording": args.id, "path": str(path), "bytes": size})
    else:
        out.line(f"exported recording {args.id} to {path} ({size} bytes)")
    return 0


def _headers(pairs: list[str]) -> tuple[tuple[str, str], ...]:
    out = []
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip() or any(c in name + value for c in "\r\n"):
            raise CliError(f"bad --otlp-header {name.strip() or pair!r}: expected NAME=VALUE on one line",
                           "e.g. --otlp-header 'x-api-key=SECRET'")
        out.append((name.strip(), value.strip()))
    return tuple(out)


def _otlp(args: argparse.Namespace, out: Output) -> int:
    from elixir_scope.store.export import HttpOptions, OtlpOptions, SpanOptions, export_otlp, traces_url

    url = traces_url(args.otlp)  # refuse a bad URL before opening the store
    spans = SpanOptions(value_bytes=1024 if args.value_bytes is None else args.value_bytes,
                        service_name=args.service_name)
    options = OtlpOptions(batch_spans=args.otlp_batch, spans=spans,
                          http=HttpOptions(gzip=args.otlp_gzip, headers=_headers(args.otlp_header)))
    with opened_store(args) as store:
        report = export_otlp(store.recording(args.id), url, options)
    if out.json_mode:
        out.emit_json(report.as_dict())
        return 0
    out.line(f"exported recording {args.id} to {report.endpoint}: {report.spans} spans, {report.links} "
             f"message links, {report.requests} requests ({report.bytes_sent} bytes), {report.retries} retries")
    if report.rejected_spans:
        out.warn(f"the collector rejected {report.rejected_spans} spans: {'; '.join(report.rejected_messages)}")
    if report.unfinished_spans:
        out.note(f"{report.unfinished_spans} calls had no recorded return (attribute elixir_scope.unfinished)")
    if report.messages_outside_calls:
        out.note(f"{report.messages_outside_calls} messages were sent or received outside any traced call "
                 "(not on a span; they are in the Parquet export's messages table)")
    return 0


def _parquet(args: argparse.Namespace, out: Output) -> int:
    from elixir_scope.store.export import ParquetOptions, export_parquet

    options = ParquetOptions(value_bytes=args.value_bytes or 4096)
    if args.parquet.exists():
        raise CliError(f"{args.parquet} already exists", "choose a new directory (exports never overwrite)")
    with opened_store(args) as store:
        report = export_parquet(store.recording(args.id), args.parquet, options)
    if out.json_mode:
        out.emit_json(report.as_dict())
        return 0
    out.line(f"exported recording {args.id} to {report.directory} ({report.bytes_written} bytes)")
    out.table("Parquet files", ["file", "rows"], [[f"{t}.parquet", str(n)] for t, n in report.rows.items()],
              right=("rows",))
    return 0
