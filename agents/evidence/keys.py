"""A field read under the wrong kind of key — seen in one call's arguments and result, with no
symptom needed:

| kind | what | culprit |
| --- | --- | --- |
| ``key_kind_missed`` | a function given a map whose text key (``"amount"``) holds a value returns a map whose atom key of the same name (``amount:``) is ``nil`` — or the other way round: the field was read with the other kind of key (``payload[:amount]`` on decoded JSON) and came out empty | the deepest such function, and the key |

The value was there, under the same name; only the kind of key differs. Bounded: the first
:data:`MAX_CALLS` application calls, maps up to :data:`MAX_NODES` nodes of a term.
"""

from __future__ import annotations

from typing import Any

from elixir_scope.instrument.etf import Atom

from ..findings import Finding
from ..view import Call, RecordingView, fmt, is_app_module
from .book import FactBook
from .common import ancestors, culprit_of, maps_in

MAX_CALLS = 20_000
MAX_NODES = 2000
MAX_FACTS = 3


def _name(key: Any) -> tuple[str, str] | None:
    """(kind, name) of a map key that is an atom or a text, else ``None``."""
    if isinstance(key, Atom):
        return ("atom", key.name)
    if isinstance(key, bytes):
        try:
            return ("text", key.decode("utf-8"))
        except UnicodeDecodeError:
            return None
    return None


def _given(args: Any) -> dict[tuple[str, str], Any]:
    """(kind, name) → value of every atom or text key of the maps in ``args`` that holds a value."""
    out = {}
    for m in maps_in(args, MAX_NODES):
        for k, v in m.items():
            n = _name(k)
            if n is not None and v is not None and not (isinstance(v, Atom) and v.name == "nil"):
                out.setdefault(n, v)
    return out


def _nil(v: Any) -> bool:
    return v is None or (isinstance(v, Atom) and v.name == "nil")


def _missed(c: Call) -> tuple[str, str, Any] | None:
    """(key as returned, key as given, the value given) when ``c`` returned a nil field that its
    arguments held under the other kind of key."""
    given = _given(tuple(c.args))
    if not given:
        return None
    for m in maps_in(c.value, MAX_NODES):
        for k, v in m.items():
            n = _name(k)
            if n is None or not _nil(v):
                continue
            other = ("text" if n[0] == "atom" else "atom", n[1])
            if other in given and n not in given:
                shown = f":{n[1]}" if n[0] == "atom" else f'"{n[1]}"'
                was = f'"{n[1]}"' if n[0] == "atom" else f":{n[1]}"
                return shown, was, given[other]
    return None


def keys_missed(view: RecordingView, book: FactBook) -> None:
    hits: list[tuple[Call, tuple[str, str, Any]]] = []
    n = 0
    for c in view.calls:
        if c.outcome != "return" or not c.args or not is_app_module(c.module) or c.function.startswith("__"):
            continue
        n += 1
        if n > MAX_CALLS:
            break
        m = _missed(c)
        if m is not None:
            hits.append((c, m))
    outer = set()
    for c, _m in hits:
        outer |= ancestors(c)
    named, made = set(), 0
    for c, (shown, was, value) in hits:
        key = (c.module, c.function, c.arity)
        if c.call_id in outer or key in named:
            continue
        named.add(key)
        same = [h for h, _ in hits if (h.module, h.function, h.arity) == key]
        book.add(Finding(
            detector="key_kind_missed",
            title=f"{c.mfa} returned {shown} as nil although it was given {was} => {fmt(value, 40)}",
            summary=(f"{c.mfa} was given {fmt(c.args, 120)} and returned {fmt(c.value, 120)}: the field {shown} is nil, "
                     f"while its input held {was} = {fmt(value, 60)} — the same name under the other kind of key "
                     f"({len(same)} such call(s)). The field was read with an atom where the map has text keys "
                     "(decoded JSON, form params) or the other way round, and came out empty."),
            severity="high", confidence=0.7, culprit=culprit_of(view, c, f"{shown} read as nil; the input has {was}"),
            evidence=[view.call_evidence(c, f"{c.mfa}({fmt(c.args, 80)})"),
                      view.end_evidence(c, f"returned {fmt(c.value, 80)}: {shown} is nil")],
            signatures=["data:key_kind_missed"],
            fix_hint=(f"Read the field with the key kind the map has ({was}: `payload[{was}]`, `Map.get(map, {was})`), "
                      "or convert the keys once where the data enters (known keys only, never String.to_atom/1 on "
                      "input).")),
            pid=c.pid, ts=c.ts)
        made += 1
        if made >= MAX_FACTS:
            return
