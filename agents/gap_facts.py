"""Facts that rest on calls the capture's drops cut through.

A fact's evidence names recorded events; when one of them is a call (or its end) that ran while
the agent dropped events on its node — or a call whose end was among them (``Call.broken``) —
the fact stands on a span that may hold more than one call, or on a frame whose end is unknown.
Such a fact is kept, but its confidence is capped at :data:`GAP_CONFIDENCE` (never *high*), and the
report says where events were dropped and how many (:func:`temper`).
"""

from __future__ import annotations

from .view import Call, RecordingView

__all__ = ["GAP_CONFIDENCE", "temper"]

#: the highest confidence of a fact whose evidence names a call events were dropped during
GAP_CONFIDENCE = 0.7

#: facts a note names, at most
MAX_NOTES = 3


def _cut_calls(view: RecordingView, ids: set[int]) -> dict[int, Call]:
    """event id (a call's or its end's) → the call, for the calls among ``ids`` that events were
    dropped during."""
    out: dict[int, Call] = {}
    for c in view.calls:
        hit = c.call_id if c.call_id in ids else c.end_id if c.end_id in ids else None
        if hit is not None and view.crosses_gap(c):
            out[hit] = c
    return out


def temper(view: RecordingView, facts) -> list[str]:
    """Cap the confidence of each of ``facts`` whose evidence names a call the capture's drops cut
    through, and say so: one note per fact (at most :data:`MAX_NOTES`), with the events dropped."""
    if not view.gaps or not facts:
        return []
    ids = {i for f in facts for i in f.event_ids}
    cut = _cut_calls(view, ids) if ids else {}
    if not cut:
        return []
    notes = []
    for f in facts:
        calls = {cut[i].call_id: cut[i] for i in f.event_ids if i in cut}
        if not calls:
            continue
        f.confidence = min(f.confidence, GAP_CONFIDENCE)
        if len(notes) >= MAX_NOTES:
            continue
        c = min(calls.values(), key=lambda c: c.ts)
        n = view.dropped_in(c.pid, c.ts, c.end_ts if c.end_ts is not None else c.end_by)
        how = f"{n} events were dropped" if n > 0 else "events were dropped"
        what = "its end was among them" if c.broken else "its duration or end may not be its own"
        notes.append(f"{f.title}: rests on {c.mfa} (at +{view.at_ms(c.ts):.0f} ms), during which {how} "
                     f"({what}; the fact's confidence is capped at {GAP_CONFIDENCE})")
    return notes
