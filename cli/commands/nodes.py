"""``overview`` (alias ``attach``), ``processes``, ``process``, ``tree``: what runs on a node,
read live over distribution with standard OTP calls; what the application calls its processes
(labels, Registry names) and the ``:pg`` groups a process is in are read by the agent, and
left out when it cannot be asked (``process`` then says so)."""

from __future__ import annotations

import argparse

from elixir_scope.mcp_server.live_models import (
    node_overview_model,
    process_row,
    supervisor_model,
)

from ..process_arg import add_process_args, process_of
from ..render import Output
from ..session import attached, term_syntax
from ..views import show_details, show_overview, show_processes, show_trees

SORTS = ["memory", "reductions", "message_queue_len"]


def register(sub, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("overview", aliases=["attach"], parents=[common],
                       help="attach to a node: versions, memory, top processes, supervision trees")
    p.add_argument("--top", type=int, default=10, help="processes to list per ranking (default 10)")
    p.set_defaults(run=run_overview)

    p = sub.add_parser("processes", parents=[common], help="top processes by memory, reductions or mailbox")
    p.add_argument("--sort", choices=SORTS, default="memory")
    p.add_argument("--limit", type=int, default=20)
    p.add_argument("--find", metavar="TEXT", help="only processes whose name (registered, label or app-kept), initial call, function or behaviour contains TEXT")
    p.set_defaults(run=run_processes)

    p = sub.add_parser("process", parents=[common], help="one process in depth (links, monitors, stacktrace)")
    add_process_args(p)
    p.set_defaults(run=run_process)

    p = sub.add_parser("tree", parents=[common], help="supervision trees of the running applications")
    p.add_argument("--app", help="only this application (e.g. sample_app)")
    p.add_argument("--depth", type=int, default=8)
    p.add_argument("--max-children", type=int, default=50)
    p.set_defaults(run=run_tree)


async def run_overview(args: argparse.Namespace, out: Output) -> int:
    from elixir_scope.instrument.introspect import node_info, process_overview, supervision_trees

    async with attached(args) as conn:
        sx = await term_syntax(args, conn)
        ov = node_overview_model(await node_info(conn))
        by_memory = [process_row(p, sx) for p in await process_overview(conn, sort_by="memory", limit=args.top)]
        by_reds = [process_row(p, sx) for p in await process_overview(conn, sort_by="reductions", limit=args.top)]
        by_queue = [process_row(p, sx) for p in await process_overview(conn, sort_by="message_queue_len", limit=args.top)]
        trees = [supervisor_model(t, sx) for t in await supervision_trees(conn, max_children=20)]
    if out.json_mode:
        out.emit_json({"node": ov, "top_by_memory": by_memory, "top_by_reductions": by_reds,
                       "top_by_mailbox": by_queue, "supervision_trees": trees})
        return 0
    show_overview(out, ov)
    show_processes(out, by_memory, f"Top {args.top} processes by memory")
    show_processes(out, by_reds, f"Top {args.top} processes by reductions")
    queued = [r for r in by_queue if r.message_queue_len]
    if queued:
        show_processes(out, queued, "Largest mailboxes")
    else:
        out.line("No process has messages waiting in its mailbox.")
    show_trees(out, [t for t in trees if t.application not in ("kernel", "logger", "elixir")])
    return 0


async def run_processes(args: argparse.Namespace, out: Output) -> int:
    from elixir_scope.instrument.introspect import process_overview
    from elixir_scope.mcp_server.process_rows import matches, process_rows

    async with attached(args) as conn:
        sx = await term_syntax(args, conn)
        limit = 20_000 if args.find else args.limit
        rows = await process_rows(conn, await process_overview(conn, sort_by=args.sort, limit=limit), sx)
    if args.find:
        rows = [r for r in rows if matches(r, args.find)][: args.limit]
    if out.json_mode:
        out.emit_json(rows)
    else:
        show_processes(out, rows, f"Processes by {args.sort}" + (f" matching {args.find!r}" if args.find else ""))
    return 0


async def run_process(args: argparse.Namespace, out: Output) -> int:
    from elixir_scope.mcp_server.process_rows import details_model
    from elixir_scope.mcp_server.targets import resolve_pid

    who = process_of(args)
    async with attached(args) as conn:
        pid = await resolve_pid(conn, who)
        d = await details_model(conn, pid, await term_syntax(args, conn))
    if out.json_mode:
        out.emit_json(d)
    else:
        show_details(out, d)
    return 0


async def run_tree(args: argparse.Namespace, out: Output) -> int:
    from elixir_scope.instrument.introspect import supervision_trees

    async with attached(args) as conn:
        sx = await term_syntax(args, conn)
        trees = await supervision_trees(conn, max_depth=args.depth, max_children=args.max_children)
    models = [supervisor_model(t, sx) for t in trees if args.app is None or t.application == args.app]
    if out.json_mode:
        out.emit_json(models)
    else:
        show_trees(out, models)
    return 0
