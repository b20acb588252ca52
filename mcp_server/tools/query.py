"""The query tool: the ElixirScope query language over a recording, paged.

The language (docs/query-language.md) is one line that people and models both write::

    calls SampleApp.Cart.add/3 where arg[1] > 100 last 30s
    exceptions | count by function
    calls SampleApp.Inventory.* | stats p50(duration), p99(duration) by function
    sequence call SampleApp.Cart.add then exception within 500ms same process
    calls without return
    sends never received

A wrong query comes back as a tool error with the position, a caret under the problem and a
suggested fix, so the model can correct it in one more call.
"""

from __future__ import annotations

from typing import Annotated, Any

from mcp.server.mcpserver import Context, MCPServer
from pydantic import BaseModel, Field

from ..config import ServerConfig
from ..errors import tool_errors
from ..state import app_state
from .annotations import READ_ONLY_LOCAL
from elixir_scope.instrument.etf.visible import visible

from .common import RecordingArg, in_thread, term_text

PAYLOAD_CHARS = 600
# A query from a model is bounded: its text, and the wall-clock time one call may take (the
# store's own row budget, QueryLimits.max_rows, applies as everywhere).
QUERY_MAX_CHARS = 2_000
QUERY_SECONDS = 20.0

EXAMPLES = [
    "calls SampleApp.Cart.add/3",
    "calls SampleApp.Cart.add/3 where arg[1] > 100 last 30s",
    "exceptions | count by function",
    "calls SampleApp.Inventory.* | stats p50(duration), p99(duration) by function",
    "sequence call SampleApp.Cart.add then exception within 500ms same process",
    "calls without return",
    "sends never received",
    "states of SampleApp.Inventory",
    "receives where name = SampleApp.Ticker | limit 10",
]


class QueryPage(BaseModel):
    """One page of a query's answer."""

    query: str
    recording: int
    shape: str = Field(description="events, matches (sequence), absences (without/never), or groups (aggregations).")
    columns: list[str]
    items: list[dict[str, Any]]
    crosses_gaps: bool = Field(description="Events were dropped inside the examined window: absences or low counts may be artefacts.")
    gaps: str
    total_estimate: int | None = None
    total_is_exact: bool = False
    notes: list[str] = []
    next_cursor: str | None = None
    hint: str | None = None


class QueryHelp(BaseModel):
    examples: list[str]
    sources: list[str] = Field(description="Words that select events (singular or plural).")
    fields: list[str]
    group_keys: list[str]
    aggregations: list[str]
    grammar: str


def _bounded(item: dict[str, Any]) -> dict[str, Any]:
    """Long texts cut, and control characters (terminal escapes in a process or function
    name chosen by the traced application) shown as escapes."""
    out = {}
    for k, v in item.items():
        if isinstance(v, str):
            v = visible(v[:PAYLOAD_CHARS] + f"… ({len(v)} chars)" if len(v) > PAYLOAD_CHARS else v)
        elif isinstance(v, dict):
            v = _bounded(v)
        elif isinstance(v, list):
            v = [_bounded(x) if isinstance(x, dict) else x for x in v]
        out[k] = v
    return out


def _payload(event_row: Any) -> str:
    try:
        return term_text(event_row.event.payload, limit=20, printable_limit=PAYLOAD_CHARS)
    except Exception as exc:  # a damaged payload must not hide the rest of the row
        return f"«undecodable payload: {exc}»"


def _item(row: Any) -> dict[str, Any]:
    """One result row as JSON, payloads as bounded Elixir text (rendered once, at the bound)."""
    d = row.as_dict(payloads=False)
    if hasattr(row, "steps"):  # a sequence match
        for step, out in zip(row.steps, d["steps"]):
            out["payload"] = _payload(step)
    elif hasattr(row, "missing"):  # an absence: the event that got no follower
        d["payload"] = _payload(row.event)
    elif hasattr(row, "event"):
        d["payload"] = _payload(row)
    return _bounded(d)


def query_page(result: Any, limit: int) -> QueryPage:
    d = result.as_dict(payloads=False)
    rows = result.groups if result.shape == "groups" else result.rows
    nxt = d["next_cursor"]
    return QueryPage(
        query=d["query"], recording=d["recording_id"], shape=d["shape"], columns=d["columns"],
        items=[_item(r) for r in rows], crosses_gaps=d["crosses_gaps"], gaps=d["gaps"],
        total_estimate=d["total_estimate"], total_is_exact=d["total_is_exact"], notes=d["notes"],
        next_cursor=nxt,
        hint=(f"query(text={d['query']!r}, recording={d['recording_id']}, limit={limit}, cursor={nxt!r}) "
              "returns the next page" if nxt else None),
    )


def register(server: MCPServer, config: ServerConfig) -> None:
    @server.tool(annotations=READ_ONLY_LOCAL)
    @tool_errors
    async def query(
        ctx: Context,
        text: Annotated[str, Field(min_length=1, max_length=QUERY_MAX_CHARS, description="A query in the ElixirScope query language, e.g. 'exceptions | count by function' (see query_help). At most 2000 characters; one call may run 20 s.")],
        recording: RecordingArg = None,
        limit: Annotated[int, Field(ge=1, le=200, description="Rows per page.")] = 50,
        cursor: Annotated[str | None, Field(description="next_cursor of the previous page of the SAME query text.")] = None,
    ) -> QueryPage:
        """Ask a recording a question in the query language: filter events, find sequences and
        missing replies, count and take percentiles. Results say whether dropped events (gaps)
        could affect the answer."""
        from elixir_scope.store.query import QueryLimits, run_query  # imported on first use: start-up stays fast

        from elixir_scope.instrument.etf.syntax import ELIXIR, printing

        from ..syntax import recording_syntax

        state = app_state(ctx)

        def run() -> QueryPage:
            store = state.store()
            target = store.recording(recording) if recording is not None else store
            infos = store.recordings() if recording is None else None
            shown = target if recording is not None else store.recording(infos[-1].id) if infos else None
            sx = recording_syntax(state.config.syntax, shown) if shown is not None else ELIXIR
            with printing(sx):  # rows in the recording's language (mcp_server.syntax)
                return query_page(run_query(target, text, limit=limit, cursor=cursor,
                                            limits=QueryLimits(max_seconds=QUERY_SECONDS)), limit)
        return await in_thread(run)

    @server.tool(annotations=READ_ONLY_LOCAL)
    @tool_errors
    async def query_help(ctx: Context) -> QueryHelp:
        """The query language at a glance: example queries and every word it knows."""
        from elixir_scope.store import query as query_pkg
        from elixir_scope.store.query import vocab

        return QueryHelp(
            examples=EXAMPLES, sources=sorted(vocab.KIND_WORDS), fields=list(vocab.FIELDS),
            group_keys=list(vocab.GROUP_KEYS), aggregations=list(vocab.AGG_FUNCS),
            grammar=(query_pkg.__doc__ or "").strip(),
        )
