"""Resources: recordings (and diagnosis reports) as readable documents.

Tools are for asking questions; resources are for attaching a whole document to a
conversation ("here is recording 3"). Both read the same store through the server's state.
The SDK only injects the request context into *templated* resources, so every resource here
is a template keyed by id; the list of ids comes from the ``list_recordings`` tool.
"""

from __future__ import annotations

import json

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ResourceError

from .hints import describe
from .models import event_row, gap_row, process_label, recording_row
from .state import app_state

TIMELINE_EVENTS = 200


def register(server: MCPServer) -> None:
    @server.resource(
        "elixir-scope://recordings/{recording_id}",
        name="recording", title="Recording summary", mime_type="application/json",
    )
    async def recording_resource(recording_id: int, ctx: Context) -> str:
        """A recording's metadata, event counts by kind, gaps and processes (JSON)."""
        from elixir_scope.instrument.etf.syntax import printing

        from .syntax import recording_syntax

        state = app_state(ctx)
        try:
            rec = state.store().recording(recording_id)
            stats = rec.stats
            with printing(recording_syntax(state.config.syntax, rec)):
                labels = [process_label(p) for p in rec.processes()]
            doc = {
                "recording": recording_row(rec.info).model_dump(),
                "events_by_kind": stats.by_kind,
                "gaps": [gap_row(g).model_dump() for g in rec.gaps()],
                "nodes": [n.name for n in rec.nodes()],
                "processes": labels,
            }
        except Exception as exc:
            raise ResourceError(describe(exc).one_line()) from exc
        return json.dumps(doc, indent=2, ensure_ascii=False)

    @server.resource(
        "elixir-scope://recordings/{recording_id}/timeline",
        name="recording-timeline", title="Recording timeline", mime_type="text/plain",
    )
    async def timeline_resource(recording_id: int, ctx: Context) -> str:
        """The first events of a recording, one per line, terms in the recording's language."""
        from elixir_scope.instrument.etf.syntax import printing

        from .syntax import recording_syntax

        state = app_state(ctx)
        try:
            rec = state.store().recording(recording_id)
            events = rec.events(limit=TIMELINE_EVENTS)
        except Exception as exc:
            raise ResourceError(describe(exc).one_line()) from exc
        lines = []
        with printing(recording_syntax(state.config.syntax, rec)):
            rows = [event_row(ev, limit=10, printable_limit=120) for ev in events]
        for r in rows:
            fn = f" {r.function}" if r.function else ""
            other = f" -> {r.other}" if r.other else ""
            lines.append(f"#{r.id} {r.time or r.ts} {r.kind} {r.process}{fn}{other} {r.payload or ''}".rstrip())
        for g in events.gaps:
            lines.append(f"GAP {g.describe()}")
        if events.next_after_id is not None:
            lines.append(f"... more events: use the query tool on recording {recording_id}")
        return "\n".join(lines) + "\n"

    @server.resource(
        "elixir-scope://reports/{report_id}",
        name="diagnosis-report", title="Diagnosis report", mime_type="text/markdown",
    )
    async def report_resource(report_id: str, ctx: Context) -> str:
        """A diagnosis report of this session (from the diagnose tool), as Markdown."""
        report = app_state(ctx).reports.get(report_id)
        if report is None:
            raise ResourceError(f"no report {report_id!r} in this client session (reports belong to the session "
                                "that ran diagnose; the oldest are dropped after 100): run the diagnose tool first")
        from elixir_scope.agents.report import render_markdown
        from elixir_scope.instrument.etf.syntax import ELIXIR, printing

        from .syntax import recording_syntax

        state = app_state(ctx)
        rid = getattr(report, "recording_id", None)
        sx = recording_syntax(state.config.syntax, state.store().recording(rid)) if rid is not None else ELIXIR
        with printing(sx):
            return render_markdown(report)
