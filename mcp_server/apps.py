"""MCP Apps: three tools whose results hosts that render UI show as pictures next to the
answer — a recording's timeline, a sequence diagram of messages, the supervision tree at a
moment. The pictures are built by ``elixir_scope.ui.pictures`` (the web UI's code); the HTML
that draws them is ``ui/static/mcp_app.html``, served as the ``ui://`` resource below. Hosts
without Apps get the same data as JSON text (the tools degrade to plain structured results).
"""

from __future__ import annotations

from typing import Annotated, Any

from mcp.server.apps import Apps
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import BaseModel, ConfigDict, Field

from .state import app_state
from .tools.annotations import READ_ONLY_LOCAL
from .tools.common import in_thread, latest_recording_id

PICTURE_URI = "ui://elixir-scope/picture.html"

RecordingArg = Annotated[int | None, Field(description="Recording id (list_recordings); omit for the latest.")]
SinceTs = Annotated[int | None, Field(description="Window start (node monotonic ts); omit for the recording start.")]
UntilTs = Annotated[int | None, Field(description="Window end (node monotonic ts); omit for the recording end.")]


class Picture(BaseModel):
    """What the picture shows (``timeline``, ``sequence`` or ``tree``), its title, and its data
    (the shapes of ``elixir_scope.ui.pictures``)."""

    model_config = ConfigDict(extra="allow")
    picture: str
    title: str


def _html() -> str:
    """The app page, read from the installed ``elixir_scope.ui`` package without importing it
    (building the server must stay fast)."""
    from importlib.util import find_spec
    from pathlib import Path

    spec = find_spec("elixir_scope.ui")
    return (Path(spec.origin).parent / "static" / "mcp_app.html").read_text(encoding="utf-8")


def build_apps() -> Apps:
    apps = Apps()
    apps.add_html_resource(PICTURE_URI, _html(), name="elixir-scope picture",
                           title="ElixirScope picture",
                           description="Draws a timeline, sequence diagram or supervision tree tool result.")

    def recording(ctx: Context, rid: int | None) -> Any:
        store = app_state(ctx).store()
        return store.recording(latest_recording_id(store, rid))

    @apps.tool(resource_uri=PICTURE_URI, name="show_timeline", annotations=READ_ONLY_LOCAL,
               description="Picture of a recording's timeline: event density of the 20 busiest processes "
               "over time, with gaps where events were dropped.")
    async def show_timeline(ctx: Context, recording_id: RecordingArg = None, since_ts: SinceTs = None,
                            until_ts: UntilTs = None) -> Picture:
        from elixir_scope.ui.pictures import timeline_picture

        rec = recording(ctx, recording_id)
        try:
            return Picture(**await in_thread(timeline_picture, rec, since_ts, until_ts))
        except ValueError as exc:
            raise ToolError(str(exc)) from exc

    @apps.tool(resource_uri=PICTURE_URI, name="show_sequence_diagram", annotations=READ_ONLY_LOCAL,
               description="Picture of the messages between processes (a sequence diagram, first 80 of the "
               "window): GenServer calls, casts and replies by their request; unreceived ones dashed.")
    async def show_sequence_diagram(
            ctx: Context, recording_id: RecordingArg = None,
            processes: Annotated[list[str] | None, Field(
                description="Pid texts or registered names; omit for every process.", max_length=20)] = None,
            since_ts: SinceTs = None, until_ts: UntilTs = None) -> Picture:
        from elixir_scope.store import RecordingNotFound
        from elixir_scope.ui.pictures import sequence_picture

        rec = recording(ctx, recording_id)
        for p in processes or []:
            if not rec.resolve_processes(p):
                raise ToolError(f"no process {p!r} in recording {rec.id}: use a pid text or a registered name")
        try:
            return Picture(**await in_thread(sequence_picture, rec, processes, since_ts, until_ts))
        except RecordingNotFound as exc:
            raise ToolError(str(exc)) from exc

    @apps.tool(resource_uri=PICTURE_URI, name="show_supervision_tree", annotations=READ_ONLY_LOCAL,
               description="Picture of the supervision tree as it was at a moment of a recording (spawn "
               "parentage and links); by default at the end.")
    async def show_supervision_tree(
            ctx: Context, recording_id: RecordingArg = None,
            at_event: Annotated[int | None, Field(description="Moment: just after this event id.")] = None) -> Picture:
        from elixir_scope.store import RecordingNotFound
        from elixir_scope.store.density import time_bounds
        from elixir_scope.ui.pictures import tree_picture

        rec = recording(ctx, recording_id)
        try:
            at = rec.event(at_event) if at_event is not None else (time_bounds(rec) or (0, 0))[1]
        except RecordingNotFound as exc:
            raise ToolError(str(exc)) from exc
        return Picture(**await in_thread(tree_picture, rec, at))

    return apps
