"""The timeline: event density per process (the swimlanes), the events of a narrow window,
one event in detail, and the next/previous event from a moment."""

from __future__ import annotations

from starlette.requests import Request
from starlette.routing import Route

from elixir_scope.store import EventKind
from elixir_scope.store.density import MAX_BUCKETS, MAX_LANES, event_density

from .common import ApiError, int_param, list_param, ok, process_ref, state, view_of

MAX_EVENTS = 500


def density(request: Request):
    v = view_of(request)
    rec = v.rec
    procs = [process_ref(rec, p) for p in list_param(request, "procs", MAX_LANES)]
    pins = [process_ref(rec, p) for p in list_param(request, "pin", MAX_LANES)]
    since, until = v.moment(request, "since"), v.moment(request, "until")
    buckets = int_param(request, "buckets", 400, lo=1, hi=MAX_BUCKETS)
    lanes = int_param(request, "lanes", 60, lo=1, hi=MAX_LANES)
    key = ("density", rec.id, since, until, buckets, lanes, tuple((p.node_id, p.idx) for p in procs),
           tuple((p.node_id, p.idx) for p in pins))
    try:
        d = state(request).cached(key, rec.info.status != "recording", lambda: event_density(
            rec, since, until, buckets=buckets, max_lanes=lanes, processes=procs or None, pinned=pins))
    except ValueError as exc:
        raise ApiError(400, str(exc)) from exc
    return ok({"since": v.rel(d.since), "until": v.rel(d.until), "buckets": d.buckets,
               "total": d.total_events, "other_processes": d.other_processes,
               "other_events": d.other_events,
               "lanes": [{"proc": v.proc(lane.process), "total": lane.total,
                          "counts": lane.counts, "errors": lane.errors} for lane in d.lanes],
               "gaps": [v.gap(g) for g in d.gaps], "gaps_total": d.gaps_total})


def events(request: Request):
    """Events in ``[since, until]`` (optionally of ``proc``, of ``kinds``), at most ``limit``;
    ``after`` pages on."""
    v = view_of(request)
    rec = v.rec
    pid = request.query_params.get("proc")
    kinds = list_param(request, "kinds", 18)
    try:
        evs = rec.events(kind=kinds or None, pid=process_ref(rec, pid) if pid else None,
                         since=v.moment(request, "since"), until=v.moment(request, "until"),
                         after_id=int_param(request, "after"),
                         limit=int_param(request, "limit", 200, lo=1, hi=MAX_EVENTS))
    except ValueError as exc:
        raise ApiError(400, str(exc)) from exc
    return ok({"events": [v.ev(e) for e in evs], "gaps": [v.gap(g) for g in evs.gaps],
               "next_after": evs.next_after_id})


def event_detail(request: Request):
    from elixir_scope.store import RecordingNotFound

    v = view_of(request)
    rec = v.rec
    try:
        e = rec.event(int(request.path_params["eid"]))
    except (RecordingNotFound, ValueError) as exc:
        raise ApiError(404, str(exc)) from exc
    out = v.ev(e, detail=True)
    if e.kind in (EventKind.SEND, EventKind.RECEIVE):
        from elixir_scope.store.stepping import step

        other = step(rec, e, 1 if e.kind == EventKind.SEND else -1, "causal")
        if other is not None and other.kind in (EventKind.SEND, EventKind.RECEIVE) and other.kind != e.kind:
            out["matched"] = v.ev(other)
    return ok(out)


def step_event(request: Request):
    """The next or previous event from an event (``dir`` 1/-1) within ``scope``."""
    from elixir_scope.store import RecordingNotFound

    v = view_of(request)
    rec = v.rec
    scope = request.query_params.get("scope", "recording")
    try:
        e = rec.event(int_param(request, "from", lo=1))
        nxt = rec.step(e, int_param(request, "dir", 1, lo=-1, hi=1) or 1, scope)
    except (RecordingNotFound, ValueError) as exc:
        raise ApiError(400, str(exc)) from exc
    return ok({"event": v.ev(nxt) if nxt else None})


ROUTES = [
    Route("/api/recordings/{rid}/density", density),
    Route("/api/recordings/{rid}/events", events),
    Route("/api/recordings/{rid}/events/{eid}", event_detail),
    Route("/api/recordings/{rid}/step", step_event),
]
