"""The query box: one page of a query-language result, each row carrying the event ids and
times the browser links into the timeline."""

from __future__ import annotations

from starlette.requests import Request
from starlette.routing import Route

from elixir_scope.store.query import QueryError, run_query

from .common import ApiError, ok, view_of

MAX_ROWS = 200


def _links(row, t0: int) -> list[dict]:
    """(event id, ts, process key) of the events a row is about."""
    from elixir_scope.store.query import AbsenceRow, EventRow, MatchRow

    rows = [row] if isinstance(row, EventRow) else list(row.steps) if isinstance(row, MatchRow) \
        else [row.event] if isinstance(row, AbsenceRow) else []
    out = []
    for r in rows:
        e = r.event
        out.append({"id": e.id, "ts": e.ts - t0, "proc": f"{e.node_id}.{e.pid}"})
    return out


async def query(request: Request):
    try:
        body = await request.json()
    except ValueError:
        raise ApiError(400, 'send JSON: {"text": "<query>", "cursor": null}') from None
    text = (body or {}).get("text") if isinstance(body, dict) else None
    if not isinstance(text, str) or not text.strip():
        raise ApiError(400, 'the query is empty: try "calls | count by function"')
    if len(text) > 2000:
        raise ApiError(400, "the query is longer than 2000 characters")
    v = view_of(request)
    rec = v.rec
    from starlette.concurrency import run_in_threadpool

    try:
        result = await run_in_threadpool(run_query, rec, text, limit=MAX_ROWS, cursor=body.get("cursor"))
    except QueryError as exc:
        raise ApiError(400, str(exc)) from exc
    data = result.as_dict(payloads=True)
    data["links"] = [_links(r, v.t0) for r in result.rows]
    return ok(data)


ROUTES = [Route("/api/recordings/{rid}/query", query, methods=["POST"])]
