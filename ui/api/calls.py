"""Calls of one process in a window: the call tree (for the tree and the icicle view) and the
slowest calls."""

from __future__ import annotations

from starlette.requests import Request
from starlette.routing import Route

from .common import ok, process_ref, view_of

MAX_NODES = 3000
SLOWEST = 20


def calls(request: Request):
    v = view_of(request)
    rec = v.rec
    proc = process_ref(rec, request.query_params.get("proc", ""))
    tl = rec.timeline(proc, v.moment(request, "since"), v.moment(request, "until"), limit=20_000)
    budget = [MAX_NODES]
    every = []

    def node(cn) -> dict:
        budget[0] -= 1
        every.append(cn)
        kids = []
        for c in cn.children:
            if budget[0] <= 0:
                break
            kids.append(node(c))
        return {"mfa": str(cn.mfa) if cn.mfa else "?", "id": cn.call.id, "ts": v.rel(cn.call.ts),
                "end_ts": v.rel(cn.end.ts) if cn.end else None, "us": cn.duration_us, "raised": cn.raised,
                "children": kids, "more": len(cn.children) - len(kids)}

    roots = []
    for r in tl.roots:
        if budget[0] <= 0:
            break
        roots.append(node(r))
    done = [c for c in every if c.duration is not None]
    slowest = sorted(done, key=lambda c: c.duration, reverse=True)[:SLOWEST]
    return ok({"proc": v.proc(proc), "roots": roots, "capped": budget[0] <= 0 or tl.truncated,
               "slowest": [{"mfa": str(c.mfa), "us": c.duration_us, "call": v.ev(c.call)} for c in slowest],
               "gaps": [v.gap(g) for g in tl.gaps[:50]]})


ROUTES = [Route("/api/recordings/{rid}/calls", calls)]
