"""Messages between processes in a window (the sequence diagram) and the causal past/future
of an event (highlighted on the timeline)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.routing import Route

from ..terms import short
from .common import ApiError, int_param, list_param, ok, process_ref, view_of

MAX_MESSAGES = 400
UNRESOLVED = {"key": "?", "pid": "?", "name": None, "label": "(receiver not resolved)", "initial": None,
              "born": None, "died": None}


def label(message) -> str:
    """What a message means, shortly: GenServer calls, casts and replies by their request."""
    from elixir_scope.instrument.etf import Atom

    if isinstance(message, tuple):
        if len(message) == 3 and message[0] == Atom("$gen_call"):
            return "call " + short(message[2], 100)
        if len(message) == 2 and message[0] == Atom("$gen_cast"):
            return "cast " + short(message[1], 100)
        tag = message[0] if len(message) == 2 else None
        if type(tag).__name__ == "Ref" or (isinstance(tag, list) and tag and tag[0] == Atom("alias")) \
                or type(tag).__name__ == "ImproperList":
            return "reply " + short(message[1], 100)
    return short(message, 120)
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
        if receiver is None:
            receiver = UNRESOLVED
        for p in (sender, receiver):
            if p:
                lanes.setdefault(p["key"], p)
        try:
            text = label(f.message)
        except Exception as exc:
            text = f"(message not shown: {type(exc).__name__})"
        rows.append({"send": v.ev(f.send), "receive": v.ev(f.receive) if f.receive else None,
                     "from": sender["key"] if sender else None, "to": receiver["key"],
                     "message": text, "method": f.method})
    order = [k for k in (f"{p.node_id}.{p.idx}" for p in procs) if k in lanes] if keys else list(lanes)
    if "?" in lanes:  # the unresolved column goes last
        lanes["?"] = lanes.pop("?")
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
