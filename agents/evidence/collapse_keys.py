"""Which key a collection was reduced by — the inference behind :mod:`.collapsed`.

Records are maps, structs or tuples; a *key* is what a program computes from one to decide which
records are the same: one field as it is, one field *derived* (text lower-cased and trimmed, the
date of a time stamp, a number rounded or truncated), two fields together (a tuple ``{a, b}``,
each as it is or derived alike), or two fields written into one text (``"#{a}-#{b}"``). A key
*explains* a reduction when the records that came out are exactly one per value of it:

- a list that came out of a list (``uniq_by``, ``dedup_by``, ``group_by |> map(hd)``,
  ``List.keystore`` in a reduce): the kept records hold distinct values, and every value the input
  held is among them (:func:`list_key`);
- a map that came out of a list (``Map.new``, ``Enum.into``, a reduce of ``Map.put``): its keys,
  derived alike, are the values the input held, one each (:func:`map_key`);
- a list that came out of a list *and a set of keys seen before* (a ``MapSet`` or a map given as
  an argument, or held in a field of one): the kept records' values are new and distinct, every
  record dropped holds a value that was seen (:func:`seen_key`).

The simplest key that explains the reduction is taken (one field before two, as it is before
derived). Everything is bounded: :data:`MAX_ITEMS` records, :data:`MAX_PAIR_FIELDS` fields paired.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from elixir_scope.instrument.etf import Atom
from elixir_scope.instrument.etf.terms import Charlist, FrozenList, FrozenMap

from ..view import fmt

MAX_ITEMS = 500        # records of one list looked at
MAX_PAIR_FIELDS = 12   # fields of a record tried two by two
MAX_SEEN = 5000        # keys of a seen-set looked at
_SEPARATORS = ("-", "_", ":", "/", "|", ".", " ", "#", "")
_DATE_TEXT = re.compile(rb"^(\d{4})-(\d{2})-(\d{2})")
_DATE_STRUCTS = ("Elixir.Date", "Elixir.DateTime", "Elixir.NaiveDateTime")
_ID_NAME = re.compile(r"^(?:id|uuid|ref|.+_(?:id|uuid|ref))$", re.I)


def fields(r: Any) -> dict[Any, Any] | None:
    """A record's fields: a map's or a struct's (not ``__struct__``), a tuple's by position."""
    if isinstance(r, FrozenMap):
        r = r.thaw()
    if isinstance(r, dict) and 2 <= len(r) <= 64:
        return {k: v for k, v in r.items() if not (isinstance(k, Atom) and k.name == "__struct__")}
    if isinstance(r, tuple) and 2 <= len(r) <= 12:
        return dict(enumerate(r))
    return None


def field_name(k: Any) -> str:
    """A field as the code names it: ``region`` (an atom key), ``"region"``, ``element 1`` (of a tuple)."""
    if isinstance(k, Atom):
        return k.name
    return f"element {k}" if isinstance(k, int) else fmt(k, 40)


def canon(x: Any) -> Any:
    """A hashable stand-in for a term, equal for equal terms (maps and lists by their text)."""
    if isinstance(x, (dict, list, FrozenMap, FrozenList)):
        return ("$term", fmt(x.thaw() if isinstance(x, FrozenMap) else x, 200))
    try:
        hash(x)
        return x
    except TypeError:
        return ("$term", fmt(x, 200))


def _text(v: Any) -> str | None:
    if isinstance(v, (bytes, bytearray)):
        return bytes(v).decode("utf-8", "replace")
    if isinstance(v, Charlist):
        return v.text
    if isinstance(v, str):
        return v
    return None


def _word(v: Any) -> str | None:
    """How a value reads inside interpolated text (``"#{v}"``): text, an atom's name, an integer."""
    t = _text(v)
    if t is not None:
        return t
    if isinstance(v, Atom):
        return v.name
    if isinstance(v, int) and not isinstance(v, bool):
        return str(v)
    return None


