"""Where a slow function's time went when no single call holds it: the callee it repeats, and the
helper that built what it repeats it over.

:func:`.slow_callback.hot_path` walks down while one nested call covers most of its parent's
time; it stops at a function whose time is spread over many calls of its callees (a loop). That
function is often right about what it does per item — the mistake is one level down:

- **a redundant collection** (:func:`spread`): the loop called one expensive callee ``K`` times
  and the argument sets repeat — the same set in another order (``{a, b}`` and ``{b, a}``), an
  item paired with itself, the very same arguments again. When a call made just before the loop,
  in the same function, returned a collection of exactly ``K`` elements, that helper built what
  the loop went over with too many elements (every ordered pair instead of the unordered ones,
  self-pairs, duplicates): it is named, with the numbers ("built 36 pairs for 6 items, 21 of
  them repeats or self-pairs; each pair cost a look-up of ~30 ms").
- **a slow callee** (:attr:`Spread.exclusive_share`): each call distinct and needed, but the
  callee's own time (its span less its traced callees') makes most of its caller's: when the
  loop is the callback itself (nothing else to name but the callback), the callee is where to
  look. A loop in a helper of its own stays the culprit (it chose to make those calls).

Nothing here knows a domain: only recorded spans, arguments and the length of a result.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from ..view import Call, RecordingView, fmt, is_app_module

MIN_CALLS = 3          # calls of one callee to speak of a loop
SPREAD_SHARE = 0.6     # the share of the loop's time its repeated callee must cover
MIN_REDUNDANT = 0.25   # the share of those calls that must be repeats or self-pairs
MAX_CHILDREN = 5_000   # nested calls looked at


@dataclass
class Spread:
    """One callee's calls inside a looping call ``parent``."""

    parent: Call
    callee: Call               # its first call
    calls: int                 # K
    total: int                 # summed span of the K calls (trace time units)
    own: int                   # summed span less their traced application callees'
    distinct: int              # distinct argument sets, order aside
    self_pairs: int            # calls given an item together with itself
    repeats: int               # calls whose argument set an earlier call already had
    redundant: int             # calls that are a repeat or a self-pair (each counted once)
    builder: Call | None       # the call before the loop that returned K elements

    @property
    def wasteful(self) -> bool:
        return self.redundant >= 2 and self.redundant >= MIN_REDUNDANT * self.calls


def _items(c: Call) -> list[str]:
    """The items a call was given, one argument or the elements of a lone tuple argument."""
    args = c.args
    if len(args) == 1 and isinstance(args[0], tuple) and len(args[0]) >= 2:
        args = list(args[0])
    return [fmt(a, 200) for a in args]


def _size(value) -> int | None:
    if isinstance(value, (list, dict)):
        return len(value)
    return None


def app_children(view: RecordingView, c: Call) -> list[Call]:
    """The application calls nested in ``c``; an anonymous function's are its parent's (a
    lambda is not where a developer looks: the function around the work is). Bounded:
    :data:`MAX_CHILDREN` calls per level."""
    out: list[Call] = []
    for k in view.children(c)[:MAX_CHILDREN]:
        if not is_app_module(k.module):
            continue
        if k.function.startswith("-"):
            out.extend(app_children(view, k))
        else:
            out.append(k)
    return out


def _span(c: Call, limit: int) -> int:
    """How long ``c`` ran, to ``limit`` at most; a call whose end the capture dropped (``broken``)
    to the moment it had ended by (the next step's start), never the rest of its parent's time."""
    if c.broken:
        return max(0, min(c.end_by if c.end_by is not None else c.ts, limit) - c.ts)
    return min(c.end_ts if c.end_ts is not None else limit, limit) - c.ts


def spread(view: RecordingView, parent: Call, limit: int) -> Spread | None:
    """The callee whose calls inside ``parent`` (measured to ``limit`` at most) cover most of its
    time, with how redundant their arguments are and the helper that built what they went over;
    ``None`` when no callee's calls do."""
    total = _span(parent, limit)
    if total <= 0:
        return None
    kids = app_children(view, parent)
    by_fun: dict[tuple, list[Call]] = {}
    for k in kids:
        by_fun.setdefault((k.module, k.function, k.arity), []).append(k)
    best = max(by_fun.values(), key=lambda ks: sum(_span(k, limit) for k in ks), default=None)
    if best is None or len(best) < MIN_CALLS:
        return None
    spent = sum(_span(k, limit) for k in best)
    if spent < SPREAD_SHARE * total:
        return None
    own = spent - sum(_span(g, limit) for k in best for g in app_children(view, k))
    sets: Counter = Counter()
    self_pairs = redundant = 0
    for k in best:
        items = _items(k)
        key = tuple(sorted(items))
        paired_self = len(items) >= 2 and len(set(items)) < len(items)
        self_pairs += paired_self
        redundant += paired_self or key in sets
        sets[key] += 1
    distinct = len(sets)
    first, ids = best[0], {k.call_id for k in best}
    builder = next((k for k in reversed(kids) if k.ts < first.ts and k.call_id not in ids
                    and _size(k.value) == len(best)), None)
    return Spread(parent=parent, callee=first, calls=len(best), total=spent, own=own, distinct=distinct,
                  self_pairs=self_pairs, repeats=len(best) - distinct, redundant=redundant,
                  builder=builder)


def describe(view: RecordingView, s: Spread) -> str:
    """The numbers, for a person: how many calls, how many repeats, what each cost."""
    each = s.total * 1000.0 / view.time_unit / s.calls
    mfa = s.callee.mfa
    lost = view.dropped_in(s.parent.pid, s.callee.ts, s.parent.end_ts)
    if lost:   # a span across dropped events may hold several calls: no duration is printed
        text = (f"{s.parent.mfa} called {mfa} {s.calls} times (durations unknown: "
                + (f"{lost} events were" if lost > 0 else "events were") + " dropped while it ran)")
    else:
        text = f"{s.parent.mfa} called {mfa} {s.calls} times (~{each:.0f} ms each, {s.total * 1000.0 / view.time_unit:.0f} ms in all)"
    if s.wasteful:
        text += (f" with only {s.distinct} distinct argument sets: {s.repeats} repeat an earlier set in another "
                 f"order or the same, {s.self_pairs} pair an item with itself")
        if s.builder is not None:
            text += (f"; the {s.calls} came from {s.builder.mfa}, which returned exactly {s.calls} elements — "
                     f"{s.redundant} of them work already done or not needed")
    return text
