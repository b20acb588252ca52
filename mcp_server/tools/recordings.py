"""Recording tools: list what the trace store holds, summarise one, export it to a file,
to Parquet files or to an OpenTelemetry (OTLP/HTTP) endpoint.

Exports are confined to ``<store folder>/exports/``: the model names a file, never a path,
so a tool call cannot write anywhere else on the machine (defense in depth). OTLP exports go
to loopback endpoints only, unless the operator lists others (``ELIXIR_SCOPE_OTLP_ENDPOINTS``):
a model cannot send a recording off the machine on its own.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import BaseModel, Field

from ..config import ServerConfig
from ..errors import tool_errors
from ..models import GapRow, NodeRow, RecordingRow, gap_row, node_row, process_label, recording_row
from ..state import app_state
from .annotations import ADDITIVE, READ_ONLY_LOCAL
from .common import CursorArg, Page, RecordingArg, in_thread, latest_recording_id, page, parse_cursor

NAMED_MAX = 50
SAFE_FILE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,120}\Z")


class RecordingSummary(BaseModel):
    recording: RecordingRow
    events_by_kind: dict[str, int]
    gap_count: int
    gaps: list[GapRow] = Field(description="The first gaps (events dropped under load).")
    nodes: list[str]
    node_parts: list[NodeRow] = Field(default_factory=list, description="Each node: its end and clock estimate.")
    process_count: int
    named_processes: list[str] = Field(default_factory=list, description=(
        "Processes with a registered name or an app name (process label, process_name, Elixir "
        f"Registry name), first {NAMED_MAX}: '<0.150.0> [via {{MyApp.Registry, \"user-42\"}}]'."))
    agent_stats: dict[str, object]


class Exported(BaseModel):
    recording: int
    path: str = Field(description="The file or Parquet folder written, or the OTLP URL sent to.")
    bytes: int = Field(description="Bytes written (or sent, for OTLP).")
    to: str = "file"
    spans: int | None = Field(default=None, description="OTLP: spans sent (one per traced call).")
    links: int | None = Field(default=None, description="OTLP: message links (receiving call -> sending call).")
    rejected_spans: int | None = Field(default=None, description="OTLP: spans the collector rejected.")
    rows: dict[str, int] | None = Field(default=None, description="Parquet: rows per table file.")


def otlp_allowed(url: str, config: ServerConfig) -> bool:
    """Loopback endpoints, and the ones the operator listed."""
    from elixir_scope.store.export import is_loopback, traces_url

    return is_loopback(url) or url in {traces_url(u) for u in config.otlp_endpoints}


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
        from elixir_scope.instrument.etf.syntax import printing

        from ..syntax import recording_syntax

        state = app_state(ctx)
        store = state.store()
        rec = store.recording(latest_recording_id(store, recording))
        stats = rec.stats
        procs = rec.processes()
        with printing(recording_syntax(state.config.syntax, rec)):
            named = [process_label(p) for p in procs if p.reg_name or p.app_names][:NAMED_MAX]
        return RecordingSummary(
            recording=recording_row(rec.info), events_by_kind=stats.by_kind, gap_count=stats.gap_count,
            gaps=[gap_row(g) for g in rec.gaps()[:20]], nodes=[n.name for n in rec.nodes()],
            node_parts=[node_row(n) for n in rec.nodes()], process_count=len(procs), named_processes=named,
            agent_stats={str(k): v for k, v in stats.agent.items()},
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
        to: Annotated[Literal["file", "parquet", "otlp"], Field(
            description="file: one recording file for `elixir-scope import`; parquet: a folder of Parquet "
                        "files (events, calls, messages, states ...) for DuckDB/ClickHouse, named by file_name; "
                        "otlp: OpenTelemetry spans sent to otlp_endpoint.")] = "file",
        otlp_endpoint: Annotated[str | None, Field(
            description="OTLP/HTTP endpoint for to='otlp', e.g. http://127.0.0.1:4318 (loopback only, "
                        "unless the server allows more).")] = None,
    ) -> Exported:
        """Export one recording: to a standalone file (in the server's exports folder) that
        `elixir-scope import` can load elsewhere, to Parquet files there, or to an OpenTelemetry
        collector as spans (one per traced call, parents from the call stack, messages as links)."""
        from elixir_scope.store.export import export_otlp, export_parquet, traces_url

        state = app_state(ctx)
        if to == "otlp":
            if not otlp_endpoint:
                raise ToolError("to='otlp' needs otlp_endpoint, e.g. http://127.0.0.1:4318")
            url = traces_url(otlp_endpoint)
            if not otlp_allowed(url, state.config):
                raise ToolError(f"{url} is not on this machine: this server sends recordings to loopback OTLP "
                                "endpoints only; its operator can allow more with ELIXIR_SCOPE_OTLP_ENDPOINTS")
            rec = state.store().recording(recording)
            report = await in_thread(export_otlp, rec, url)
            return Exported(recording=recording, path=report.endpoint, bytes=report.bytes_sent, to="otlp",
                            spans=report.spans, links=report.links, rejected_spans=report.rejected_spans)
        if otlp_endpoint:
            raise ToolError(f"otlp_endpoint is only for to='otlp' (to is {to!r})")
        name = file_name or (f"recording-{recording}.esrec" if to == "file" else f"recording-{recording}-parquet")
        if not SAFE_FILE.match(name) or ".." in name:
            raise ToolError(
                f"invalid file name {name!r}: use letters, digits, '.', '_' or '-' only, no folders "
                "(the file is always written to the server's exports folder)"
            )
        store = state.store()
        folder = export_dir(state.config)
        folder.mkdir(parents=True, exist_ok=True)
        if to == "parquet":
            rep = await in_thread(export_parquet, store.recording(recording), folder / name)
            return Exported(recording=recording, path=rep.directory, bytes=rep.bytes_written, to="parquet",
                            rows=rep.rows)
        path = store.export_recording(recording, folder / name)
        return Exported(recording=recording, path=str(path), bytes=path.stat().st_size)
