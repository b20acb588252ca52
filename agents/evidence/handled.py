"""Whether a caller acted on an error its callee returned: the caller's results compared across
its calls in which the callee succeeded and failed (for :func:`..ignored.ignored_errors`).

A caller that answers the failing calls differently from the succeeding ones — ``{:reply, :deny,
s}`` against ``{:reply, :allow, s}``, ``nil`` against a record, ``{:retry, n}`` against ``:done``
— or that does something on failure it never does on success (an application function called
only then: a refund, a retry, a notice) handled the error: it is no ignored error. A caller whose
failing calls return what its succeeding calls return — the same shape, the same atoms at the top
(``{:ok, 0}`` against ``{:ok, 12}``, ``:ok`` against ``:ok``) — went on as if nothing failed. With
no call of the caller in which the callee only succeeded there is nothing to compare with, and
the error counts as before (a caller that says it succeeded).

A caller that asked the same callee the same thing again, within the same call, and then got an
answer that is no error (:func:`retried`) handled the error by retrying: a retry loop that ends in
success ignored nothing. The same thing is the same arguments up to numbers (an attempt counter, a
timestamp, a backoff passed along) beside an equal leaf that is no number. The same callee asked
about something else (the next item of a loop) is no retry: the error of the first item is still
dropped.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from ..view import Atom, Call, RecordingView, fmt, is_app_module
from .common import is_error, is_generated

__all__ = ["Comparison", "compare_callers", "retried", "same_request", "shape"]

_MAX_WALK = 400   # calls looked at inside one caller for what it did after the error
MAX_COMPARED = 200   # succeeding calls of one caller compared with


def shape(v: Any, depth: int = 0) -> Any:
    """What tells two results apart at a glance: every atom (tags, verdicts) kept, other values
    reduced to their kind (a number, a text, a list, a map of a struct), tuples followed three
    levels down (a ``{:reply, {:ok, n}, state}`` keeps ``:reply`` and ``:ok``)."""
    if isinstance(v, bool) or v is None:
        return ("atom", str(v).lower() if v is not None else "nil")
    if isinstance(v, Atom):
        return ("atom", str(v))
    if isinstance(v, (int, float)):
        return "number"
    if isinstance(v, (bytes, str)):
        return "text"
    if isinstance(v, list):
        return "list"
    if isinstance(v, dict):
        struct = v.get(Atom("__struct__"))
        return ("map", str(struct)) if isinstance(struct, Atom) else "map"
    if isinstance(v, tuple):
        if depth >= 3:
            return ("tuple", len(v), shape(v[0], 3) if v and isinstance(v[0], Atom) else None)
        return ("tuple", len(v), tuple(shape(x, depth + 1) for x in v[:8]))
    return type(v).__name__


def _caller_of(c: Call, failed: bool) -> Call | None:
    """The frame that received ``c``'s result: past frames that only pass an error on
    (generated functions, the same error returned as is), as ignored_errors walks."""
    p = c.parent
    while p is not None and p.outcome == "return" and is_app_module(p.module) and (
            is_generated(p.function) or (failed and is_error(p.value) and p.value == c.value)):
        p = p.parent
    if p is None or p.outcome != "return" or not is_app_module(p.module):
        return None
    return p


class Comparison:
    """The calls of one caller that got one callee's result, split by the callee's outcome."""

    def __init__(self) -> None:
        self.ok: dict[int, Call] = {}       # caller calls in which every call of the callee succeeded
        self.failed: dict[int, Call] = {}   # caller calls in which a call of the callee failed
        self._ok_shapes: set | None = None
        self._ok_done: set | None = None

    @property
    def comparable(self) -> bool:
        return bool(self.ok)

    def same_as_success(self, view: RecordingView, caller: Call, error_call: Call, callee: tuple) -> bool:
        """Whether ``caller``'s call, in which ``error_call`` failed, looks like one in which the
        callee succeeded: a result of a shape some succeeding call returned, and nothing done
        after the error that no succeeding call did."""
        if self._ok_shapes is None:
            oks = list(self.ok.values())[:MAX_COMPARED]
            self._ok_shapes = {shape(p.value) for p in oks}
            self._ok_done = set().union(*(_app_calls(view, p, None, callee) for p in oks))
        if shape(caller.value) not in self._ok_shapes:
            return False
        return not (_app_calls(view, caller, error_call.end_ts, callee) - self._ok_done)


_MAX_LEAVES = 200   # leaves of two argument lists compared at most


def _leaves(term: Any, out: list, depth: int = 0) -> bool:
    """The leaves of ``term`` in order, with its shape (tuple and list sizes, map keys) as
    markers; False when it is too big or too deep to compare."""
    if len(out) > _MAX_LEAVES or depth > 8:
        return False
    if isinstance(term, dict):
        keys = sorted(term, key=lambda k: fmt(k, 60))
        out.append(("map", tuple(fmt(k, 60) for k in keys)))
        return all(_leaves(term[k], out, depth + 1) for k in keys)
    if isinstance(term, (tuple, list)):   # a decoded list (FrozenList) is a tuple too
        out.append(("seq", len(term)))
        return all(_leaves(x, out, depth + 1) for x in term)
    out.append(term)
    return True


def _number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def same_request(a: Any, b: Any) -> bool:
    """Whether two calls' arguments ask the same thing: equal, or of one shape whose leaves differ
    only in numbers — an attempt counter, a timestamp, a backoff a retry passes along — while
    some leaf that is no number (the id, the name, the key asked about) is there and equal in
    both. Arguments that are numbers only must be equal: ``fetch(1)`` then ``fetch(2)`` is the
    next item, not a retry."""
    if fmt(a, 2000) == fmt(b, 2000):
        return True
    la, lb = [], []
    if not (_leaves(a, la) and _leaves(b, lb)) or len(la) != len(lb):
        return False
    named = False
    for x, y in zip(la, lb):
        if _number(x) and _number(y):
            continue
        if isinstance(x, tuple):   # a shape marker: leaves are never tuples
            if x != y:
                return False
            continue
        if fmt(x, 200) != fmt(y, 200):
            return False
        named = True
    return named


def retried(view: RecordingView, caller: Call, error_call: Call) -> Call | None:
    """The later call inside ``caller`` (at any depth, bounded) of the callee that returned the
    error in ``error_call``, asking the same thing (:func:`same_request`: numbers such as an
    attempt counter may differ), that returned no error: the error was answered by asking again,
    and the retry succeeded. None when there is none."""
    key = (error_call.module, error_call.function, error_call.arity)
    after = error_call.end_ts if error_call.end_ts is not None else error_call.ts
    stack, seen = list(view.children(caller)), 0
    while stack and seen < _MAX_WALK:
        x = stack.pop()
        seen += 1
        if (x.module, x.function, x.arity) == key and x.call_id != error_call.call_id and x.ts > after \
                and x.outcome == "return" and not is_error(x.value) and same_request(x.args, error_call.args):
            return x
        stack.extend(view.children(x))
    return None


def _app_calls(view: RecordingView, p: Call, after: int | None, callee: tuple) -> set[tuple]:
    """The application functions called inside ``p`` (at any depth, bounded), after ``after``
    when given — not the callee itself, not generated functions."""
    out: set[tuple] = set()
    stack, seen = list(view.children(p)), 0
    while stack and seen < _MAX_WALK:
        x = stack.pop()
        seen += 1
        key = (x.module, x.function, x.arity)
        if is_app_module(x.module) and not is_generated(x.function) and key != callee and (
                after is None or x.ts >= after):
            out.add(key)
        stack.extend(view.children(x))
    return out


def compare_callers(view: RecordingView, callees: set[tuple]) -> dict[tuple, Comparison]:
    """For every (caller, callee) pair whose callee is in ``callees`` (module, function, arity):
    the caller's calls in which the callee succeeded and in which it failed."""
    out: dict[tuple, Comparison] = defaultdict(Comparison)
    for c in view.calls:
        key = (c.module, c.function, c.arity)
        if key not in callees or c.outcome != "return":
            continue
        failed = is_error(c.value)
        p = _caller_of(c, failed)
        if p is None:
            continue
        cmp = out[(p.module, p.function, p.arity) + key]
        if failed:
            cmp.failed[p.call_id] = p
            cmp.ok.pop(p.call_id, None)
        elif p.call_id not in cmp.failed:
            cmp.ok[p.call_id] = p
    return out
