"""Capture tools: start, watch and stop recordings of what a node does.

The capture machinery is imported when a capture starts, not at server start-up.

Every capture is bounded (count, time and rate limits; DESIGN decision 4) and lands in the
trace store as a recording, whose id is also the capture's id. ``start_capture`` returns at
once by default; with ``wait=true`` it stays until the capture ends, reporting progress
(events stored, seconds elapsed) as it goes — and if the client cancels the call, the capture
is stopped cleanly (trace flags removed on the node, everything stored so far kept).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Annotated, Any

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import BaseModel, Field

from ..config import ServerConfig
from ..errors import tool_errors
from ..state import app_state
from ..targets import capture_plan
from .annotations import ADDITIVE, ADDITIVE_IDEMPOTENT, READ_ONLY_LOCAL
from .common import NodeArg

PROGRESS_EVERY = 0.5


@dataclass
class RunningCapture:
    """A capture this server started: the session plus what it was asked to do."""

    session: Any  # instrument.session.CaptureSession
    name: str
    spec: list[str]
    limits: Any  # instrument.limits.CaptureLimits
    started: float = field(default_factory=time.monotonic)
    ended_at: float | None = None
    result: Any = None

    @property
    def running(self) -> bool:
        from elixir_scope.instrument.session import SessionState

        return self.session.state is SessionState.RUNNING

    async def stop(self) -> Any:
        self.result = await self.session.stop()
        self.ended_at = self.ended_at or time.monotonic()
        return self.result

    async def refresh(self) -> "RunningCapture":
        """Pick up the result of a capture that ended by itself (a limit, the node lost)."""
        if not self.running and self.result is None:
            self.result = await self.session.wait(timeout=5.0)
            self.ended_at = self.ended_at or time.monotonic()
        return self


class NodePart(BaseModel):
    node: str
    events_stored: int
    end_reason: str | None = Field(default=None, description="How this node's part ended (node_down: it left).")


class CaptureStatus(BaseModel):
    capture_id: int = Field(description="Also the recording id in the trace store.")
    name: str
    node: str
    running: bool
    events_stored: int
    elapsed_seconds: float
    spec: list[str]
    limits: dict[str, int | float] = Field(description="max_events, max_seconds, max_rate.")
    end_reason: str | None = Field(default=None, description="stopped, max_events, max_seconds, max_rate, overload_*, node_down...")
    dropped: int | None = Field(default=None, description="Events the agent dropped (recorded as gaps).")
    detail: str | None = None
    warnings: list[str] = Field(default_factory=list, description="What to know about the request (e.g. return tracing of a loop).")
    nodes: list[NodePart] | None = Field(default=None, description="A multi-node capture: each node's part.")
    next_steps: str


class Captures(BaseModel):
    captures: list[CaptureStatus]


def status_of(cap: RunningCapture) -> CaptureStatus:
    s = cap.session
    end = (cap.ended_at or time.monotonic()) if not cap.running else time.monotonic()
    result = cap.result
    rid = s.recording.id
    parts = None
    if hasattr(s, "sessions"):  # instrument.cluster.ClusterCapture
        parts = [NodePart(node=p.conn.node_name, events_stored=p.stored,
                          end_reason=p.result.end_reason if p.result is not None else None)
                 for p in s.sessions]
    return CaptureStatus(
        capture_id=rid, name=cap.name, node=", ".join(getattr(s, "node_names", [s.conn.node_name])),
        running=cap.running, nodes=parts,
        events_stored=s.stored, elapsed_seconds=round(end - cap.started, 2), spec=cap.spec,
        limits={"max_events": cap.limits.max_events, "max_seconds": cap.limits.max_seconds,
                "max_rate": cap.limits.max_rate},
        end_reason=result.end_reason if result else None,
        dropped=result.stats.dropped if result else None, detail=(result.detail or None) if result else None,
        next_steps=(f"capture_status(capture_id={rid}) to watch it, stop_capture(capture_id={rid}) to end it"
                    if cap.running else
                    f"query(text='calls', recording={rid}), recording_summary(recording={rid}), state_evolution(...)"),
    )


def register(server: MCPServer, config: ServerConfig) -> None:
    @server.tool(annotations=ADDITIVE)
    @tool_errors
    async def start_capture(
        ctx: Context,
        spec: Annotated[list[str], Field(description="Calls to trace, e.g. ['SampleApp.Cart.add/3 :: return', 'SampleApp.Inventory'] (':: return' records return values; guards: 'M.f(x, n) when n > 100').")] = [],
        state_of: Annotated[list[str], Field(description="GenServer/gen_statem modules whose state history to record, e.g. ['SampleApp.Inventory'].")] = [],
        messages_of: Annotated[list[str], Field(description="Processes whose sent/received messages to record: registered names, pids, or modules (every process running it).")] = [],
        lifecycle: Annotated[bool, Field(description="Also record spawns, exits, links and registrations of all processes.")] = False,
        max_events: Annotated[int, Field(ge=1, le=1_000_000, description="Stop after this many events.")] = 10_000,
        max_seconds: Annotated[float, Field(gt=0, le=3600, description="Stop after this many seconds.")] = 30.0,
        max_rate: Annotated[int, Field(ge=1, le=1_000_000, description="Events per second kept; more are shed and counted as gaps.")] = 20_000,
        checkpoint_ms: Annotated[int, Field(ge=0, le=600_000, description="sys:get_state checkpoints of state_of processes every N ms (0: once at start).")] = 0,
        logs: Annotated[bool, Field(description="Also record the node's log events (Logger/logger) into the recording, as marks.")] = False,
        name: Annotated[str | None, Field(description="A name for the recording.")] = None,
        wait: Annotated[bool, Field(description="Wait for the capture to end (reports progress; cancelling the call stops the capture).")] = False,
        force: Annotated[bool, Field(description="Record a spec the safety rules refuse (a hot module like Enum with wildcard arguments). The limits still apply; only when the user asked for it.")] = False,
        node: NodeArg = None,
        nodes: Annotated[list[str], Field(max_length=32, description="Several nodes (name@host) into ONE recording, one agent per node; max_events is then per node.")] = [],
        cluster: Annotated[bool, Field(description="Record the node and every node connected to it (erlang:nodes() on it), into one recording.")] = False,
        max_events_total: Annotated[int | None, Field(ge=1, le=10_000_000, description="With several nodes: stop every node once they have recorded this many events together.")] = None,
    ) -> CaptureStatus:
        """Start recording what a node does — calls, messages, GenServer state, process
        lifecycle — into the trace store, within count/time/rate limits. Returns the capture
        id (= recording id) to query afterwards. `nodes` or `cluster` record several nodes of a
        cluster into one recording (messages matched across nodes)."""
        from elixir_scope.instrument.limits import CaptureLimits
        from elixir_scope.instrument.session import capture

        state = app_state(ctx)
        conn = await state.connection(node or (nodes[0] if nodes else None))
        limits = CaptureLimits(max_events=max_events, max_seconds=max_seconds, max_rate=max_rate)
        label = name or ", ".join([*spec, *state_of, *messages_of]) or "lifecycle"
        if nodes or cluster:
            if logs:
                raise ToolError("logs=true records one node's log events; start a one-node capture for logs")
            session = await _start_cluster(state, conn, list(nodes), cluster, max_events_total, label, limits,
                                           dict(spec=list(spec), state_of=list(state_of),
                                                messages_of=list(messages_of), lifecycle=lifecycle,
                                                checkpoint_ms=checkpoint_ms, force=force))
            cap = RunningCapture(session, label, [*spec, *(f"state of {m}" for m in state_of),
                                                  *(f"messages of {m}" for m in messages_of)], limits)
            state.captures[session.recording.id] = cap
            if wait:
                await _follow(ctx, cap)
            return status_of(await cap.refresh())
        if max_events_total is not None:
            raise ToolError("max_events_total caps several nodes together: give nodes=[...] or cluster=true")
        plan = await capture_plan(conn, list(spec), state_of=list(state_of), messages_of=list(messages_of),
                                  lifecycle=lifecycle, checkpoint_ms=checkpoint_ms, force=force)
        session = await capture(conn, state.store(), label, plan, limits, timeouts=attach_timeouts(state.config))
        if logs:
            from elixir_scope.instrument.introspect import forward_logs, start_log_ring

            from .live import log_owner

            await start_log_ring(conn, (await log_owner(state, conn)).pid)
            await forward_logs(conn, session.agent)
        cap = RunningCapture(session, label, [*spec, *(f"state of {m}" for m in state_of),
                                              *(f"messages of {m}" for m in messages_of)], limits)
        state.add_capture(session.recording.id, cap)
        if wait:
            await _follow(ctx, cap)
        note = plan.returns_note()
        return status_of(await cap.refresh()).model_copy(update={"warnings": [note] if note else []})

    @server.tool(annotations=READ_ONLY_LOCAL)
    @tool_errors
    async def capture_status(
        ctx: Context,
        capture_id: Annotated[int | None, Field(description="One capture; omit for every capture this client session started.")] = None,
    ) -> Captures:
        """Running and finished captures this client session started: events stored so far,
        elapsed time, and why each one ended (another session's captures are its own; every
        recording is in list_recordings)."""
        caps = app_state(ctx).captures
        if capture_id is not None:
            if capture_id not in caps:
                raise ToolError(f"no capture {capture_id} in this client session; capture_status() lists the "
                                "captures this session started (every recording: list_recordings)")
            return Captures(captures=[status_of(await caps[capture_id].refresh())])
        return Captures(captures=[status_of(await c.refresh()) for c in caps.values()])

    @server.tool(annotations=ADDITIVE_IDEMPOTENT)
    @tool_errors
    async def stop_capture(
        ctx: Context,
        capture_id: Annotated[int, Field(description="The capture to stop (from start_capture).")],
    ) -> CaptureStatus:
        """Stop a capture: trace flags come off the node, every batch in flight is stored, and
        the recording is finished. Stopping an ended capture just returns its status."""
        caps = app_state(ctx).captures
        if capture_id not in caps:
            raise ToolError(f"no capture {capture_id} in this client session (a session stops only the captures "
                            "it started); capture_status() lists them")
        await caps[capture_id].stop()
        return status_of(caps[capture_id])


def attach_timeouts(config: ServerConfig) -> Any:
    """The server's ``attach_timeouts``, or the defaults."""
    from elixir_scope.instrument.agent.attach import DEFAULT_TIMEOUTS

    return config.attach_timeouts or DEFAULT_TIMEOUTS


