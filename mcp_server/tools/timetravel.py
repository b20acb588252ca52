"""Time-travel tools over a recording: a process's state at any moment and how it evolved,
the whole system at a moment, a process's call timeline, message flows, stepping, and
causal past/future (what could have caused an event; what it could have affected).

The store's time-travel modules are imported inside the tools (first use), not at start-up:
``tools/list`` must answer fast.

A *moment* is given as ``at_event`` (just after that event) or ``at_ts`` (node monotonic
time, the ``ts`` every event shows); with neither, the end of the recording.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import BaseModel, Field

from ..config import ServerConfig
from ..errors import tool_errors
from ..history_models import (
    CausalModel,
    EvolutionModel,
    FlowModel,
    SnapshotModel,
    StateAtModel,
    TimelineModel,
    call_models,
    causal_model,
    message_model,
    resolve_moment,
    snapshot_process,
    state_at_model,
    transition_model,
    tree_text,
)
from ..models import EventRow, event_row, gap_row, process_label, since_start
from .annotations import READ_ONLY_LOCAL
from ..process_pick import pick_process
from .common import CursorArg, RecordingArg, on_recording, parse_cursor

ProcessRefArg = Annotated[str, Field(description="Process as recorded: pid text (<0.123.0>), registered name (SampleApp.Inventory) or the Registry via-name it held ({:via, Registry, {MyApp.Registry, \"user-42\"}}).")]
AtEvent = Annotated[int | None, Field(description="Moment: just after this event id.")]
AtTs = Annotated[int | None, Field(description="Moment: this node monotonic time (the ts events show).")]
SinceTs = Annotated[int | None, Field(description="Window start (node monotonic ts); omit for the recording start.")]
UntilTs = Annotated[int | None, Field(description="Window end (node monotonic ts); omit for the recording end.")]
EventId = Annotated[int, Field(description="Event id (from query results or other tools).")]
CausalLimit = Annotated[int, Field(ge=1, le=500, description="Events per page.")]


class StepResult(BaseModel):
    event: EventRow | None = Field(description="The next/previous event; null at the end of the recording.")
    context: list[EventRow] = Field(description="A few events around it in its process.")


def register(server: MCPServer, config: ServerConfig) -> None:
    @server.tool(annotations=READ_ONLY_LOCAL)
    @tool_errors
    async def state_at(ctx: Context, process: ProcessRefArg, recording: RecordingArg = None,
                       at_event: AtEvent = None, at_ts: AtTs = None) -> StateAtModel:
        """The exact state of a GenServer/gen_statem process at a moment of a recording (needs a
        capture that traced its callbacks), with the state event it comes from."""
        from elixir_scope.store import timetravel

        def run(rec: Any) -> StateAtModel:
            found = timetravel.state_at(rec, pick_process(rec, process), resolve_moment(rec, at_event, at_ts))
            if found is None:
                raise ToolError(f"no state of {process} was recorded at or before that moment in recording "
                                f"{rec.id}: capture its module's callbacks (start_capture with the module as spec)")
            return state_at_model(found)
        return await on_recording(ctx, recording, run)

    @server.tool(annotations=READ_ONLY_LOCAL)
    @tool_errors
    async def state_evolution(ctx: Context, process: ProcessRefArg, recording: RecordingArg = None,
                              since_ts: SinceTs = None, until_ts: UntilTs = None,
                              limit: Annotated[int, Field(ge=1, le=100, description="Transitions per page.")] = 20,
                              cursor: CursorArg = None) -> EvolutionModel:
        """How a process's state changed over time: each transition with its structural changes
        and the message/request that caused it."""
        from elixir_scope.store import timetravel

        def run(rec: Any) -> EvolutionModel:
            after = parse_cursor(cursor) if cursor else None
            evo = timetravel.state_evolution(rec, pick_process(rec, process), since_ts, until_ts, limit=limit, after_state=after)
            nxt = str(evo.next_after_state) if evo.next_after_state is not None else None
            return EvolutionModel(
                process=process_label(evo.process), transitions=[transition_model(t) for t in evo.transitions],
                gaps=[gap_row(g) for g in evo.gaps], next_cursor=nxt,
                hint=(f"state_evolution(process={process!r}, recording={rec.id}, cursor='{nxt}') returns the next page"
                      if nxt else None))
        return await on_recording(ctx, recording, run)

    @server.tool(annotations=READ_ONLY_LOCAL)
    @tool_errors
    async def system_snapshot(ctx: Context, recording: RecordingArg = None, at_event: AtEvent = None,
                              at_ts: AtTs = None,
                              limit: Annotated[int, Field(ge=1, le=200, description="Processes per page.")] = 50,
                              cursor: CursorArg = None) -> SnapshotModel:
        """The whole recorded system at one moment: which processes were alive, their state,
        whether they were inside a call, their mailbox, and the spawn/supervision tree."""
        from elixir_scope.store import snapshot

        def run(rec: Any) -> SnapshotModel:
            snap = snapshot.system_snapshot_at(rec, resolve_moment(rec, at_event, at_ts))
            offset = parse_cursor(cursor)
            procs = snap.processes[offset:offset + limit]
            more = offset + len(procs) < len(snap.processes)
            nxt = str(offset + len(procs)) if more else None
            node = rec.context.nodes.get(snap.node_id)
            return SnapshotModel(
                ts=snap.ts, at=since_start(snap.ts, node), node=node.name if node else None,
                process_count=len(snap.processes),
                processes=[snapshot_process(p) for p in procs], tree=tree_text(snap.tree),
                gaps=[gap_row(g) for g in snap.gaps[:20]], next_cursor=nxt,
                hint=f"system_snapshot(recording={rec.id}, at_ts={snap.ts}, cursor='{nxt}') returns the next page" if nxt else None)
        return await on_recording(ctx, recording, run)

    @server.tool(annotations=READ_ONLY_LOCAL)
    @tool_errors
    async def process_timeline(ctx: Context, process: ProcessRefArg, recording: RecordingArg = None,
                               since_ts: SinceTs = None, until_ts: UntilTs = None,
                               max_calls: Annotated[int, Field(ge=1, le=500, description="Calls per page.")] = 30,
                               cursor: CursorArg = None) -> TimelineModel:
        """A process's call tree over time: each traced call with its arguments, result or
        exception, and duration, depth-first, a page at a time."""
        from elixir_scope.store.timeline import process_timeline

        offset = parse_cursor(cursor)

        def run(rec: Any) -> TimelineModel:
            tl = process_timeline(rec, pick_process(rec, process), since_ts, until_ts)
            calls, more = call_models(tl.roots, max_calls, offset)
            nxt = str(offset + len(calls)) if more else None
            return TimelineModel(process=process_label(tl.process), calls=calls, truncated=tl.truncated,
                                 gaps=[gap_row(g) for g in tl.gaps], next_cursor=nxt,
                                 hint=f"process_timeline(process={process!r}, cursor='{nxt}') returns the next calls"
                                 if nxt else None)
        return await on_recording(ctx, recording, run)

    @server.tool(annotations=READ_ONLY_LOCAL)
    @tool_errors
    async def message_flow(ctx: Context, recording: RecordingArg = None,
                           processes: Annotated[list[str] | None, Field(description="Only messages sent or received by these processes (pid text or names).")] = None,
                           since_ts: SinceTs = None, until_ts: UntilTs = None,
                           limit: Annotated[int, Field(ge=1, le=200, description="Messages per page.")] = 50,
                           cursor: CursorArg = None) -> FlowModel:
        """Messages between processes in send order (sequence-diagram data): sender, receiver,
        message, and when it was received (null: never received)."""
        from elixir_scope.store import flows

        def run(rec: Any) -> FlowModel:
            after = parse_cursor(cursor) if cursor else None
            fl = flows.message_flow(rec, since_ts, until_ts, processes=processes, limit=limit, after_id=after)
            nxt = str(fl.next_after_id) if fl.next_after_id is not None else None
            return FlowModel(messages=[message_model(m) for m in fl.messages], gaps=[gap_row(g) for g in fl.gaps],
                             next_cursor=nxt,
                             hint=f"message_flow(recording={rec.id}, cursor='{nxt}') with the same filters returns the next page" if nxt else None)
        return await on_recording(ctx, recording, run)

    @server.tool(annotations=READ_ONLY_LOCAL)
    @tool_errors
    async def step_event(ctx: Context, event_id: EventId, recording: RecordingArg = None,
                         direction: Annotated[Literal["next", "previous"], Field(description="Which way to step.")] = "next",
                         scope: Annotated[Literal["recording", "process", "module", "causal"], Field(description="recording: next event on the node; process: same process; module: same module's calls; causal: along send→receive.")] = "recording") -> StepResult:
        """Step from an event to the next/previous one, like a debugger stepping through a recording."""
        from elixir_scope.store import stepping

        def run(rec: Any) -> StepResult:
            found = stepping.step(rec, rec.event(event_id), 1 if direction == "next" else -1, scope)
            if found is None:
                return StepResult(event=None, context=[])
            around = stepping.events_around(rec, found, before=2, after=2)
            return StepResult(event=event_row(found), context=[event_row(e, limit=8, printable_limit=120) for e in around])
        return await on_recording(ctx, recording, run)

    @server.tool(annotations=READ_ONLY_LOCAL)
    @tool_errors
    async def causal_past(ctx: Context, event_id: EventId, recording: RecordingArg = None,
                          limit: CausalLimit = 50, cursor: CursorArg = None) -> CausalModel:
        """Events that happen-before an event — what could have caused it — most recent first,
        across processes (ordered by send→receive, not by wall clocks)."""
        from elixir_scope.store.causal import causal_past as walk

        return await on_recording(ctx, recording, lambda rec: _causal(rec, walk, event_id, limit, cursor))

    @server.tool(annotations=READ_ONLY_LOCAL)
    @tool_errors
    async def causal_future(ctx: Context, event_id: EventId, recording: RecordingArg = None,
                            limit: CausalLimit = 50, cursor: CursorArg = None) -> CausalModel:
        """Events an event happens-before — what it could have affected — earliest first,
        across processes."""
        from elixir_scope.store.causal import causal_future as walk

        return await on_recording(ctx, recording, lambda rec: _causal(rec, walk, event_id, limit, cursor))


def _causal(rec: Any, walk: Any, event_id: int, limit: int, cursor: str | None) -> CausalModel:
    page = walk(rec, rec.event(event_id), limit=limit, cursor=parse_cursor(cursor) if cursor else None)
    return causal_model(page, f"{walk.__name__}(event_id={event_id}, recording={rec.id}, cursor='{{cursor}}')")
