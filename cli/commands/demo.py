"""``elixir-scope demo``: the main job, end to end, on the bundled sample app.

Starts ``examples/sample_app`` as a distributed Elixir node, attaches to it with no code
change, and shows what a developer sees first: the node, the busiest processes by memory,
reductions and mailbox, and the supervision tree. The node is stopped at the end unless
``--keep`` is given (then the command prints how to attach to it again).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..demo import DEFAULT_APP, start_sample_app
from ..render import Output


def register(sub, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("demo", parents=[common],
                       help="run the bundled sample app and attach to it (the main job, end to end)")
    p.add_argument("--app-dir", type=Path, default=DEFAULT_APP, help="the sample app folder (default: examples/sample_app)")
    p.add_argument("--top", type=int, default=8, help="processes per ranking (default 8)")
    p.add_argument("--keep", action="store_true", help="leave the sample app running and print how to attach")
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
        report.update(overview=ov, top_by_memory=ranks["memory"], top_by_reductions=ranks["reductions"],
                      top_by_mailbox=ranks["message_queue_len"],
                      supervision_tree=[t for t in trees if t.application == "sample_app"])
        if out.json_mode:
            out.emit_json(report)
        else:
            show_overview(out, ov)
            show_processes(out, ranks["memory"], f"Top {args.top} processes by memory")
            show_processes(out, ranks["reductions"], f"Top {args.top} processes by reductions")
            queued = [r for r in ranks["message_queue_len"] if r.message_queue_len]
            if queued:
                show_processes(out, queued, "Largest mailboxes")
            else:
                out.line("No process has messages waiting in its mailbox.")
            show_trees(out, [t for t in trees if t.application == "sample_app"])
        if args.keep:
            out.note(f"the sample app keeps running (OS pid {app.proc.pid}); attach again with:\n"
                     f"  elixir-scope overview --node {app.name} --cookie {app.cookie}\n"
                     f"stop it with: kill {app.proc.pid}")
    finally:
        if not args.keep:
            app.stop()
    return 0