def _folded(v: Any) -> Any:
    t = _text(v)
    return None if t is None else t.strip().casefold()


def _date(v: Any) -> Any:
    if isinstance(v, FrozenMap):
        v = v.thaw()
    if isinstance(v, dict):
        s = v.get(Atom("__struct__"))
        if isinstance(s, Atom) and s.name in _DATE_STRUCTS:
            parts = (v.get(Atom("year")), v.get(Atom("month")), v.get(Atom("day")))
            return "%04d-%02d-%02d" % parts if all(isinstance(p, int) for p in parts) else None
        return None
    if isinstance(v, (bytes, bytearray)):
        m = _DATE_TEXT.match(bytes(v))
        return "-".join(g.decode() for g in m.groups()) if m else None
    return None


def _number(v: Any) -> float | None:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) else None


def _rounded(v: Any) -> Any:
    x = _number(v)
    return None if x is None else int(math.floor(abs(x) + 0.5)) * (1 if x >= 0 else -1)


def _truncated(v: Any) -> Any:
    x = _number(v)
    return None if x is None else int(x)


# (how the key reads, the derivation): each derives the same from a record's field and a key
DERIVATIONS: tuple[tuple[str, Callable[[Any], Any]], ...] = (
    ("{}", canon),
    ("{} lower-cased and trimmed", _folded),
    ("the date of {}", _date),
    ("{} rounded", _rounded),
    ("{} truncated", _truncated),
)


@dataclass(frozen=True)
class Key:
    """How records are told apart: ``of`` a record's fields, ``of_key`` a map key or a seen key."""
    fields: tuple[Any, ...]
    text: str                        # "{region, kind}", "the date of at", "\"#{sku}-#{bin}\""
    of: Callable[[dict], Any]
    of_key: Callable[[Any], Any]

    @property
    def derived(self) -> bool:
        return len(self.fields) > 1 or self.text != field_name(self.fields[0])


def _single(f: Any, how: str, d: Callable[[Any], Any]) -> Key:
    return Key((f,), how.format(field_name(f)), lambda r: d(r[f]), d)


def _pair(f: Any, g: Any, how: tuple[str, str], d: tuple[Callable[[Any], Any], Callable[[Any], Any]]) -> Key:
    def of(r: dict) -> Any:
        a, b = d[0](r[f]), d[1](r[g])
        return None if a is None or b is None else (a, b)

    def of_key(k: Any) -> Any:
        if not (isinstance(k, tuple) and len(k) == 2):
            return None
        a, b = d[0](k[0]), d[1](k[1])
        return None if a is None or b is None else (a, b)
    return Key((f, g), "{" + how[0].format(field_name(f)) + ", " + how[1].format(field_name(g)) + "}", of, of_key)


def _joined(f: Any, g: Any, sep: str) -> Key:
    def of(r: dict) -> Any:
        a, b = _word(r[f]), _word(r[g])
        return None if a is None or b is None else a + sep + b
    label = f'"#{{{field_name(f)}}}{sep}#{{{field_name(g)}}}"'
    return Key((f, g), label, of, _text)


def candidates(common: list[Any], *, joined: bool, allowed: set | None = None) -> Iterator[Key]:
    """Keys from the simplest on: one field as it is, one derived, two as they are, two derived,
    two written into one text (``joined``); only of the ``(field, derivation)`` pairs ``allowed``
    when given."""
    def ok(f: Any, d: Callable[[Any], Any]) -> bool:
        return allowed is None or (f, d) in allowed
    for how, d in DERIVATIONS:
        for f in common:
            if ok(f, d):
                yield _single(f, how, d)
    if allowed is not None:
        common = [f for f in common if any((f, d) in allowed for _, d in DERIVATIONS[:3])]
    few = common[:MAX_PAIR_FIELDS]
    both = [(a, b) for a in DERIVATIONS[:3] for b in DERIVATIONS[:3]]
    for derived in (0, 1, 2):   # two fields as they are, then one derived, then both
        for (ha, da), (hb, db) in both:
            if (da is not canon) + (db is not canon) != derived:
                continue
            for f in few:
                for g in few:
                    if f != g and ok(f, da) and ok(g, db):
                        yield _pair(f, g, (ha, hb), (da, db))
    if joined:
        for f in few:
            for g in few:
                if f != g:
                    for sep in _SEPARATORS:
                        yield _joined(f, g, sep)