async def _start_cluster(state: Any, first: Any, nodes: list[str], cluster: bool, total: int | None,
                         label: str, limits: Any, request: dict) -> Any:
    """A multi-node capture (instrument/cluster.py): ``first`` and ``nodes`` (and with
    ``cluster`` every node connected to ``first``), with ``first``'s cookie."""
    from elixir_scope.instrument.cluster import (
        ClusterError, ClusterLimits, capture_cluster, cluster_members, connect_nodes)

    cookie = state.cookies.get(first.node_name) or state.config.cookie
    names = [first.node_name, *(n for n in nodes if n != first.node_name)]
    try:
        if cluster:
            members = await cluster_members(state.node, first.node_name, cookie=cookie)
            names = members + [n for n in names if n not in members]
        conns = await connect_nodes(state.node, names, cookie=cookie)
        plan = await capture_plan(conns, **request)
        return await capture_cluster(state.node, names, state.store(), label, plan, cookie=cookie,
                                     limits=limits, cluster_limits=ClusterLimits(max_events=total),
                                     timeouts=attach_timeouts(state.config))
    except ClusterError as exc:
        raise ToolError(f"{exc}. Check the node names (name@host), that each node runs, and that they "
                        "share the first node's cookie (connect_node with cookie=... first)") from None


async def _follow(ctx: Context, cap: RunningCapture) -> None:
    """Wait for ``cap`` to end, reporting progress; a cancelled call stops the capture."""
    import anyio

    limits = cap.limits
    try:
        while cap.running:
            elapsed = time.monotonic() - cap.started
            await ctx.report_progress(
                cap.session.stored, limits.max_events,
                f"{cap.session.stored} events stored, {elapsed:.1f}s of {limits.max_seconds:g}s")
            await cap.session.ended(PROGRESS_EVERY)
        await cap.refresh()
    except BaseException:
        with anyio.CancelScope(shield=True):
            await cap.stop()
        raise
