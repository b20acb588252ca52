"""How long a self-scheduled loop kept going, as far as a capture can tell — also when the capture
was cut short or dropped most of its events.

A busy loop (a callback that sends itself its next message at once, a timer of 0) offers events
far faster than the capture stores them: the agent sheds them (``rate``/``overload`` gaps) and the
capture soon ends on ``max_events``. The stored ticks then cover only the first tens of
milliseconds, so the loop's stored span says little; what says "it kept going" is the gap that
follows the last stored tick. ``loop_window`` reads both:

* **seen** — the stored ticks, their span and rate;
* **cut** — the ticks run up to a gap (nothing of the process stored after it): the dropped events,
  spread like the stored ones, stand for ``more_ticks`` more ticks, ``more_seconds`` at the stored
  rate (a lower bound, since the stored mix includes every other process) — and, as a faster loop
  fills the event budget sooner, ``MIN_CUT_TICKS`` ticks stored and dropped count as a loop too,
  unless the node's samples after the cut show the process idle;
* **stopped** — the ticks end well before the recording does, with no gap in between: a bounded
  burst that finished, not a loop.

Used by :func:`~elixir_scope.agents.evidence.rates.hot_callbacks`.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

from ..view import Call, Gap, RecordingView
from .common import message_shape

MIN_LOOP_SPAN = 0.25    # seconds a loop must be seen (or be known) to keep going: a shorter run is a burst
MIN_CUT_TICKS = 2_000   # …or ticks, stored and dropped, when it outran the capture (a faster loop fills the
                        # event budget sooner: its known span shrinks as its speed grows)
IDLE_REDUCTIONS = 1_000  # reductions between two node samples after the cut below which the process had stopped
CUT_SLACK = 0.005       # seconds between the last stored tick and the gap that cut it (plus 3 ticks' interval)


@dataclass(frozen=True)
class LoopWindow:
    ticks: int                 # stored ticks
    span: float                # seconds from the first stored tick to the last
    rate: float                # stored ticks per second over ``span``
    cut: Gap | None            # the gap right after the last stored tick: the loop went on unseen
    dropped: int               # events dropped from the cut on (0 when not cut)
    more_ticks: int            # ticks the dropped events stand for (0 when not cut)
    stopped_for: float         # seconds the recording went on after the last tick without it (0: it ran to the end)
    share: float               # the process's share of every call the recording stored over ``span``

    @property
    def more_seconds(self) -> float:
        return self.more_ticks / self.rate if self.rate > 0 else 0.0

    @property
    def known_span(self) -> float:
        """Seconds the loop is known to have run: what was stored plus what the drops stand for."""
        return self.span + self.more_seconds

    @property
    def is_loop(self) -> bool:
        """It ran long enough (or, cut short, thousands of ticks), and still ran when the capture
        stopped seeing it."""
        long_enough = self.known_span >= MIN_LOOP_SPAN or (
            self.cut is not None and self.ticks + self.more_ticks >= MIN_CUT_TICKS)
        return long_enough and self.stopped_for < MIN_LOOP_SPAN

    def describe(self) -> str:
        """What the capture saw of it, for the fact's summary (the drops when it was cut)."""
        if self.cut is None:
            return ""
        return (f" The capture could not keep up: it dropped {self.dropped:,} events ({self.cut.reason}) from "
                f"right after the last stored tick on — at the mix it stored, about {self.more_ticks:,} more ticks, "
                f"{self.more_seconds * 1000:.0f} ms more of the same loop.")


def _events_of(view: RecordingView, lo: int, hi: int) -> tuple[int, int]:
    """Stored events between ``lo`` and ``hi`` (calls and returns, sends and receives), and calls."""
    calls = sum(1 for c in view.calls if lo <= c.ts <= hi)
    ends = sum(1 for c in view.calls if c.end_ts is not None and lo <= c.end_ts <= hi)
    msgs = sum((m.send_ts is not None and lo <= m.send_ts <= hi) + (m.receive_ts is not None and lo <= m.receive_ts <= hi)
               for m in view.messages)
    return calls + ends + msgs, calls