def _records(items: list) -> tuple[list[dict], list[Any]] | None:
    if not 2 <= len(items) <= MAX_ITEMS:
        return None
    recs = [fields(r) for r in items]
    if any(r is None for r in recs):
        return None
    return recs, sorted(set(recs[0]).intersection(*recs[1:]), key=repr)


def _values(key: Key, recs: list[dict]) -> list[Any] | None:
    out = []
    for r in recs:
        try:
            v = key.of(r)
        except (KeyError, TypeError, ValueError, OverflowError):
            return None
        if v is None:
            return None
        out.append(v)
    return out


def list_key(items: list, out: list) -> tuple[Key, list] | None:
    """(the key, the kept records) when the list ``out`` is ``items`` reduced to one per key."""
    got = _records(items)
    if got is None or not 1 <= len(out) < len(items) or not all(x in items for x in out):
        return None
    recs, common = got
    outs = [fields(r) for r in out]
    for key in candidates(common, joined=False, allowed=_covering(common, outs, [r for r, x in zip(recs, items)
                                                                               if x not in out])):
        kept = _values(key, outs)
        if kept is None or len(set(kept)) != len(out):
            continue
        every = _values(key, recs)
        if every is not None and set(every) == set(kept):
            return key, list(out)
    return None


def _covering(common: list[Any], kept: list[dict], dropped: list[dict]) -> set:
    """The ``(field, derivation)`` pairs under which every dropped record holds a value a kept
    one holds: a key (one field, or two) can only be made of those — a filter, whose dropped
    records share no such field with the kept ones, costs one pass."""
    out = set()
    for f in common:
        for _, d in DERIVATIONS:
            try:
                have = {d(r[f]) for r in kept}
                if None not in have and all(d(r[f]) in have for r in dropped):
                    out.add((f, d))
            except (TypeError, ValueError, OverflowError):
                continue
    return out


def map_key(items: list, out: dict) -> tuple[Key, list] | None:
    """(the key, the kept records) when the map ``out`` holds ``items`` one per key: its values the
    records (or one of their fields), its keys their keys."""
    got = _records(items)
    if got is None or not 1 <= len(out) < len(items):
        return None
    recs, common = got
    for key in candidates(common, joined=True):
        try:
            by = {key.of_key(k): v for k, v in out.items()}
        except (TypeError, ValueError, OverflowError):
            continue
        if None in by or len(by) != len(out):
            continue
        every = _values(key, recs)
        if every is None or set(every) != set(by):
            continue
        kept = [x for x, r, k in zip(items, recs, every)
                if by[k] == x or any(by[k] == v for g, v in r.items() if g not in key.fields)]
        if {k for x, k in zip(items, every) if x in kept} != set(by):
            return None   # a value no record holds: an aggregate per key (a sum), not one record kept
        return key, kept
    return None


