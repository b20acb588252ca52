"""At the cursor: who was alive, the supervision tree as it was, and one process's state with
the diff from the previous state, the message that caused it, and its mailbox."""

from __future__ import annotations

from starlette.requests import Request
from starlette.routing import Route

from elixir_scope.store.lastchange import last_change

from ..terms import change_json, short, term_tree
from .common import ApiError, View, int_param, ok, process_ref, view_of

MAX_PROCS = 1000
MAX_TREE = 2000
MAX_MAILBOX = 50


def _moment(request: Request, v: View) -> int:
    t = v.moment(request, "t")
    if t is None:
        raise ApiError(400, "give the moment as t=<node monotonic time> (an event's ts)")
    return t


def snapshot(request: Request):
    v = view_of(request)
    rec = v.rec
    t = _moment(request, v)
    snap = rec.system_snapshot_at(t, int_param(request, "node"))
    budget = [MAX_TREE]

    def tree(tn) -> dict:
        budget[0] -= 1
        kids = []
        for c in tn.children:
            if budget[0] <= 0:
                break
            kids.append(tree(c))
        return {"proc": v.proc(tn.process), "linked": tn.linked_to_parent, "children": kids,
                "more": len(tn.children) - len(kids)}

    roots = []
    for r in snap.tree:
        if budget[0] <= 0:
            break
        roots.append(tree(r))
    procs = [{"proc": v.proc(p.process), "has_state": p.has_state,
              "parent": v.proc(p.parent)} for p in snap.processes[:MAX_PROCS]]
    return ok({"t": v.rel(t), "node": snap.node_id, "processes": procs, "process_count": len(snap.processes),
               "tree": roots, "tree_capped": budget[0] <= 0,
               "gaps_before": len(snap.gaps)})


def process_state(request: Request):
    v = view_of(request)
    rec = v.rec
    t = _moment(request, v)
    proc = process_ref(rec, request.query_params.get("proc", ""))
    at = rec.state_at(proc, t)
    out: dict = {"proc": v.proc(proc), "t": v.rel(t), "state": None}
    if at is not None:
        out.update(source=at.source, state_event=v.ev(at.event), truncated=at.truncated,
                   redacted=at.redacted, callback=str(at.callback) if at.callback else None,
                   gaps=[v.gap(g) for g in at.gaps[:20]])
        change = last_change(rec, proc, t)
        out["state"] = term_tree(at.state, change.changes if change else None)
        out["state_text"] = short(at.state, 2000)
        if change is not None:
            out["change"] = {
                "at": v.ev(change.after.event),
                "changes": [change_json(c) for c in change.changes[:100]],
                "previous": term_tree(change.before.state),
                "cause": v.ev(change.cause) if change.cause else None,
                "message": short(change.message, 400) if change.cause else None,
            }
    from elixir_scope.store.mailbox import mailbox_at

    box = mailbox_at(rec, proc, t)
    out["mailbox"] = None if box is None else [v.ev(e) for e in box[:MAX_MAILBOX]]
    out["mailbox_len"] = None if box is None else len(box)
    return ok(out)


ROUTES = [
    Route("/api/recordings/{rid}/snapshot", snapshot),
    Route("/api/recordings/{rid}/state", process_state),
]
