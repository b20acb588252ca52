"""``recordings``, ``import``: what the trace store holds, and bringing in a recording file
made by ``export`` (cli/commands/export.py) elsewhere."""

from __future__ import annotations

import argparse
from pathlib import Path

from elixir_scope.mcp_server.models import gap_row, node_row, process_label, recording_row

from ..errors import CliError
from ..render import Output
from ..session import opened_recording, opened_store


def register(sub, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("recordings", parents=[common], help="list the recordings in the trace store")
    p.add_argument("id", nargs="?", type=int, help="show one recording in detail")
    p.set_defaults(run=run_list)

    p = sub.add_parser("import", parents=[common], help="import a recording file into the trace store")
    p.add_argument("file", type=Path, help="file made by `elixir-scope export`")
    p.set_defaults(run=run_import)


def run_list(args: argparse.Namespace, out: Output) -> int:
    if args.id is not None:
        with opened_recording(args, args.id) as rec:
            return _show(rec, out)
    with opened_store(args) as store:
        rows = [recording_row(i) for i in store.recordings()]
    if out.json_mode:
        out.emit_json(rows)
        return 0
    if not rows:
        out.note("no recordings yet: record one with `elixir-scope record --node NODE SPEC`")
        return 0
    out.table("Recordings", ["id", "name", "status", "events", "dropped", "started", "end reason"],
              [[str(r.id), r.name, r.status, str(r.event_count), str(r.dropped_count),
                r.created_at or "-", r.end_reason or "-"] for r in rows],
              right=("id", "events", "dropped"))
    return 0


NAMED_SHOWN = 50


def _show(rec, out: Output) -> int:
    """One recording; names in its language (inside ``opened_recording``)."""
    row = recording_row(rec.info)
    stats = rec.stats
    gaps = [gap_row(g) for g in rec.gaps()]
    procs = [process_label(p) for p in rec.processes()]
    nodes = [node_row(n) for n in rec.nodes()]
    if out.json_mode:
        out.emit_json({"recording": row, "events_by_kind": stats.by_kind, "gaps": gaps, "processes": procs,
                       "nodes": nodes})
        return 0
    out.fields(f"Recording {row.id}: {row.name}", [
        ("status", row.status), ("started", row.created_at or "-"), ("ended", row.ended_at or "-"),
        ("end reason", row.end_reason or "-"), ("events", str(row.event_count)),
        ("dropped", str(row.dropped_count)), ("spec", str(row.spec)), ("limits", str(row.limits)),
        ("processes", str(len(procs))),
    ])
    if len(nodes) > 1 or any(n.end_reason for n in nodes):
        out.table("Nodes", ["node", "OTP", "ended by", "clock skew (us)", "± (us)"],
                  [[n.name, n.otp_release, n.end_reason or "-", _num(n.clock_skew_us), _num(n.clock_error_us)]
                   for n in nodes], right=("clock skew (us)", "± (us)"))
    out.table("Events by kind", ["kind", "count"], sorted(
        ([k, str(n)] for k, n in stats.by_kind.items()), key=lambda r: -int(r[1])), right=("count",))
    if gaps:
        out.table("Gaps (events dropped)", ["ts", "count", "reason"],
                  [[str(g.ts), str(g.count), g.reason] for g in gaps], right=("count",))
    named = [p for p in rec.processes() if p.app_names][:NAMED_SHOWN]
    if named:
        out.table("Processes the application names (labels, Registry names)", ["process"],
                  [[process_label(p)] for p in named])
    return 0


def _num(v: float | None) -> str:
    return "-" if v is None else f"{v:g}"


def run_import(args: argparse.Namespace, out: Output) -> int:
    if not args.file.is_file():
        raise CliError(f"no file {args.file}", "pass a file made by `elixir-scope export`")
    with opened_store(args, must_exist=False) as store:
        rid = store.import_recording(args.file)
    if out.json_mode:
        out.emit_json({"recording": rid, "path": str(args.file)})
    else:
        out.line(f"imported {args.file} as recording {rid}")
    return 0