def loop_window(view: RecordingView, pid: int, hits: list[Call]) -> LoopWindow:
    """What the recording says about how long the loop of ``hits`` (one process's ticks, in
    time order, ≥ 2) ran."""
    unit = view.time_unit
    first, last = hits[0].ts, hits[-1].ts
    span = (last - first) / unit
    rate = (len(hits) - 1) / span if span > 0 else 0.0
    mine = [c for c in view.calls_by_pid.get(pid, []) if first <= c.ts <= last]
    _, all_calls = _events_of(view, first, last)
    share = len(mine) / all_calls if all_calls else 0.0
    interval = span / max(len(hits) - 1, 1)
    slack = int((CUT_SLACK + 3 * interval) * unit)
    cut = next((g for g in sorted(view.gaps, key=lambda g: g.ts)
                if last - slack <= g.ts <= last + slack and g.count > 0 and g.reason != "node_down"), None)
    if cut is not None and any(c.ts > cut.ts for c in view.calls_by_pid.get(pid, [])):
        cut = None   # the process was seen again after the gap: the drops did not hide its loop
    more = dropped = 0
    if cut is not None:
        stored, _ = _events_of(view, first, cut.ts)
        # the events dropped from then on (the process was not seen again) stand for as many ticks
        # as the same number of stored events did
        dropped = sum(g.count for g in view.gaps if g.ts >= cut.ts and g.reason != "node_down")
        more = int(dropped * len(hits) / stored) if stored else 0
    end = max([c.end_ts or c.ts for c in view.calls] + [m.receive_ts or m.send_ts or 0 for m in view.messages]
              + [g.ts for g in view.gaps] + [x.ts for x in view.samples] + [r.ts for r in view.resources],
              default=last)   # the node samples (marks) show the recording went on when nothing traced ran
    later_gap = any(last <= g.ts <= end and g.count > 0 for g in view.gaps)
    stopped_for = 0.0 if cut is not None or later_gap else max(0.0, (end - last) / unit)
    if cut is not None:
        stopped_for = _idle_after(view, pid, cut.ts)
    return LoopWindow(ticks=len(hits), span=span, rate=rate, cut=cut, dropped=dropped, more_ticks=more,
                      stopped_for=stopped_for, share=share)


def _idle_after(view: RecordingView, pid: int, ts: int) -> float:
    """Seconds the node's samples after ``ts`` saw the process do (next to) nothing: its reductions
    grew by less than ``IDLE_REDUCTIONS`` from one sample to the next from then on — a burst that
    ended behind the capture's drops. 0.0 when it kept working or the samples do not tell."""
    seen = sorted((r.ts, p.reductions) for r in view.resources if r.ts >= ts for p in r.processes if p.proc == pid)
    idle_since = None
    for (t0, r0), (t1, r1) in zip(seen, seen[1:]):
        if r1 - r0 < IDLE_REDUCTIONS:
            idle_since = t0 if idle_since is None else idle_since
        else:
            idle_since = None
    return (seen[-1][0] - idle_since) / view.time_unit if idle_since is not None else 0.0


ONE_AT_A_TIME = 0.9     # share of ticks whose message arrived alone, after the tick before began


def one_at_a_time(view: RecordingView, pid: int, hits: list[Call], shape: str) -> float:
    """The share of consecutive ticks between which exactly one message of ``shape`` reached the
    process: a loop that schedules itself (a message to self, a timer) has one next message in
    flight at a time; a mailbox fed by other processes — senders the capture did not trace —
    gets them as they come, several or none between two callbacks. Pairs the capture dropped
    events between are left out; 0.0 when no pair is left."""
    if len(hits) < 2:
        return 0.0
    times = sorted(m.receive_ts for m in view.messages
                   if m.receiver == pid and m.receive_ts is not None and message_shape(m.msg) == shape)
    gaps = sorted(g.ts for g in view.gaps if g.count > 0)
    one = pairs = 0
    for a, b in zip(hits, hits[1:]):
        if bisect.bisect_right(gaps, b.ts) > bisect.bisect_left(gaps, a.ts):
            continue   # the capture dropped events in between: nothing to count
        pairs += 1
        one += bisect.bisect_right(times, b.ts) - bisect.bisect_right(times, a.ts) == 1
    return one / pairs if pairs else 0.0
