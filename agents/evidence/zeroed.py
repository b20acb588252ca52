"""A wrong zero: the helper that answered a bare 0 the stated value was made from.

"Assessed with EUR 0.00 duty, we expected about EUR 350"; "the discount came out 0"; "0 points
for a paid order". When the user says a value came out zero where a non-zero one was expected, the
zero was usually not computed from the inputs but *answered* by a helper — a lookup that fell back
to its default of 0 (a key in another form than the table's: a full code for a heading, a string for
an atom), a rate or a factor of 0 for a case its clauses do not cover — and one multiplication by
it zeroed the result. The deepest application call that returned a bare ``0`` or ``0.0`` given a
non-trivial argument is where to look first. A zero can be right for its input, so the fact is of low
confidence (:data:`CONFIDENCE`): on its own it names the suspect, not a root cause.

| kind | what | culprit |
| --- | --- | --- |
| ``zero_answered`` | only when the symptom states a zero that came out (``0.00``, ``0``) and a non-zero value it expected: the deepest application call (not the trigger) that returned ``0`` or ``0.0`` while one of its arguments was not a zero nor empty — low confidence | that function, with its argument and the zero |

Bounded: :data:`MAX_CALLS` calls looked at, :data:`MAX_FACTS` facts.
"""

from __future__ import annotations

from itertools import islice
from typing import Any

from elixir_scope.instrument.etf import Atom

from ..findings import Finding
from ..view import Call, RecordingView, fmt
from .book import FactBook
from .common import ancestors, app_returns, culprit_of
from .stated import stated_values

__all__ = ["analyses", "says_zero", "zeros_answered"]

MAX_CALLS = 20_000
MAX_FACTS = 1
#: a zero can be right for its input: low, so that only a chain of effects lifts it to a verdict;
#: above a value made elsewhere that the symptom states as a fact (``value_origin``, 0.35) — the
#: symptom said the zero is what came out
CONFIDENCE = 0.37


def says_zero(symptom: str) -> bool:
    """The symptom states a zero that came out and a non-zero value it expected."""
    values = stated_values(symptom or "")
    zero = any(v.number is not None and v.number == 0 and v.role != "expected" for v in values)
    wanted = any(v.number is not None and v.number != 0 and v.role == "expected" for v in values)
    return zero and wanted


def _zero(v: Any) -> bool:
    return (isinstance(v, (int, float)) and not isinstance(v, bool)) and v == 0


def _trivial(v: Any) -> bool:
    return _zero(v) or v in ([], (), {}, b"", "") or (isinstance(v, Atom) and v.name in ("nil", "false", "undefined"))


def zeros_answered(view: RecordingView, book: FactBook) -> None:
    hits: list[Call] = []
    for c in islice(app_returns(view), MAX_CALLS):
        if _zero(c.value) and c.args and not all(_trivial(a) for a in c.args):
            hits.append(c)
    outer: set[int] = set()
    for c in hits:
        outer |= ancestors(c)
    made = 0
    done: set[tuple] = set()
    for c in hits:
        key = (c.module, c.function, c.arity)
        if c.call_id in outer or key in done:
            continue
        done.add(key)
        same = sum(1 for h in hits if (h.module, h.function, h.arity) == key)
        zero = fmt(c.value, 10)
        book.add(Finding(
            detector="zero_answered",
            title=f"{c.mfa} answered {zero} for {fmt(c.args, 60)}",
            summary=(f"The symptom says a value came out zero where another was expected. {c.mfa} answered {zero} "
                     f"given {fmt(c.args, 100)} ({same} such call(s)), the deepest call in the recording to answer a "
                     "bare zero for an input that is not one: a lookup that fell back to a default of 0 (the key in "
                     "another form than the table's), a factor of 0 for a case no clause covers — one multiplication "
                     "by it zeroes the result."),
            severity="medium", confidence=CONFIDENCE,
            culprit=culprit_of(view, c, None).model_copy(update={"detail": f"{fmt(c.args, 60)} → {zero}"}),
            evidence=[view.call_evidence(c, f"{c.mfa} given {fmt(c.args, 100)}"),
                      view.end_evidence(c, f"{c.mfa} answered {zero}")],
            signatures=["data:zero_answered"],
            fix_hint=(f"Check what {c.mfa} answers for this input: a lookup should find its key in the form the "
                      "table keeps (normalise the key first), and a missing case should fail loudly rather than "
                      "answer 0.")),
            pid=c.pid, ts=c.ts)
        made += 1
        if made >= MAX_FACTS:
            return


def analyses(symptom: str):
    """``zero_answered`` when the symptom states a zero that came out and a non-zero it expected."""
    return [zeros_answered] if says_zero(symptom) else []
