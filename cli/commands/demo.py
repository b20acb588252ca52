"""``elixir-scope demo``: the main job, end to end, on the bundled example apps.

Starts ``examples/sample_app`` as a distributed Elixir node, attaches to it with no code
change, and shows what a developer sees first: the node, the busiest processes by memory,
reductions and mailbox, and the supervision tree. Then it records a few seconds of cart
traffic (calls with their returns, the inventory's messages and state history) into the
trace store and answers questions from the recording: calls and latencies per function, and
how the inventory's state changed and why. The node is stopped at the end unless ``--keep``
is given (then the command prints how to attach to it again).

Last, the diagnosis: it starts a buggy example app (``--scenario``, default
``corrupted_state``), gives ElixirScope only the symptom a user would report and the
expression that reproduces it, and prints the report — root cause, evidence from the
recording, causal chain, state diffs and the fix — on the embedded defaults (no API key).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..demo import DEFAULT_APP, DEFAULT_SCENARIO, load_scenario, scenario_names, start_sample_app, start_scenario
from ..render import Output


def register(sub, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("demo", parents=[common],
                       help="run the bundled sample app and attach to it (the main job, end to end)")
    p.add_argument("--app-dir", type=Path, default=DEFAULT_APP, help="the sample app folder (default: examples/sample_app)")
    p.add_argument("--top", type=int, default=8, help="processes per ranking (default 8)")
    p.add_argument("--keep", action="store_true", help="leave the sample app running and print how to attach")
    p.add_argument("--record-seconds", type=float, default=3.0, help="length of the demo recording (default 3)")
    p.add_argument("--no-record", action="store_true", help="only attach and show the live overview")
    p.add_argument("--scenario", default=DEFAULT_SCENARIO, choices=scenario_names(),
                   help=f"the buggy example app to diagnose (default {DEFAULT_SCENARIO})")
    p.add_argument("--no-diagnose", action="store_true", help="skip the diagnosis of a buggy example app")
    p.set_defaults(run=run)


async def run(args: argparse.Namespace, out: Output) -> int:
    from elixir_scope.instrument.dist import Node
    from elixir_scope.instrument.introspect import node_info, process_overview, supervision_trees
    from elixir_scope.mcp_server.live_models import node_overview_model, process_row, supervisor_model

    from ..views import show_overview, show_processes, show_trees

    out.note(f"starting the sample app from {args.app_dir} ...")
    app = start_sample_app(args.app_dir)
    report: dict = {"node": app.name}
    try:
        out.note(f"started {app.name}; attaching as a hidden node (no code loaded onto it)")
        async with Node() as node:
            conn = await node.connect(app.name, cookie=app.cookie, timeout=args.timeout)
            await conn.rpc("Elixir.SampleApp.Workload", "run", [200], timeout=30)  # some traffic to look at
            ov = node_overview_model(await node_info(conn))
            ranks = {key: [process_row(p) for p in await process_overview(conn, sort_by=key, limit=args.top)]
                     for key in ("memory", "reductions", "message_queue_len")}
            trees = [supervisor_model(t) for t in await supervision_trees(conn, max_children=20)]
            recorded = None if args.no_record else await _record(conn, args, out)
        report.update(overview=ov, top_by_memory=ranks["memory"], top_by_reductions=ranks["reductions"],
                      top_by_mailbox=ranks["message_queue_len"],
                      supervision_tree=[t for t in trees if t.application == "sample_app"], recording=recorded)
        if not out.json_mode:
            show_overview(out, ov)
            show_processes(out, ranks["memory"], f"Top {args.top} processes by memory")
            show_processes(out, ranks["reductions"], f"Top {args.top} processes by reductions")
            queued = [r for r in ranks["message_queue_len"] if r.message_queue_len]
            if queued:
                show_processes(out, queued, "Largest mailboxes")
            else:
                out.line("No process has messages waiting in its mailbox.")
            show_trees(out, [t for t in trees if t.application == "sample_app"])
            if recorded is not None:
                _show_recording(out, recorded)
        if args.keep:
            out.note(f"the sample app keeps running (OS pid {app.proc.pid}); attach again with:\n"
                     f"  elixir-scope overview --node {app.name} --cookie {app.cookie}\n"
                     f"stop it with: kill {app.proc.pid}")
    finally:
        if not args.keep:
            app.stop()
    code = 0
    if not args.no_diagnose:
        diagnosis = await _diagnose(args, out)
        report["diagnosis"] = json.loads(diagnosis.to_json())
        code = 0 if diagnosis.verdict != "inconclusive" else 3
    if out.json_mode:
        out.emit_json(report)
    return code


async def _diagnose(args: argparse.Namespace, out: Output):
    """Start a buggy example, reproduce its bug while recording, and print the diagnosis."""
    from elixir_scope.agents.context import DiagnosisContext
    from elixir_scope.agents.graph import diagnose
    from elixir_scope.agents.report import render_markdown
    from elixir_scope.agents.state import DiagnosisInput
    from elixir_scope.instrument.dist import Node

    from ..demo import EXAMPLES
    from ..session import config_from, opened_store

    sc = load_scenario(args.scenario)
    out.note(f"starting the buggy example {args.scenario!r}; the symptom, as a user reports it: {sc['symptom']!r}")
    app = start_scenario(args.scenario)

    async def progress(message: str, fraction: float) -> None:
        out.note(f"[{fraction * 100:3.0f}%] {message}")

    try:
        with opened_store(args, must_exist=False) as store:
            async with Node() as dist:
                conn = await dist.connect(app.name, cookie=app.cookie, timeout=args.timeout)
                ctx = DiagnosisContext(store=store, conn=conn, dist_node=dist,
                                       knowledge_dir=config_from(args).knowledge_dir, progress=progress)
                report = await diagnose(DiagnosisInput(
                    symptom=sc["symptom"], node=app.name, trigger=sc["trigger"],
                    seconds=3.5 if args.scenario == "call_cycle" else 1.5,
                    source_path=str(EXAMPLES / args.scenario)), ctx)
    finally:
        app.stop()
    if not out.json_mode:
        out.markdown(render_markdown(report))
        rc = report.root_cause
        truth = sc["culprit"]
        if rc is not None:
            same = rc.culprit.module == truth["module"] and rc.culprit.function == truth["function"]
            out.note(f"the example's known culprit is {truth['module']}.{truth['function']} "
                     f"({truth['detail']}): the diagnosis {'found it' if same else 'named something else'}")
    return report


SPECS = ["SampleApp.Cart.add/3 :: return", "SampleApp.Cart.checkout/1 :: return"]


async def _record(conn, args: argparse.Namespace, out: Output) -> dict:
    """Record cart traffic, then ask the recording the questions a developer would."""
    from elixir_scope.instrument.limits import CaptureLimits
    from elixir_scope.instrument.session import capture
    from elixir_scope.mcp_server.history_models import transition_model
    from elixir_scope.mcp_server.targets import capture_plan
    from elixir_scope.mcp_server.tools.query import query_page
    from elixir_scope.store import timetravel
    from elixir_scope.store.query import run_query

    from ..session import opened_store

    plan = await capture_plan(conn, SPECS, state_of=["SampleApp.Inventory"], messages_of=["SampleApp.Inventory"])
    limits = CaptureLimits(max_events=20_000, max_seconds=args.record_seconds)
    with opened_store(args, must_exist=False) as store:
        out.note(f"recording {args.record_seconds:g}s of cart traffic: {', '.join(SPECS)}, "
                 "state and messages of SampleApp.Inventory ...")
        session = await capture(conn, store, "demo: cart traffic", plan, limits)
        ops = await conn.rpc("Elixir.SampleApp.Workload", "run", [60], timeout=60)
        result = await session.wait(args.record_seconds + 30)
        rec = store.recording(result.recording_id)
        per_function = query_page(run_query(rec, "calls | stats count, p50(duration), p99(duration) by function"), 50)
        evo = timetravel.state_evolution(rec, "SampleApp.Inventory", limit=5)
        return {
            "recording": result.recording_id, "store": str(store.path), "end_reason": result.end_reason,
            "events_stored": result.stats.stored, "dropped": result.stats.dropped,
            "workload": {str(k): v for k, v in ops.items()},
            "calls_by_function": per_function.items,
            "inventory_changes": [transition_model(t) for t in evo.transitions],
        }


def _show_recording(out: Output, r: dict) -> None:
    out.fields(f"Recording {r['recording']} ({r['store']})", [
        ("ended by", r["end_reason"]), ("events stored", str(r["events_stored"])),
        ("dropped", str(r["dropped"])),
        ("workload", ", ".join(f"{k}: {v}" for k, v in r["workload"].items())),
    ])
    rows = r["calls_by_function"]
    if rows:
        cols = list(rows[0])
        out.table("Calls per function (durations in ms)", cols,
                  [[f"{v:.3f}" if isinstance(v, float) else str(v) for v in row.values()] for row in rows])
    if r["inventory_changes"]:
        out.table("How SampleApp.Inventory's state changed, and why", ["event", "message", "changes"],
                  [[str(t.after_event), t.message or "", "\n".join(t.changes)] for t in r["inventory_changes"]])
    rid = r["recording"]
    out.line(f"Explore it: elixir-scope query \"calls without return\" --recording {rid} | "
             f"elixir-scope state-at SampleApp.Inventory --evolution --recording {rid}")
