"""``query``, ``state-at``, ``snapshot``, ``timeline``: reading a recording from the trace store
(no node needed). Terms print in Elixir syntax; ``--json`` gives the same models the MCP tools
return."""

from __future__ import annotations

import argparse
from typing import Any

from elixir_scope.mcp_server.process_pick import pick_process

from ..errors import CliError
from ..render import Output
from ..session import opened_recording, opened_store, recording_syntax

QUERY_HELP = """\
examples:
  elixir-scope query "calls SampleApp.Cart.add/3"
  elixir-scope query "exceptions | count by function"
  elixir-scope query "calls SampleApp.Inventory.* | stats p50(duration), p99(duration) by function"
  elixir-scope query "sequence call SampleApp.Cart.add then exception within 500ms same process"
  elixir-scope query "calls without return"
  elixir-scope query "sends never received"
The whole language: docs/query-language.md."""


def _recording_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--recording", type=int, help="recording id (default: the most recent)")


def _moment_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--at-event", type=int, help="the moment just after this event id")
    p.add_argument("--at-ts", type=int, help="the moment at this node monotonic time")


def register(sub, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("query", parents=[common], help="ask a recording a question in the query language",
                       epilog=QUERY_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("text", help="the query, e.g. 'exceptions | count by function'")
    _recording_args(p)
    p.add_argument("--limit", type=int, default=50, help="rows per page (default 50)")
    p.add_argument("--cursor", help="next page: the cursor printed by the previous page")
    p.set_defaults(run=run_query_cmd)

    p = sub.add_parser("state-at", parents=[common], help="a process's state at a moment of a recording")
    p.add_argument("process", help="pid (<0.123.0> or #PID<0.123.0>) or registered name (SampleApp.Cart)")
    p.add_argument("--pid", help="when the name was held by several processes (a restart), the one to show")
    _recording_args(p)
    _moment_args(p)
    p.add_argument("--evolution", action="store_true", help="show every state change instead, with its cause")
    p.set_defaults(run=run_state_at)

    p = sub.add_parser("snapshot", parents=[common], help="the whole recorded system at a moment")
    _recording_args(p)
    _moment_args(p)
    p.set_defaults(run=run_snapshot)

    p = sub.add_parser("timeline", parents=[common], help="a process's call tree over a recording")
    p.add_argument("process", help="pid (<0.123.0> or #PID<0.123.0>) or registered name")
    p.add_argument("--pid", help="when the name was held by several processes (a restart), the one to show")
    _recording_args(p)
    p.add_argument("--max-calls", type=int, default=200)
    p.set_defaults(run=run_timeline)


def _rec(store: Any, recording: int | None) -> Any:
    if recording is not None:
        return store.recording(recording)
    infos = store.recordings()
    if not infos:
        raise CliError("the trace store has no recordings yet", "record one with `elixir-scope record`")
    return store.recording(infos[-1].id)


def run_query_cmd(args: argparse.Namespace, out: Output) -> int:
    from elixir_scope.instrument.etf.syntax import ELIXIR, printing
    from elixir_scope.mcp_server.tools.query import query_page
    from elixir_scope.store.query import run_query

    with opened_store(args) as store:
        target = store.recording(args.recording) if args.recording is not None else store
        infos = store.recordings() if args.recording is None else None
        shown = target if args.recording is not None else store.recording(infos[-1].id) if infos else None
        with printing(recording_syntax(args, shown) if shown is not None else ELIXIR):
            page = query_page(run_query(target, args.text, limit=args.limit, cursor=args.cursor), args.limit)
    if out.json_mode:
        out.emit_json(page)
        return 0
    cols = _columns(page)
    out.table(f"{page.query}  (recording {page.recording}, {page.shape})", cols,
              [[_cell(item.get(c)) for c in cols] for item in page.items])
    for note in page.notes:
        out.note(note)
    if page.crosses_gaps:
        out.warn(str(page.gaps))
    if page.next_cursor:
        out.note(f"more rows: add --cursor {page.next_cursor}")
    return 0


def _columns(page: Any) -> list[str]:
    if not page.items:
        return page.columns
    keys = list(page.items[0])
    wanted = [c for c in page.columns if c in keys]
    return wanted + [k for k in keys if k not in wanted and k not in ("steps", "closing")][: max(0, 9 - len(wanted))]


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.3f}"
    if isinstance(value, list):
        return "; ".join(f"#{s.get('id')} {s.get('kind')} {s.get('function') or ''}".strip()
                         if isinstance(s, dict) else str(s) for s in value)
    return str(value)


def run_state_at(args: argparse.Namespace, out: Output) -> int:
    from elixir_scope.instrument.etf.inspect import inspect
    from elixir_scope.mcp_server.history_models import resolve_moment, state_at_model, transition_model
    from elixir_scope.mcp_server.models import process_label
    from elixir_scope.store import timetravel

    with opened_recording(args, args.recording) as rec:
        if args.evolution:
            evo = timetravel.state_evolution(rec, pick_process(rec, args.process, args.pid, audience="cli"), limit=1000)
            transitions = [transition_model(t) for t in evo.transitions]
            label = process_label(evo.process)
            if out.json_mode:
                out.emit_json({"process": label, "transitions": transitions})
                return 0
            out.table(f"State changes of {label} (recording {rec.id})",
                      ["at", "event", "callback", "message", "changes"],
                      [[t.at or str(t.ts), str(t.after_event), t.callback or "", t.message or "", "\n".join(t.changes)]
                       for t in transitions])
            return 0
        found = timetravel.state_at(rec, pick_process(rec, args.process, args.pid, audience="cli"), resolve_moment(rec, args.at_event, args.at_ts))
        if found is None:
            raise CliError(f"no state of {args.process} was recorded at or before that moment",
                           "record with its module in the spec so its callbacks are traced")
        model = state_at_model(found)
        full = inspect(found.state, limit=500, printable_limit=20_000)
    if out.json_mode:
        out.emit_json(model)
        return 0
    out.fields(f"State of {model.process} at {model.at or f'ts {model.ts}'} (recording {rec.id})", [
        ("from event", f"#{model.from_event} ({model.source}{', ' + model.callback if model.callback else ''})"),
    ])
    out.line(full)
    for g in model.gaps:
        out.warn(f"{g.description}: the state may have changed there")
    return 0


def run_snapshot(args: argparse.Namespace, out: Output) -> int:
    from elixir_scope.mcp_server.history_models import resolve_moment, snapshot_process, tree_text
    from elixir_scope.mcp_server.models import since_start
    from elixir_scope.store.snapshot import system_snapshot_at

    with opened_recording(args, args.recording) as rec:
        snap = system_snapshot_at(rec, resolve_moment(rec, args.at_event, args.at_ts))
        procs = [snapshot_process(p) for p in snap.processes]
        tree = tree_text(snap.tree)
        at = since_start(snap.ts, rec.context.nodes.get(snap.node_id))
    if out.json_mode:
        out.emit_json({"ts": snap.ts, "processes": procs, "tree": tree})
        return 0
    out.table(f"{len(procs)} processes alive at {at or f'ts {snap.ts}'} (recording {rec.id})",
              ["process", "status", "current call", "mailbox", "state"],
              [[p.process, p.status, p.current_call or "", "?" if p.mailbox is None else str(p.mailbox),
                p.state or ""] for p in procs], right=("mailbox",))
    out.line("spawn tree:")
    out.line(tree)
    return 0


def run_timeline(args: argparse.Namespace, out: Output) -> int:
    from elixir_scope.mcp_server.history_models import call_models
    from elixir_scope.mcp_server.models import process_label
    from elixir_scope.store.timeline import process_timeline

    with opened_recording(args, args.recording) as rec:
        tl = process_timeline(rec, pick_process(rec, args.process, args.pid, audience="cli"))
        calls, cut = call_models(tl.roots, args.max_calls)
        label = process_label(tl.process)
    if out.json_mode:
        out.emit_json({"process": label, "calls": calls, "truncated": cut or tl.truncated})
        return 0
    out.table(f"Calls of {label} (recording {rec.id})",
              ["event", "at", "call", "duration", "outcome", "args", "result"],
              [[str(c.call_event), c.at or str(c.ts), "  " * c.depth + (c.function or "?"),
                f"{c.duration_us:.0f} µs" if c.duration_us is not None else "", c.outcome, c.args or "", c.result or ""]
               for c in calls])
    return 0
