"""Which traced call a process was inside at a given moment — by bisection.

The facts ask it for every send, receive and dead send they look at ("which callback sent
this?"): a scan of the process's calls per question made a long diagnosis quadratic in the
calls of its busiest process. :class:`OpenCalls` turns one process's calls into a step
function of time, once (``O(n log n)``), and answers each question with one bisection.

It answers exactly what the scan over the process's calls in recorded order answered (kept in
the tests as the reference): among the calls the scan reaches before the first one that starts
after ``ts``, those not ended before ``ts`` (a call that never ended stays open), the deepest —
of equally deep ones, the one listed last.
"""

from __future__ import annotations

import heapq
from bisect import bisect_right
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .view import Call

__all__ = ["OpenCalls"]

_QUERY = 0.5   # between a start (0) and an end (1) of the same moment: starts count, ends do not yet


class OpenCalls:
    """The innermost open call of one process (``calls`` in recorded order) as a step function
    of time; ``keep`` chooses the calls that may be the answer (application code only, say).

    The defaults answer ``open_call_at``. ``deepest=False`` answers the open call listed last,
    whatever its depth; ``scan_stops=False`` counts a call from its own start (not once the calls
    listed before it have started); ``grace`` keeps a call open that long after its end."""

    __slots__ = ("_keys", "_answers")

    def __init__(self, calls: Sequence[Call], keep: Callable[[str], bool] | None = None, *,
                 deepest: bool = True, scan_stops: bool = True, grace: int = 0) -> None:
        # A call is reached once every call listed before it has started (the scan stops at the
        # first later start): from the running maximum of the starts. It is open until its end.
        steps: list[tuple[int, int, int]] = []
        reached = None
        for i, c in enumerate(calls):
            reached = c.ts if reached is None or c.ts > reached or not scan_stops else reached
            if keep is not None and not keep(c.module):
                continue
            steps.append((reached, 0, i))
            end = c.end_ts if c.end_ts is not None else c.end_by   # a broken call: ended by then
            if end is not None:
                steps.append((end + grace, 1, i))
            elif c.broken:
                steps.append((reached, 1, i))   # ended, when unknown: never the answer
        steps.sort()
        open_: list[tuple[int, int]] = []   # (-depth, -index): the deepest, then the last listed
        ended: set[int] = set()
        keys: list[tuple[int, int]] = []
        answers: list[Call | None] = []
        for at, kind, i in steps:
            if kind == 0:
                heapq.heappush(open_, (-calls[i].depth if deepest else 0, -i))
            else:
                ended.add(i)
            while open_ and -open_[0][1] in ended:
                heapq.heappop(open_)
            keys.append((at, kind))
            answers.append(calls[-open_[0][1]] if open_ else None)
        self._keys = keys
        self._answers = answers

    def at(self, ts: int) -> Call | None:
        """The innermost open call at ``ts`` (``None``: none was open)."""
        k = bisect_right(self._keys, (ts, _QUERY))
        return self._answers[k - 1] if k else None
