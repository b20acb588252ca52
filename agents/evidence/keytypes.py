"""An ETS row removed under a key of the wrong type: the delete finds nothing and the row stays.

Ids that come from outside (request params, JSON, a CSV) are text — ``"2041"`` — while the ids the
application makes are integers. A table written under ``{2041, "A1"}`` and cleaned up with
``:ets.delete(t, {"2041", "A1"})`` deletes nothing, without an error (``delete/2`` answers
``true`` whether or not a row was there; ``take/2`` answers ``[]``): the row stays until something
else sweeps it. The recording shows both: the write of a key and the removal of a key that no
write made, equal to it but for the type of one element (an integer and its digits as text, an
atom and its name, a charlist and a binary).

The culprit is where the two forms parted: among the functions the write ran inside, the one whose
result hands on the other form (it converted the id for the write and returned — or stored — the
raw one, from which the removal later took it). When no such function is recorded, the
application function that removed with the wrong form is named.

| kind | what | culprit |
| --- | --- | --- |
| ``ets_key_missed`` | ``:ets.delete/2`` or ``:ets.take/2`` of a key no recorded write of that table made, while an earlier write made a key equal to it but for the type of one element | the function the write ran inside whose result holds the removal's form of that element, else the function that removed with it |

Bounded: the first :data:`MAX_CALLS` ``:ets`` calls, :data:`MAX_FACTS` facts (one per table).
"""

from __future__ import annotations

import re
from typing import Any

from elixir_scope.instrument.etf import Atom

from ..findings import Finding
from ..view import Call, RecordingView, fmt, is_app_module
from .book import FactBook
from .common import app_caller, culprit_of, is_generated

__all__ = ["keys_missed", "loose", "parted"]

MAX_CALLS = 20_000
MAX_KEYS = 5_000
MAX_FACTS = 3
_WRITES = ("insert", "insert_new")
_REMOVES = ("delete", "take")


def loose(term: Any) -> Any:
    """``term`` with every scalar as the text a person would read: ``2041``, ``"2041"`` and
    ``'2041'`` alike; ``:open`` and ``"open"`` alike. Tuples and lists keep their shape."""
    if isinstance(term, bool) or term is None:
        return ("atom", str(term).lower())
    if isinstance(term, Atom):
        return ("text", term.name)
    if isinstance(term, bytes):
        return ("text", term.decode("utf-8", "replace"))
    if isinstance(term, int):
        return ("text", str(term))
    if isinstance(term, tuple):
        return ("tuple", tuple(loose(x) for x in term))
    if isinstance(term, list):
        if term and all(isinstance(x, int) and not isinstance(x, bool) and 32 <= x < 0x110000 for x in term):
            return ("text", "".join(map(chr, term)))    # a charlist
        return ("list", tuple(loose(x) for x in term))
    return ("other", fmt(term, 200))


def parted(written: Any, removed: Any) -> list[tuple[Any, Any]]:
    """The elements where two keys equal but for types differ: ``(written form, removed form)``
    pairs (the keys themselves when scalar); empty when they differ otherwise or not at all."""
    if fmt(written, 400) == fmt(removed, 400) or loose(written) != loose(removed):
        return []
    if isinstance(written, tuple) and isinstance(removed, tuple) and len(written) == len(removed):
        return [(w, r) for w, r in zip(written, removed) if fmt(w, 200) != fmt(r, 200)]
    return [(written, removed)]


def _rows(arg: Any) -> list[tuple]:
    rows = arg if isinstance(arg, list) else [arg]
    return [r for r in rows if isinstance(r, tuple) and r]


def _holds(value: Any, form: Any) -> bool:
    """``form`` printed as a whole term inside the printed ``value`` (``"2041"`` as text, not a
    digit run of a longer number)."""
    text = fmt(form, 200)
    return re.search(r'(?<![\w."\'])' + re.escape(text) + r'(?![\w"\'])', fmt(value, 4000)) is not None


def _origin(write: Call, form: Any) -> Call | None:
    """The function the write ran inside whose result holds the removal's form: it wrote one
    form and handed on the other."""
    p = app_caller(write)
    while p is not None:
        if p.outcome == "return" and not is_generated(p.function) and _holds(p.value, form):
            return p
        p = app_caller(p)
    return None


def keys_missed(view: RecordingView, book: FactBook) -> None:
    ets = [c for c in view.calls if c.module == "ets" and c.outcome == "return" and len(c.args) == 2][:MAX_CALLS]
    written: dict[str, dict[str, tuple[Any, Call]]] = {}
    seen_tables: set[str] = set()
    for c in sorted(ets, key=lambda c: c.ts):
        table = fmt(c.args[0], 80)
        if c.function in _WRITES:
            keys = written.setdefault(table, {})
            for r in _rows(c.args[1]):
                if len(keys) < MAX_KEYS:
                    keys.setdefault(fmt(r[0], 400), (r[0], c))
            continue
        if c.function not in _REMOVES or table in seen_tables or table not in written:
            continue
        key = c.args[1]
        keys = written[table]
        if fmt(key, 400) in keys:
            continue
        match = next(((k, w) for k, w in keys.values() if parted(k, key)), None)
        if match is None:
            continue
        wkey, write = match
        pairs = parted(wkey, key)
        remover = app_caller(c)
        origin = None
        for _w, r in pairs:
            origin = _origin(write, r)
            if origin is not None:
                break
        blamed = origin or remover
        if blamed is None or not is_app_module(blamed.module):
            continue
        seen_tables.add(table)
        forms = "; ".join(f"{fmt(w, 30)} written, {fmt(r, 30)} removed" for w, r in pairs[:2])
        where = (f"{origin.mfa} made the write and returned {fmt(origin.value, 80)}, which hands on the other "
                 "form: what removed the row later took its key from there." if origin is not None else
                 f"{remover.mfa if remover else 'the caller'} removed with the other form.")
        book.add(Finding(
            detector="ets_key_missed",
            title=f"{fmt(c.args[0], 30)}: {fmt(key, 50)} removed, but the row was written as {fmt(wkey, 50)}",
            summary=(f":ets.{c.function}({table}, {fmt(key, 60)}) removed a key no write of {table} made, while "
                     f"{write.mfa if write else ':ets'} had written {fmt(wkey, 60)} — the same key but for the "
                     f"type of an element ({forms}): the removal found nothing and the row stays. {where}"),
            severity="high", confidence=0.75 if origin is not None else 0.6,
            culprit=culprit_of(view, blamed, pairs[0][1]),
            evidence=[view.end_evidence(write, f":ets.{write.function} wrote {fmt(wkey, 60)}"),
                      view.end_evidence(c, f":ets.{c.function}({fmt(key, 60)}) returned {fmt(c.value, 30)}: no such row")]
            + ([view.end_evidence(origin, f"{origin.mfa} returned {fmt(origin.value, 60)}")] if origin is not None else []),
            signatures=["data:type_mismatch", "message:no_effect"],
            fix_hint=("Convert an id once, where it enters the application, and hand on only the converted "
                      "form: the row is written and removed under one key.")),
            pid=c.pid, ts=c.ts)
        if len(seen_tables) >= MAX_FACTS:
            return
