"""``elixir-scope record``: capture what a node does into the trace store, with a progress bar.

Always bounded (count, time and rate limits, as every capture). Ctrl-C stops the capture
cleanly: trace flags come off the node and everything received so far is stored.
"""

from __future__ import annotations

import argparse
import asyncio
import time

from ..render import Output
from ..session import attached, opened_store

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
    p.add_argument("--name", help="a name for the recording")
    p.add_argument("--force", action="store_true",
                   help="record a spec the safety rules refuse (a hot module such as Enum or :ets with "
                        "wildcard arguments, or every module); on OTP < 27 also take over from another "
                        "tracer. The limits still apply. Never allowed: tracing the agent itself")
    p.add_argument("--logs", action="store_true", help="also record the node's log events (as marks in the recording)")
    p.add_argument("--otlp", metavar="URL",
                   help="also stream the traced calls as OpenTelemetry spans to this OTLP/HTTP endpoint while "
                        "recording (e.g. http://127.0.0.1:4318; see `elixir-scope export --help`)")
    p.set_defaults(run=run)


async def run(args: argparse.Namespace, out: Output) -> int:
    from elixir_scope.instrument.limits import CaptureLimits
    from elixir_scope.instrument.session import SessionState, capture
    from elixir_scope.mcp_server.targets import capture_plan

    limits = CaptureLimits(max_events=args.max_events, max_seconds=args.max_seconds, max_rate=args.max_rate)
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
            session = await capture(conn, store, name, plan, limits)
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
            try:
                await session.wait(timeout=0.25)
            except asyncio.TimeoutError:
                pass
