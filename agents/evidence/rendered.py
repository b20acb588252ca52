"""A text the user quotes that a function only rendered from a record it was given.

The symptom quotes a line as the screen printed it ("'0 g fresh yeast'", "'3 x cable ties'");
:mod:`.provenance` finds the first call whose result holds that text while its arguments do not:
the function that formatted it (``"#{q} #{u} #{i}"``). When every number of the text, and most of
its words (the rest is the format's glue: "of", "x"), are field values of one record (a map or
struct) among that call's arguments, the formatter made
nothing wrong — it printed what it was given, so the text is wrong where the record was made: a
value that is wrong is wrong at the function that computed it, not where it is displayed.

:func:`rendered_record` then follows that record back: the innermost earlier call, in the
application, whose result holds a record equal to it while its arguments hold none (the call that
built or changed it — a ``%{line | qty: …}``). Its arguments must have been recorded whole (a cut
argument proves nothing). Nothing here knows a domain: only the quoted text and the recorded terms.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from decimal import Decimal, InvalidOperation
from typing import Any

from elixir_scope.instrument.etf import Atom
from elixir_scope.instrument.etf.terms import FrozenList, FrozenMap

from ..view import Call
from .common import ancestors
from .stated import StatedValue

MAX_NODES = 2000     # terms walked per argument list / result
MAX_RECORDS = 50     # records looked at in one call's arguments
MAX_PRODUCERS = 2000  # calls before the print examined for the record (the latest)

_TOKEN = re.compile(r"\d+(?:\.\d+)?|[^\W\d_]+", re.UNICODE)


def tokens(text: str) -> list[str]:
    """The words and numbers of a quoted text (punctuation and unit symbols between them dropped)."""
    return _TOKEN.findall(text)


def _records(term: Any, budget: int = MAX_NODES) -> Iterator[dict | FrozenMap]:
    """Every map inside ``term`` (outermost first), bounded."""
    stack, walked = [term], 0
    while stack and walked < budget:
        t = stack.pop()
        walked += 1
        if isinstance(t, (dict, FrozenMap)):
            yield t
            stack.extend(reversed(list(t.values())))
        elif isinstance(t, (list, tuple, FrozenList)) and not isinstance(t, Atom):
            stack.extend(reversed(list(t)))


def _covers(record: dict | FrozenMap, words: list[str]) -> bool:
    """The text reads as ``record`` printed: every number of it equals a number field of the
    record itself (not of a record nested in it), and most of its words (at least one, and no
    fewer than the rest: the glue a format adds — "of", "x", "kg") are inside its text or atom
    fields. At least one token must be a number (what a record's field computed)."""
    numbers: list[Decimal] = []
    texts: list[str] = []
    for k, x in record.items():
        if isinstance(k, Atom) and k.name == "__struct__":
            continue
        if isinstance(x, bool):
            continue
        if isinstance(x, (int, float)):
            numbers.append(Decimal(str(x)))
        elif isinstance(x, bytes):
            texts.append(x.decode("utf-8", "replace").casefold())
        elif isinstance(x, Atom) and x.name not in ("nil", "true", "false"):
            texts.append(x.name.casefold())
    digits = [w for w in words if w[0].isdigit()]
    if not numbers or not digits:
        return False
    for w in digits:
        try:
            if Decimal(w) not in numbers:
                return False
        except InvalidOperation:
            return False
    said = [w for w in words if not w[0].isdigit()]
    held = sum(1 for w in said if any(w.casefold() in t.split() or w.casefold() == t for t in texts))
    return held >= 1 and held >= len(said) - held


def rendered_from(call: Call, v: StatedValue) -> dict | FrozenMap | None:
    """The record among ``call``'s arguments whose field values make up the quoted text ``v``
    (every number and most words of it: :func:`_covers`), when ``call`` returned that text: the call only rendered it.
    The smallest such record (the line, not the recipe that holds it); None otherwise."""
    if v.kind != "text" or not isinstance(call.value, bytes):
        return None
    words = tokens(v.text)
    if len(words) < 2:
        return None
    found = [r for i, r in enumerate(_records(tuple(call.args))) if i < MAX_RECORDS and _covers(r, words)]
    return min(found, key=len) if found else None


def _holds(term: Any, record: dict | FrozenMap) -> bool:
    return any(r == record for r in _records(term))


def rendered_record(call: Call, v: StatedValue, earlier: list[Call],
                    cut: Callable[[Call], bool] = lambda c: False) -> tuple[Call, dict | FrozenMap] | None:
    """When ``call`` only rendered ``v`` from a record it was given: the innermost call among
    ``earlier`` (returned calls of the application, in any order) that started before it, whose
    result holds that record and whose arguments do not — where the record was made — with the
    record; else None. ``cut(c)``: whether the agent cut ``c``'s arguments (then it is no maker:
    the record may be in the part cut off)."""
    record = rendered_from(call, v)
    if record is None:
        return None
    makers, above = [], ancestors(call)
    before = sorted((c for c in earlier if c.ts <= call.ts), key=lambda c: c.ts)
    for c in before[-MAX_PRODUCERS:]:   # the latest before the print: the record was made shortly before
        if c is call or c.outcome != "return" or c.call_id in above:
            continue
        if _holds(c.value, record) and not _holds(tuple(c.args), record) and not cut(c):
            makers.append(c)
    if not makers:
        return None
    outer: set[int] = set()
    for c in makers:
        outer |= ancestors(c)
    inner = [c for c in makers if c.call_id not in outer]
    return min(inner, key=lambda c: (c.ts, c.call_id)), record
