"""What every tool module shares: paging that tells the model how to continue, terms as
text, and store work in a worker thread - for one recording, in its language (``on_recording``).

Paging: a listing tool returns at most ``limit`` items and, when there are more, a
``next_cursor`` plus a ``hint`` sentence naming the exact call that gets the next page. A
cursor is an opaque string to the model; here it is the offset, validated on the way in.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Generic, TypeVar

from mcp.server.mcpserver.exceptions import ToolError
from pydantic import BaseModel, Field

from ..models import term_text

__all__ = ["NodeArg", "CursorArg", "RecordingArg", "Page", "page", "parse_cursor", "term_text",
           "in_thread", "on_recording", "latest_recording_id"]

T = TypeVar("T")
R = TypeVar("R")

NodeArg = Annotated[
    str | None,
    Field(description="Target node as name@host. Omit to use the node connected last."),
]
CursorArg = Annotated[
    str | None,
    Field(description="Paging cursor: pass the next_cursor of the previous result to get the next page."),
]


RecordingArg = Annotated[
    int | None,
    Field(description="Recording id (from list_recordings). Omit to use the most recent recording."),
]


class Page(BaseModel, Generic[T]):
    """One page of a listing; ``next_cursor`` is set when more items exist."""

    items: list[T]
    total: int | None = Field(default=None, description="How many items exist in all, when known.")
    next_cursor: str | None = Field(default=None, description="Pass as cursor= to get the next page.")
    hint: str | None = Field(default=None, description="How to get more, when there is more.")


def parse_cursor(cursor: str | None) -> int:
    if cursor in (None, ""):
        return 0
    try:
        offset = int(cursor)
    except ValueError:
        offset = -1
    if offset < 0:
        raise ToolError(f"invalid cursor {cursor!r}: pass the next_cursor value from the previous page unchanged")
    return offset


def page(items: list[T], offset: int, limit: int, *, total: int | None, call: str) -> dict[str, Any]:
    """Fields for a ``Page``: ``items`` is already the slice at ``offset``; ``call`` is how the
    model repeats the request (``"list_processes(sort_by='memory', cursor='{cursor}')"``)."""
    more = total is not None and offset + len(items) < total or (total is None and len(items) == limit)
    nxt = str(offset + len(items)) if more and items else None
    return {
        "items": items,
        "total": total,
        "next_cursor": nxt,
        "hint": call.format(cursor=nxt) + " returns the next page" if nxt else None,
    }


def latest_recording_id(store: Any, recording: int | None) -> int:
    """``recording`` if given, else the newest recording's id (clear error when there is none)."""
    if recording is not None:
        return recording
    infos = store.recordings()
    if not infos:
        raise ToolError("the trace store has no recordings yet: record one with start_capture first")
    return infos[-1].id


async def on_recording(ctx: Any, recording: int | None, fn: Callable[[Any], R]) -> R:
    """``fn(rec)`` in a worker thread (``in_thread``) for the recording ``recording`` (default:
    the newest), printing in that recording's language (``mcp_server.syntax``): every term,
    registered name and MFA ``fn`` renders follows it."""
    from elixir_scope.instrument.etf.syntax import printing

    from ..state import app_state
    from ..syntax import recording_syntax

    state = app_state(ctx)

    def run() -> R:
        store = state.store()
        rec = store.recording(latest_recording_id(store, recording))
        with printing(recording_syntax(state.config.syntax, rec)):
            return fn(rec)
    return await in_thread(run)


async def in_thread(fn: Callable[..., R], *args: Any, **kwargs: Any) -> R:
    """Run blocking store work off the event loop (the store's connection is thread-safe),
    so a long query never stalls other requests or a capture's progress reports."""
    import anyio

    return await anyio.to_thread.run_sync(lambda: fn(*args, **kwargs))
