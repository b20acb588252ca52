"""Messages between processes in a window (the sequence diagram) and the causal past/future
of an event (highlighted on the timeline)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.routing import Route

from ..terms import short
from .common import ApiError, int_param, list_param, ok, process_ref, view_of

MAX_MESSAGES = 400
MAX_CAUSAL = 1000


def messages(request: Request):
    v = view_of(request)
    rec = v.rec
    procs = [process_ref(rec, p) for p in list_param(request, "procs", 30)]
    flows = rec.message_flow(v.moment(request, "since"), v.moment(request, "until"),
                             processes=procs or None, after_id=int_param(request, "after"),
                             limit=int_param(request, "limit", 200, lo=1, hi=MAX_MESSAGES))
    keys = {f"{p.node_id}.{p.idx}" for p in procs}
    rows, lanes = [], {}
    for f in flows.messages:
        sender, receiver = v.proc(f.sender), v.proc(f.receiver)
        if keys and not ((sender and sender["key"] in keys) or (receiver and receiver["key"] in keys)):
            continue
        for p in (sender, receiver):
            if p:
                lanes.setdefault(p["key"], p)
        try:
            text = short(f.message, 120)
        except Exception as exc:
            text = f"(message not shown: {type(exc).__name__})"
        rows.append({"send": v.ev(f.send), "receive": v.ev(f.receive) if f.receive else None,
                     "from": sender["key"] if sender else None, "to": receiver["key"] if receiver else None,
                     "message": text, "method": f.method})
    order = [k for k in keys if k in lanes] if keys else list(lanes)
    return ok({"lanes": [lanes[k] for k in order] + [lanes[k] for k in lanes if k not in order],
               "messages": rows, "gaps": [v.gap(g) for g in flows.gaps[:50]],
               "next_after": flows.next_after_id})


def causal(request: Request):
    from elixir_scope.store import RecordingNotFound

    v = view_of(request)
    rec = v.rec
    direction = request.query_params.get("dir", "past")
    if direction not in ("past", "future"):
        raise ApiError(400, "dir must be past or future")
    try:
        e = rec.event(int(request.path_params["eid"]))
    except (RecordingNotFound, ValueError) as exc:
        raise ApiError(404, str(exc)) from exc
    limit = int_param(request, "limit", 300, lo=1, hi=MAX_CAUSAL)
    page = rec.causal_past(e, limit) if direction == "past" else rec.causal_future(e, limit)
    return ok({"origin": v.ev(e), "direction": direction, "processes": page.processes,
               "events": [{"id": x.id, "ts": v.rel(x.ts), "proc": f"{x.node_id}.{x.pid}", "kind": x.kind.name.lower()}
                          for x in page.events],
               "more": page.next_cursor is not None, "gaps": [v.gap(g) for g in page.gaps[:50]]})


ROUTES = [
    Route("/api/recordings/{rid}/messages", messages),
    Route("/api/recordings/{rid}/causal/{eid}", causal),
]
