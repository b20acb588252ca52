"""Demand thrown away: a count of what may still be sent (demand, credit, a window) set to zero
when only part of it was used — the consumer waits for the rest, the producer for a new
request, and the flow stalls.

| kind | what | culprit |
| --- | --- | --- |
| ``demand_lost`` | a function set an integer field (demand, credit, a window) from ``a`` to ``0`` while handing out only ``b < a`` entries of a queue (or sending a batch of ``b``: then only when entries waited in a queue with the field at ``0`` afterwards) | that function, and the field's drop |
"""

from __future__ import annotations

from typing import Any

from elixir_scope.instrument.etf import Atom

from ..findings import Finding
from ..view import Call, RecordingView
from .book import FactBook
from .statemap import app_calls, arg_state, culprit, fields, is_int, state_in


def _size(v: Any) -> int | None:
    """Entries of a queue-like value: a list, or an Erlang ``:queue`` (a pair of lists)."""
    if isinstance(v, list):
        return len(v)
    if isinstance(v, tuple) and len(v) == 2 and all(isinstance(x, list) for x in v):
        return len(v[0]) + len(v[1])
    return None


def _sent_lists(view: RecordingView, c: Call) -> list[int]:
    """Lengths of the lists in the messages ``c``'s process sent while ``c`` ran (a batch handed
    out inline, in the callback itself)."""
    out = []
    end = c.end_ts if c.end_ts is not None else c.ts
    for m in view.messages:
        if m.sender != c.pid or m.send_ts is None or not c.ts <= m.send_ts <= end:
            continue
        msg = m.msg
        if isinstance(msg, tuple) and len(msg) == 2 and isinstance(msg[0], Atom) and msg[0].name == "$gen_cast":
            msg = msg[1]
        if isinstance(msg, tuple) and msg and not isinstance(msg[0], Atom):
            continue   # a reply to a call ({tag, reply}) hands out nothing
        parts = msg if isinstance(msg, tuple) else (msg,)
        out += [len(x) for x in parts if isinstance(x, list) and x]
    return out


def _queued(state: Any) -> list[tuple[str, int]]:
    return [(k, n) for k, v in sorted((fields(state) or {}).items()) if (n := _size(v) or 0) > 0]


def demand_lost(view: RecordingView, book: FactBook) -> None:
    steps_by_pid = view.state_steps()
    for pid in sorted(view.calls_by_pid):
        hits = []
        for c in app_calls(view, pid):
            a, r = arg_state(c), state_in(c.value)
            if a is None or r is None:
                continue
            for field in sorted(a):
                if not (is_int(a[field]) and a[field] > 0 and r.get(field) == 0):
                    continue
                for q in sorted(a):
                    before, after = _size(a[q]), _size(r.get(q))
                    if before is not None and after is not None and 0 < before - after < a[field]:
                        hits.append((c, field, q, a[field], before - after))
                # handed out inline: a batch the callback sent, shorter than the demand it cleared
                hits += [(c, field, None, a[field], n) for n in _sent_lists(view, c) if n < a[field]][:1]
        if not hits:
            continue
        # the first such step, and of the calls it is made of the deepest (the function that wrote it)
        first = hits[0][0]
        hit = max((h for h in hits if first.ts <= h[0].ts and (first.end_ts is None or h[0].ts <= first.end_ts)),
                  key=lambda h: (h[0].depth, h[2] is not None))
        c, field, q, demand, handed = hit
        # afterwards: entries wait in a queue while the field stays at zero
        later = [s for s in steps_by_pid.get(pid, []) if s.ts > (c.end_ts or c.ts)]
        last = later[-1] if later else None
        queued = [(k, n) for k, n in _queued(last.state) if q is None or k == q] if last is not None else []
        stalled = bool(queued) and (fields(last.state) or {}).get(field) == 0
        if q is None and not stalled:
            continue   # a batch shorter than a cleared count is no loss by itself (a reset counter)
        detail = (f"{field}: {demand} → 0 while only {handed} of {q} were handed out ({demand - handed} lost)"
                  if q is not None else f"{field}: {demand} → 0 after a batch of only {handed} ({demand - handed} lost)")
        summary = (f"{c.mfa} set {field} from {demand} to 0 but handed out only {handed} entries (all it had): the "
                   f"other {demand - handed} of {field} were thrown away, while whoever asked for {demand} still "
                   "waits for them.")
        ev = [view.call_evidence(c, f"{c.mfa} with {field} = {demand}"),
              view.end_evidence(c, f"{c.mfa} returned {field} = 0 after handing out {handed}")]
        if stalled:
            k, n = queued[0]
            summary += f" Afterwards {n} entries arrived in {k} and stayed there with {field} = 0: the flow stalled."
            ev.append(view.evidence(last.event_id, "state", last.ts, pid, f"{k} holds {n} entries, {field} = 0"))
        book.add(Finding(
            detector="demand_lost",
            title=f"{view.label(pid)}: {c.mfa} drops {demand - handed} of {field} (set to 0 after sending {handed})",
            summary=summary, severity="high", confidence=0.75 if stalled else 0.45,
            culprit=culprit(view, c, detail), evidence=ev,
            signatures=["state:demand_lost"],
            fix_hint=(f"Keep what was not used: {field} - {handed} (the unmet part), not 0, so the entries that "
                      "arrive later are sent against it; only the consumer's new requests add to it.")),
            pid=pid, ts=c.ts)
