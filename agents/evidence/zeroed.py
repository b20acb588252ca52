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
| ``zero_answered`` | only when the symptom states a zero that came out (``0.00``, ``0``) and a non-zero value it expected: the deepest application call (not the trigger) that returned ``0`` or ``0.0`` while one of its arguments was not a zero nor empty — low confidence; **confident** (:data:`CONFIDENT`) when a second, independent piece of evidence holds: the sources show that function looking its key up in a literal table with a default of zero (``Map.get(@rates, code, @default_rate)``, knowledge/source/stores.py) and the text it was given is in another form than every key of the table while one of them is that text's prefix, or it is theirs (:func:`key_in_other_form`: ``"8471.30"`` against the headings ``"8471"``, ``"0901"`` …) — the lookup fell back to its default | that function, with its argument and the zero |

Bounded: :data:`MAX_CALLS` calls looked at, :data:`MAX_FACTS` facts.
"""

from __future__ import annotations

from itertools import islice
from typing import Any

from elixir_scope.instrument.etf import Atom

from ..findings import Finding
from ..view import Call, RecordingView, fmt
from .book import FactBook
from .common import app_returns, culprit_of, deepest_per_function
from .stated import stated_values

__all__ = ["analyses", "key_in_other_form", "says_zero", "zeros_answered"]

MAX_CALLS = 20_000
MAX_FACTS = 1
#: a zero can be right for its input: low, so that only a chain of effects lifts it to a verdict;
#: above a value made elsewhere that the symptom states as a fact (``value_origin``, 0.35) — the
#: symptom said the zero is what came out
CONFIDENCE = 0.37
#: the zero came from a table lookup's default, for a key in another form than every key of the table
CONFIDENT = 0.72


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


def _shape(text: str) -> str:
    """A key's form: digits as ``9``, letters as ``a``, anything else as it is (``"8471.30"`` →
    ``"9999.99"``)."""
    return "".join("9" if ch.isdigit() else "a" if ch.isalpha() else ch for ch in text)


def _bare(text: str) -> str:
    return "".join(ch for ch in text.lower() if ch.isalnum())


def key_in_other_form(asked: str, keys: list[str]) -> str | None:
    """The key of ``keys`` that ``asked`` stands for in another form, when every key (two or more)
    has one form (:func:`_shape`), ``asked`` is not among them and has another, and, letters and
    digits alone, one key is its prefix or it is the key's (a full code looked up in a table of
    its headings; a heading looked up among full codes). None otherwise."""
    if not asked or asked in keys or len(keys) < 2:
        return None
    forms = {_shape(k) for k in keys}
    if len(forms) != 1 or _shape(asked) in forms:
        return None
    bare = _bare(asked)
    if not bare:
        return None
    hits = [k for k in keys if _bare(k) and (bare.startswith(_bare(k)) or _bare(k).startswith(bare))]
    return hits[0] if len(hits) == 1 else None


def _table_default(stores: dict | None, c: Call) -> tuple[str, dict] | None:
    """(the key the asked text stands for, the table) when the sources show ``c``'s function
    looking a key up in a literal table with a default of zero and its text argument is in
    another form than every key of that table."""
    tables = ((stores or {}).get("tables") or {}).get(c.mfa) or []
    texts = [a.decode("utf-8", "replace") for a in c.args if isinstance(a, bytes) and 0 < len(a) <= 200]
    for t in tables:
        try:
            zero = t.get("default") is not None and float(t["default"]) == 0
        except ValueError:
            zero = False
        if not zero:
            continue
        for asked in texts:
            key = key_in_other_form(asked.strip(), list(t.get("keys") or []))
            if key is not None:
                return key, t
    return None


def zeros_answered(view: RecordingView, book: FactBook, stores: dict | None = None) -> None:
    hits = [(c, None) for c in islice(app_returns(view), MAX_CALLS)
            if _zero(c.value) and c.args and not all(_trivial(a) for a in c.args)]
    made = 0
    for c, _, same in deepest_per_function(hits):
        zero = fmt(c.value, 10)
        table = _table_default(stores, c)
        why = "" if table is None else (
            f" The sources show {c.mfa} looking its key up in a table of {len(table[1]['keys'])} keys with a "
            f"default of {table[1]['default']} (line {table[1].get('line')}): the table holds {table[0]!r}, the form "
            f"every key of it has, and it was asked for {fmt(c.args, 40)} — another form of that key, so the "
            "lookup fell back to its default.")
        book.add(Finding(
            detector="zero_answered",
            title=f"{c.mfa} answered {zero} for {fmt(c.args, 60)}",
            summary=(f"The symptom says a value came out zero where another was expected. {c.mfa} answered {zero} "
                     f"given {fmt(c.args, 100)} ({same} such call(s)), the deepest call in the recording to answer a "
                     "bare zero for an input that is not one: a lookup that fell back to a default of 0 (the key in "
                     "another form than the table's), a factor of 0 for a case no clause covers — one multiplication "
                     "by it zeroes the result." + why),
            severity="high" if table else "medium", confidence=CONFIDENT if table else CONFIDENCE,
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


def analyses(symptom: str, stores: dict | None = None):
    """``zero_answered`` when the symptom states a zero that came out and a non-zero it expected
    (``stores``: the sources' lookup tables, knowledge/source/stores.py)."""
    if not says_zero(symptom):
        return []

    def zeros(view: RecordingView, book: FactBook) -> None:
        zeros_answered(view, book, stores)
    return [zeros]
