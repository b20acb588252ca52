"""Recording tools: list what the trace store holds, summarise one, export it to a file.

Exports are confined to ``<store folder>/exports/``: the model names a file, never a path,
so a tool call cannot write anywhere else on the machine (defense in depth).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import BaseModel, Field

from ..config import ServerConfig
from ..errors import tool_errors
from ..models import GapRow, NodeRow, RecordingRow, gap_row, node_row, recording_row
from ..state import app_state
from .annotations import ADDITIVE, READ_ONLY_LOCAL
from .common import CursorArg, Page, RecordingArg, latest_recording_id, page, parse_cursor

SAFE_FILE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,120}\Z")


class RecordingSummary(BaseModel):
    recording: RecordingRow
    events_by_kind: dict[str, int]
    gap_count: int
    gaps: list[GapRow] = Field(description="The first gaps (events dropped under load).")
    nodes: list[str]
    node_parts: list[NodeRow] = Field(default_factory=list, description="Each node: its end and clock estimate.")
    process_count: int
    agent_stats: dict[str, object]


class Exported(BaseModel):
    recording: int
    path: str
    bytes: int


def export_dir(config: ServerConfig) -> Path:
    return config.resolved_store_path.parent / "exports"


def register(server: MCPServer, config: ServerConfig) -> None:
    @server.tool(annotations=READ_ONLY_LOCAL)
    @tool_errors
    async def list_recordings(
        ctx: Context,
        limit: Annotated[int, Field(ge=1, le=200, description="Recordings per page (newest first).")] = 20,
        cursor: CursorArg = None,
    ) -> Page[RecordingRow]:
        """Recordings in the trace store, newest first: id, name, status, event and drop counts."""
        store = app_state(ctx).store()
        infos = list(reversed(store.recordings()))
        offset = parse_cursor(cursor)
        items = [recording_row(i) for i in infos[offset:offset + limit]]
        return Page[RecordingRow](**page(items, offset, limit, total=len(infos),
                                         call=f"list_recordings(limit={limit}, cursor='{{cursor}}')"))

    @server.tool(annotations=READ_ONLY_LOCAL)
    @tool_errors
    async def recording_summary(ctx: Context, recording: RecordingArg = None) -> RecordingSummary:
        """One recording at a glance: events by kind, gaps (dropped events), nodes, processes."""
        store = app_state(ctx).store()
        rec = store.recording(latest_recording_id(store, recording))
        stats = rec.stats
        return RecordingSummary(
            recording=recording_row(rec.info), events_by_kind=stats.by_kind, gap_count=stats.gap_count,
            gaps=[gap_row(g) for g in rec.gaps()[:20]], nodes=[n.name for n in rec.nodes()],
            node_parts=[node_row(n) for n in rec.nodes()], process_count=len(rec.processes()), agent_stats={str(k): v for k, v in stats.agent.items()},
        )

    @server.tool(annotations=ADDITIVE)
    @tool_errors
    async def export_recording(
        ctx: Context,
        recording: Annotated[int, Field(description="Recording id (from list_recordings).")],
        file_name: Annotated[
            str | None,
            Field(description="File name (no folders) inside the server's exports folder; default recording-<id>.esrec."),
        ] = None,
    ) -> Exported:
        """Export one recording to a standalone file (in the server's exports folder) that
        `elixir-scope import` can load elsewhere."""
        name = file_name or f"recording-{recording}.esrec"
        if not SAFE_FILE.match(name) or ".." in name:
            raise ToolError(
                f"invalid file name {name!r}: use letters, digits, '.', '_' or '-' only, no folders "
                "(the file is always written to the server's exports folder)"
            )
        store = app_state(ctx).store()
        folder = export_dir(app_state(ctx).config)
        folder.mkdir(parents=True, exist_ok=True)
        path = store.export_recording(recording, folder / name)
        return Exported(recording=recording, path=str(path), bytes=path.stat().st_size)
