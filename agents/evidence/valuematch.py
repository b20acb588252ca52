"""Where a stated value (:mod:`.stated`) occurs in a recorded term: a walk over arguments,
results and states that is bounded (:data:`MAX_NODES` nodes a term) and knows when a term was
cut by the agent (then absence cannot be proven).

A value *occurs* in a term when a leaf shows it the way a program holds it: a version, an
identifier or quoted text inside a binary or charlist; an amount as the number (``249``,
``249.0``), in cents (``24900``) or written in a binary (``"EUR 249.00"``); a count — or a whole number
with no unit — as the length of a list (not a duration: "ten minutes"), or as a result that is that integer; a date as a ``Date`` (or
``NaiveDateTime``/``DateTime``) struct or its ISO text — a date stated without a year (``--01-10``)
in any year; a time of day as a ``Time`` (or date-time) struct or its text (``23:41``, ``23:41:07``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal
from typing import Any

from elixir_scope.instrument.etf import Atom
from elixir_scope.instrument.etf.terms import Charlist, FrozenList, FrozenMap

from .stated import MEASURES, TIME_UNITS, StatedValue

MAX_NODES = 4000
TRUNCATED = "$truncated"


class Walk:
    """A bounded walk over one term: at most ``budget`` nodes, then it stops and counts what it
    left (:attr:`skipped`: the subterms not walked — each counts one, however big). Containers
    are opened lazily, one element at a time, so a map of 50,000 entries costs the nodes walked,
    not its size."""

    __slots__ = ("budget", "walked", "skipped")

    def __init__(self, budget: int = MAX_NODES) -> None:
        self.budget, self.walked, self.skipped = budget, 0, 0

    def leaves(self, term: Any) -> Iterator[Any]:
        """Every leaf and every list of ``term`` (lists before their elements, in order), map
        keys too; a ``Date``/``Time``/… struct also as its ISO text."""
        # the stack holds terms, and (iterator, elements left) for containers being opened
        stack: list[Any] = [term]
        while stack:
            t = stack.pop()
            if type(t) is _Open:
                try:
                    x = next(t.it)
                except StopIteration:
                    continue
                t.left -= 1
                stack.append(t)
                t = x
            if self.walked >= self.budget:
                self.skipped += 1 + sum(o.left for o in stack if type(o) is _Open) \
                    + sum(1 for o in stack if type(o) is not _Open)
                return
            self.walked += 1
            if isinstance(t, Charlist):
                yield t
            elif isinstance(t, (list, FrozenList)):
                yield t
                if t:
                    stack.append(_Open(iter(t), len(t)))
            elif isinstance(t, tuple):
                if t:
                    stack.append(_Open(iter(t), len(t)))
            elif isinstance(t, FrozenMap):
                if t:
                    stack.append(_Open((x for kv in t.items() for x in kv), 2 * len(t)))
            elif isinstance(t, dict):
                date = calendar_text(t)
                if date:
                    yield date.encode()
                if t:
                    stack.append(_Open((x for kv in t.items() for x in kv), 2 * len(t)))
            else:
                yield t


class _Open:
    """A container being walked: the rest of its elements, and how many."""

    __slots__ = ("it", "left")

    def __init__(self, it: Iterator[Any], left: int) -> None:
        self.it, self.left = it, left


def leaves(term: Any, budget: int = MAX_NODES) -> Iterator[Any]:
    """Every leaf and every list of ``term`` (lists before their elements), at most ``budget``
    nodes (:class:`Walk`, when the caller wants to know what was left). Map keys are leaves too."""
    return Walk(budget).leaves(term)


def calendar_text(t: dict) -> str | None:
    """A ``Date``, ``Time``, ``NaiveDateTime`` or ``DateTime`` struct as its ISO text."""
    st = t.get(Atom("__struct__"))
    if not isinstance(st, Atom) or st.name not in _CALENDAR_STRUCTS:
        return None
    y, m, d, hh, mm, ss = (t.get(Atom(k)) for k in ("year", "month", "day", "hour", "minute", "second"))
    date = f"{y:04d}-{m:02d}-{d:02d}" if all(isinstance(x, int) for x in (y, m, d)) else ""
    clock = f"{hh:02d}:{mm:02d}:{ss:02d}" if all(isinstance(x, int) for x in (hh, mm, ss)) else ""
    return "T".join(p for p in (date, clock) if p) or None


_CALENDAR_STRUCTS = frozenset(("Elixir.Date", "Elixir.Time", "Elixir.NaiveDateTime", "Elixir.DateTime"))


def _text(leaf: Any) -> str | None:
    if isinstance(leaf, bytes):
        return leaf.decode("utf-8", "replace")
    if isinstance(leaf, Charlist):
        try:
            return "".join(chr(c) for c in leaf)
        except (TypeError, ValueError):
            return None
    return None


def _bounded(pattern: str) -> re.Pattern:
    return re.compile(r"(?<![\w.])" + re.escape(pattern) + r"(?![\w]|\.\d)")


def _numbers(v: StatedValue) -> set[Decimal]:
    if v.number is None:
        return set()
    if v.kind == "money":
        return {v.number, v.number * 100}
    return {v.number}


def _rounds_to(numbers: set[Decimal], stated: Decimal) -> bool:
    """A computed float that the program rounded for display to the number the user read: the
    user states ``287.51`` (two decimals), the function that made it returned
    ``287.5118111019372`` (four or more decimals beyond the stated ones, as float arithmetic
    leaves them) and rounds to it. A plain number with decimals only (not money: amounts are
    compared as written and in cents)."""
    exp = stated.as_tuple().exponent
    if not isinstance(exp, int) or exp >= 0:
        return False
    unit = Decimal(1).scaleb(exp)
    for x in numbers:
        xe = x.as_tuple().exponent
        if isinstance(xe, int) and xe <= exp - 4 and abs(x - stated) < unit \
                and stated in (x.quantize(unit, ROUND_HALF_UP), x.quantize(unit, ROUND_HALF_EVEN)):
            return True
    return False


def significant(v: StatedValue) -> bool:
    """Whether ``v`` is specific enough to look for: small integers occur everywhere."""
    if v.kind in ("text", "version", "identifier", "date", "time"):
        return len(v.text) >= 3
    if v.number is None:
        return False
    if v.kind == "money":   # "one cent" is 1 in cents: it occurs everywhere; "28 cents" is as specific as 28
        return abs(v.number) >= 5 or (abs(v.number) >= 1 and v.number != v.number.to_integral_value()) \
            or (v.unit == "cent" and abs(v.number) >= Decimal("0.10"))
    if v.kind == "count":
        return v.number >= 3
    return abs(v.number) >= 10 or v.number != v.number.to_integral_value()


@dataclass
class Digest:
    """What :func:`occurs` needs of one term, computed once: its numbers, texts and list lengths."""

    numbers: set[Decimal] = field(default_factory=set)
    texts: list[str] = field(default_factory=list)
    lengths: set[int] = field(default_factory=set)
    whole: int | None = None   # the term is this integer (or ``{:ok, n}``): a count stands alone
    cut: bool = False
    # subterms the walk left once it had walked :data:`MAX_NODES` nodes (0: the whole term):
    # counted, never silent (a value might be in the part not walked)
    skipped: int = 0


MAX_TEXTS, MAX_TEXT_LEN = 300, 4000


def digest(term: Any, budget: int = MAX_NODES) -> Digest:
    """What :func:`occurs` needs of ``term``, from a walk of at most ``budget`` nodes (what it
    left is counted in ``skipped``)."""
    d = Digest()
    top = term[1] if isinstance(term, tuple) and len(term) == 2 and getattr(term[0], "name", None) == "ok" else term
    if isinstance(top, int) and not isinstance(top, bool):
        d.whole = top
    walk = Walk(budget)
    for leaf in walk.leaves(term):
        if isinstance(leaf, bool):
            continue
        if isinstance(leaf, Atom):
            d.cut = d.cut or leaf.name == TRUNCATED
        elif isinstance(leaf, int):
            d.numbers.add(Decimal(leaf))
        elif isinstance(leaf, float):
            d.numbers.add(Decimal(repr(leaf)))
        elif isinstance(leaf, (list, FrozenList)) and not isinstance(leaf, Charlist):
            if not any(isinstance(x, Atom) and x.name == TRUNCATED for x in leaf):
                d.lengths.add(len(leaf))
        else:
            s = _text(leaf)
            if s is not None and len(d.texts) < MAX_TEXTS:
                d.texts.append(s[:MAX_TEXT_LEN])
    d.skipped = walk.skipped
    return d


class Digests:
    """Digests computed once per term, by identity, while one recording is analysed: the same
    recorded state is an argument of one callback and in the result of the one before, and
    several analyses ask about the same calls. Holds the terms it digested (their ids stay
    theirs) and at most ``limit`` of them, then digests without keeping."""

    def __init__(self, limit: int = 50_000) -> None:
        self._got: dict[int, tuple[Any, Digest]] = {}
        self.limit = limit

    def __call__(self, term: Any) -> Digest:
        hit = self._got.get(id(term))
        if hit is not None and hit[0] is term:
            return hit[1]
        d = digest(term)
        if len(self._got) < self.limit:
            self._got[id(term)] = (term, d)
        return d


def held(v: StatedValue, d: Digest) -> bool:
    """Whether the term ``d`` digests may hold ``v`` in any form: :func:`occurs`, or — for a plain
    number or a count — any number leaf equal to it (a field of a map or a struct, the size a list
    is built to). What a call was *given* is
    matched this loosely, so that a call picking a field out of its input (``& &1.pm25``) is not
    taken for the one that made the value; what it *returned* is matched by :func:`occurs`."""
    if occurs(v, d):
        return True
    if v.kind not in ("number", "count") or v.number is None:
        return False   # a count given as a number (``kids("F", 24)``) is given too
    return any(abs(x - v.number) < Decimal("0.0001") for x in d.numbers)


_FIELD_SEP = re.compile(r"[;,|\t=:\s]+")
_PLAIN_NUMBER = re.compile(r"^[-+]?\d+(?:\.\d+)?$")
MAX_TOKENS = 200   # fields of one text looked at


def as_text_field(v: StatedValue, d: Digest) -> bool:
    """Whether a text of ``d`` holds ``v``'s number written out as one of its fields: the whole
    text ("95") or a field of a line ("ann;95", "score=95"). A call given the number that way and
    returning it as a number converted what it was given — it did not make the value."""
    if v.number is None or v.kind not in ("number", "count"):
        return False
    for t in d.texts:
        for tok in _FIELD_SEP.split(t, MAX_TOKENS)[:MAX_TOKENS]:
            if tok and _PLAIN_NUMBER.match(tok) and abs(Decimal(tok) - v.number) < Decimal("0.0001"):
                return True
    return False


def occurs(v: StatedValue, d: Digest, *, lengths: bool = True) -> bool:
    """Whether ``v`` occurs in the term ``d`` digests (see the module's docstring)."""
    nums = _numbers(v)
    measure = v.kind == "number" and v.unit in MEASURES   # "180 degrees": a field's value, int or float
    if v.kind == "count" or (v.kind == "number" and v.unit != "%" and not measure and v.number is not None
                             and v.number == v.number.to_integral_value() and "." not in v.text):
        # (a number written with decimals — "420.00" — is an amount, matched as a number below)
        n = int(v.number) if v.number is not None else None
        # a count is a number of things: a list of that length, or a result that is that number
        # (an integer deep inside a struct — a version's minor — is not a count)
        # (a small number alone is any field's value: only a list of that length counts for it)
        # (a duration — "ten minutes" — is a number the program holds, never a list's length)
        lengths = lengths and (v.unit or "").lower() not in TIME_UNITS
        return n is not None and ((n == d.whole and n >= 10) or (lengths and n in d.lengths))
    if nums and any(abs(x - n) < Decimal("0.0001") for x in d.numbers for n in nums):
        return True
    if v.kind == "number" and v.number is not None and _rounds_to(d.numbers, v.number):
        return True
    if v.kind == "text":
        return any(v.text in s for s in d.texts)
    if v.kind == "date" and v.text.startswith("--"):   # a day of a month, in any year
        rx = re.compile(r"(?<![\w.])\d{4}" + re.escape(v.text[1:]) + r"(?![\d])")
        return any(rx.search(s) for s in d.texts)
    if v.kind == "time":   # a time of day, with or without its seconds
        rx = re.compile(r"(?<![\d:.])" + re.escape(v.text) + r"(?![\d]|:\d\d\.)")
        return any(rx.search(s) for s in d.texts)
    if v.kind in ("version", "identifier", "date"):
        rx = _bounded(v.text)
        return any(rx.search(s) for s in d.texts)
    written = re.sub(r"^[^\d-]+|[^\d]+$", "", v.text)
    if written and any(ch in written for ch in ".,"):
        rx = _bounded(written)
        return any(rx.search(s) for s in d.texts)
    return False
