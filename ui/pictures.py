"""The three pictures offered to MCP hosts that render UI (MCP Apps): a recording's timeline,
a sequence diagram of messages, and the supervision tree at a moment — as small JSON
documents that ``static/mcp_app.html`` draws. Built from the same store functions and the same
JSON shapes as the web UI's endpoints, smaller (they travel inside a chat)."""

from __future__ import annotations

from typing import Any

from elixir_scope.store.density import event_density, time_bounds

from .api.common import View
from .api.messages import UNRESOLVED, label

TIMELINE_BUCKETS = 120
TIMELINE_LANES = 20
MAX_MESSAGES = 80
MAX_TREE = 300


def _view(rec) -> View:
    bounds = time_bounds(rec)
    return View(rec, bounds[0] if bounds else 0)


def timeline_picture(rec, since: int | None = None, until: int | None = None) -> dict[str, Any]:
    """Event density per process (the busiest 20) in 120 buckets, with the gaps."""
    v = _view(rec)
    d = event_density(rec, since, until, buckets=TIMELINE_BUCKETS, max_lanes=TIMELINE_LANES)
    unit = rec.nodes()[0].time_unit if rec.nodes() else 1_000_000_000
    return {"picture": "timeline", "title": f"Recording {rec.id}: {rec.info.name}", "time_unit": unit,
            "since": v.rel(d.since), "until": v.rel(d.until), "total": d.total_events,
            "other_processes": d.other_processes,
            "lanes": [{"label": lane.process.label, "total": lane.total, "counts": lane.counts,
                       "errors": lane.errors} for lane in d.lanes],
            "gaps": [v.gap(g) for g in d.gaps[:50]]}


def sequence_picture(rec, processes: list | None = None, since: int | None = None,
                     until: int | None = None) -> dict[str, Any]:
    """The first 80 messages of the window between ``processes`` (any, when None)."""
    v = _view(rec)
    procs = [p for ref in processes or [] for p in rec.resolve_processes(ref)]
    flows = rec.message_flow(since, until, processes=procs or None, limit=MAX_MESSAGES)
    lanes: dict[str, dict] = {}
    rows = []
    for f in flows.messages:
        sender = v.proc(f.sender)
        receiver = v.proc(f.receiver) or UNRESOLVED
        for p in (sender, receiver):
            if p:
                lanes.setdefault(p["key"], {"key": p["key"], "label": p["label"]})
        rows.append({"from": sender["key"] if sender else None, "to": receiver["key"],
                     "message": label(f.message), "send": f.send.id,
                     "receive": f.receive.id if f.receive else None, "ts": v.rel(f.send.ts)})
    if "?" in lanes:
        lanes["?"] = lanes.pop("?")
    return {"picture": "sequence", "title": f"Messages in recording {rec.id}", "lanes": list(lanes.values()),
            "messages": rows, "more": flows.next_after_id is not None,
            "gaps": [v.gap(g) for g in flows.gaps[:50]]}


def tree_picture(rec, at) -> dict[str, Any]:
    """The processes alive at ``at`` (an Event or a node time) as the supervision tree was."""
    v = _view(rec)
    snap = rec.system_snapshot_at(at)
    budget = [MAX_TREE]

    def node(tn) -> dict:
        budget[0] -= 1
        kids = [node(c) for c in tn.children if budget[0] > 0]
        return {"label": tn.process.label, "linked": tn.linked_to_parent, "children": kids}

    roots = [node(r) for r in snap.tree if budget[0] > 0]
    return {"picture": "tree", "title": f"Supervision tree of recording {rec.id}", "t": v.rel(snap.ts),
            "process_count": len(snap.processes), "roots": roots, "capped": budget[0] <= 0,
            "gaps_before": len(snap.gaps)}