def seen_sets(args: list, skip: int) -> Iterator[list]:
    """The sets of keys among a call's arguments (not the ``skip``-th): a ``MapSet``, a map's keys,
    a list of keys (no maps in it), or such a set held in a field of a map or struct argument, or
    in an element of a tuple."""
    def keys_of(t: Any) -> list | None:
        if isinstance(t, list) and t and not any(isinstance(x, (dict, list)) for x in t[:MAX_SEEN]):
            return t[:MAX_SEEN]   # a list of keys (not of records: those are maps, or lists)
        if isinstance(t, dict):
            s = t.get(Atom("__struct__"))
            if isinstance(s, Atom):
                inner = t.get(Atom("map")) if s.name == "Elixir.MapSet" else None
                return list(inner)[:MAX_SEEN] if isinstance(inner, dict) else None
            return list(t)[:MAX_SEEN]
        return None
    for i, a in enumerate(args):
        if i == skip:
            continue
        ks = keys_of(a)
        if ks:
            yield ks
        inner = list(a.values()) if isinstance(a, dict) else list(a) if isinstance(a, tuple) else []
        for v in inner[:64]:
            ks = keys_of(v)
            if ks:
                yield ks


def seen_key(items: list, out: list, seen: list) -> tuple[Key, list] | None:
    """(the key, the records dropped because their key was in ``seen``) when the list ``out`` is
    ``items`` less those whose key was seen before (or earlier in ``items``): the kept records'
    keys new and distinct, and at least one record dropped for a key of ``seen``."""
    got = _records(items)
    if got is None or not 1 <= len(out) < len(items) or not all(x in items for x in out):
        return None
    recs, common = got
    dropped = [(x, r) for x, r in zip(items, recs) if x not in out]
    for key in candidates(common, joined=True):
        try:
            known = {key.of_key(k) for k in seen}
        except (TypeError, ValueError, OverflowError):
            continue
        known.discard(None)
        if not known:
            continue
        kept = _values(key, [fields(r) for r in out])
        if kept is None or len(set(kept)) != len(out) or known.intersection(kept):
            continue
        lost = _values(key, [r for _, r in dropped])
        if lost is None or not all(v in known or v in kept for v in lost):
            continue
        hit = [x for (x, _), v in zip(dropped, lost) if v in known]
        if hit:
            return key, hit
    return None


def _name(f: Any) -> str | None:
    return f.name if isinstance(f, Atom) else _text(f)


def _code_like(vals: list) -> bool:
    """Values that read as identifiers: texts sharing a prefix and ending in digits (``TRK-5501``),
    or whole numbers close together (``70311``, ``70312``)."""
    texts = [_text(v) for v in vals]
    if all(t is not None for t in texts):
        head = texts[0][:2]
        return all(t[:2] == head and t[-1:].isdigit() for t in texts)
    if all(isinstance(v, int) and not isinstance(v, bool) for v in vals):
        return max(vals) - min(vals) < 2 * len(vals) and max(vals) >= 100
    return False


def identity(a: dict, b: dict, key: Key, recs: list[dict]) -> Any | None:
    """The field that tells ``a`` and ``b`` apart, of those they differ in that the key does not
    use: one named as an identifier (``id``, ``order_id``), else one whose values are distinct
    across ``recs`` and read as identifiers, else one distinct, else any that is no float (a
    measurement differs between any two items)."""
    differ = [f for f in a if f in b and f not in key.fields and canon(a[f]) != canon(b[f])]
    recs = list({canon(r): r for r in recs}.values())   # a record sent twice is one item

    def rank(f: Any) -> int:
        vals = [r[f] for r in recs if f in r]
        distinct = len({canon(v) for v in vals}) == len(vals)
        name = _name(f)
        if name and _ID_NAME.match(name):
            return 0
        if distinct and _code_like(vals):
            return 1
        if distinct and not any(isinstance(v, float) for v in vals):
            return 2
        return 3 if not isinstance(a[f], float) else 4
    return min(differ, key=rank) if differ else None


def same_identity(a: dict, b: dict) -> bool:
    """``a`` is ``b`` sent again: equal, or sharing a field named as an identifier (``id``,
    ``order_id``, ``ref``) — a re-sent item, whatever else changed."""
    if a == b:
        return True
    for f, v in a.items():
        name = _name(f)
        if name and _ID_NAME.match(name) and f in b and canon(b[f]) == canon(v):
            return True
    return False
