"""``elixir-scope record``: capture what a node does into the trace store, with a progress bar.

Several nodes into one recording: ``--node a@h --node b@h`` (one agent per node), or
``--cluster`` (the first node and every node connected to it); ``--max-events`` is then per
node and ``--max-events-total`` caps them together (instrument/cluster.py).

Always bounded (count, time and rate limits, as every capture). Ctrl-C stops the capture
cleanly: trace flags come off the node and everything received so far is stored.
"""

from __future__ import annotations

import argparse
import asyncio
import time

from ..errors import CliError
from ..render import Output
from ..session import attach_timeouts, attached, config_from, node_names, opened_store

SPEC_HELP = ("trace specs: Module.function/arity, 'Module.function(x, n) when n > 100 :: return', "
             "a whole module (SampleApp.Cart), or Erlang syntax (ets:insert/2)")


def register(sub, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("record", parents=[common], help="record calls, messages and GenServer state into the trace store",
                       description="Record what a node does. " + SPEC_HELP)
    p.add_argument("spec", nargs="*", help="calls to trace (see above)")
    p.add_argument("--state-of", action="append", default=[], metavar="MODULE",
                   help="GenServer/gen_statem module whose state history to record (repeatable)")
    p.add_argument("--messages-of", action="append", default=[], metavar="PROCESS",
                   help="registered name, pid, or module whose processes' messages to record (repeatable)")
    p.add_argument("--lifecycle", action="store_true", help="also record spawns, exits, links of all processes")
    p.add_argument("--max-events", type=int, default=10_000)
    p.add_argument("--max-seconds", type=float, default=30.0)
    p.add_argument("--max-rate", type=int, default=20_000, help="events per second kept; more are shed as gaps")
    p.add_argument("--checkpoint-ms", type=int, default=0, help="sys:get_state checkpoints every N ms")
    p.add_argument("--setup-timeout", type=float, default=None, metavar="SECONDS",
                   help="how long the agent's setup on the node (trace flags and patterns) may take; past it "
                        "the agent is stopped, nothing traces, and the command says why (default 15, or "
                        "$ELIXIR_SCOPE_SETUP_TIMEOUT)")
    p.add_argument("--name", help="a name for the recording")
    p.add_argument("--force", action="store_true",
                   help="record a spec the safety rules refuse (a hot module such as Enum or :ets with "
                        "wildcard arguments, or every module); on OTP < 27 also take over from another "
                        "tracer. The limits still apply. Never allowed: tracing the agent itself")
    p.add_argument("--logs", action="store_true", help="also record the node's log events (as marks in the recording)")
    p.add_argument("--cluster", action="store_true",
                   help="record the (first) --node and every node connected to it, into one recording")
    p.add_argument("--max-events-total", type=int, default=None, metavar="N",
                   help="with several nodes: stop every node once they have recorded N events together")
    p.add_argument("--otlp", metavar="URL",
                   help="also stream the traced calls as OpenTelemetry spans to this OTLP/HTTP endpoint while "
                        "recording (e.g. http://127.0.0.1:4318; see `elixir-scope export --help`)")
    p.set_defaults(run=run)


async def run(args: argparse.Namespace, out: Output) -> int:
    from elixir_scope.instrument.limits import CaptureLimits
    from elixir_scope.instrument.session import SessionState, capture
    from elixir_scope.mcp_server.targets import capture_plan

    limits = CaptureLimits(max_events=args.max_events, max_seconds=args.max_seconds, max_rate=args.max_rate)
    args.attach_timeouts = attach_timeouts(config_from(args), args.setup_timeout)
    if args.cluster or len(node_names(args)) > 1:
        if args.otlp:
            raise CliError("--otlp streams the recording of one node while it records",
                           "record the nodes, then send the whole recording: elixir-scope export N --otlp URL")
        return await _run_cluster(args, out, limits)
    if args.max_events_total is not None:
        raise CliError("--max-events-total caps several nodes together",
                       "record several nodes (--node repeated, or --cluster), or use --max-events")
    if args.otlp:
        from elixir_scope.store.export import traces_url

        args.otlp = traces_url(args.otlp)  # a bad URL is refused before attaching
    otlp = None
    with opened_store(args, must_exist=False) as store:
        async with attached(args) as conn:
            plan = await capture_plan(conn, args.spec, state_of=args.state_of, messages_of=args.messages_of,
                                      lifecycle=args.lifecycle, checkpoint_ms=args.checkpoint_ms,
                                      force=args.force)
            name = args.name or ", ".join([*args.spec, *args.state_of, *args.messages_of]) or "lifecycle"
            note = plan.returns_note()
            if note:
                out.note(note)
            session = await capture(conn, store, name, plan, limits, timeouts=args.attach_timeouts)
            if args.otlp:
                from .export_stream import LiveOtlp

                otlp = LiveOtlp(store.recording(session.recording.id), args.otlp, out)
            if args.logs:
                from elixir_scope.instrument.introspect import forward_logs, start_log_ring

                # the ring lives while this command's mailbox does (until the command ends)
                await start_log_ring(conn, conn.node.mailbox().pid)
                await forward_logs(conn, session.agent)
            try:
                await _follow(session, limits, out, SessionState.RUNNING, otlp)
            except (KeyboardInterrupt, asyncio.CancelledError):
                out.note("stopping the capture ...")
                await asyncio.shield(session.stop())
            result = await session.wait(30)
            otlp_report = await otlp.finish() if otlp else None
    stats = result.stats
    summary = {"recording": result.recording_id, "node": result.node, "end_reason": result.end_reason,
               "events_stored": stats.stored, "dropped": stats.dropped, "detail": result.detail or None}
    if otlp_report is not None:
        summary["otlp"] = otlp_report
    if out.json_mode:
        out.emit_json(summary)
        return 0
    out.fields(f"Recording {result.recording_id}", [
        ("node", result.node), ("ended by", result.end_reason), ("events stored", str(stats.stored)),
        ("dropped (gaps)", str(stats.dropped)),
    ] + ([("detail", result.detail)] if result.detail else []) + (
        [("OpenTelemetry", f"{otlp_report['spans']} spans to {otlp_report['endpoint']}")] if otlp_report else []))
    out.line(f"next: elixir-scope query \"calls | count by function\" --recording {result.recording_id}")
    return 0


async def _run_cluster(args: argparse.Namespace, out: Output, limits) -> int:
    from elixir_scope.instrument.cluster import (
        ClusterError, ClusterLimits, capture_cluster, cluster_members, connect_nodes)
    from elixir_scope.instrument.dist import Node
    from elixir_scope.instrument.session import SessionState
    from elixir_scope.mcp_server.targets import capture_plan

    if args.logs:
        raise CliError("--logs records one node's log events", "record the logs of one node at a time")
    cookie = config_from(args).cookie
    names = node_names(args)
    local = Node()
    try:
        with opened_store(args, must_exist=False) as store:
            try:
                if args.cluster:
                    members = await cluster_members(local, names[0], cookie=cookie)
                    names = members + [n for n in names[1:] if n not in members]
                conns = await connect_nodes(local, names, cookie=cookie, timeout=args.timeout)
                plan = await capture_plan(conns, args.spec, state_of=args.state_of,
                                          messages_of=args.messages_of, lifecycle=args.lifecycle,
                                          checkpoint_ms=args.checkpoint_ms, force=args.force)
                name = args.name or ", ".join([*args.spec, *args.state_of, *args.messages_of]) or "lifecycle"
                cap = await capture_cluster(local, names, store, name, plan, cookie=cookie, limits=limits,
                                            cluster_limits=ClusterLimits(max_events=args.max_events_total),
                                            timeouts=args.attach_timeouts)
            except ClusterError as exc:
                raise CliError(str(exc), "check the node names (name@host), that the nodes run, "
                                         "and the cookie (--cookie-file or $ELIXIR_SCOPE_COOKIE)") from None
            try:
                await _follow(cap, limits, out, SessionState.RUNNING)
            except (KeyboardInterrupt, asyncio.CancelledError):
                out.note("stopping the capture on every node ...")
                await asyncio.shield(cap.stop())
            result = await cap.wait(30 + limits.grace_seconds)
    finally:
        await local.close()
    stats, parts = result.stats, result.extra["nodes"]
    summary = {"recording": result.recording_id, "nodes": parts, "end_reason": result.end_reason,
               "events_stored": stats.stored, "dropped": stats.dropped, "detail": result.detail or None}
    if out.json_mode:
        out.emit_json(summary)
        return 0
    out.fields(f"Recording {result.recording_id} ({len(parts)} nodes)", [
        ("ended by", result.end_reason), ("events stored", str(stats.stored)),
        ("dropped (gaps)", str(stats.dropped)),
    ] + ([("detail", result.detail)] if result.detail else []))
    out.table("Nodes", ["node", "ended by", "events"],
              [[n, v["end_reason"], str(v["stored"])] for n, v in parts.items()], right=("events",))
    out.line(f"next: elixir-scope query \"messages | count by node\" --recording {result.recording_id}")
    return 0


async def _follow(session, limits, out: Output, running, otlp=None) -> None:
    """A progress bar on stderr until the capture ends by a limit (or Ctrl-C); streams the
    spans closed so far to OTLP about once a second when asked."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    t0 = time.monotonic()
    with Progress(TextColumn("[bold]recording[/bold]"), BarColumn(), TextColumn("{task.description}"),
                  TimeElapsedColumn(), console=out.err, transient=True, disable=out.json_mode) as bar:
        task = bar.add_task("", total=limits.max_seconds)
        while session.state is running:
            elapsed = time.monotonic() - t0
            bar.update(task, completed=min(elapsed, limits.max_seconds),
                       description=f"{session.stored} events (limit {limits.max_events})")
            if otlp is not None:
                await otlp.tick()
            await session.ended(0.25)
