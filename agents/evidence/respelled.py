"""A lookup that misses a key its store holds under another spelling.

A store keyed by text is looked up by the text's canonical form ("Maple Ave & 3rd St" read as
``"maple ave & 3rd st"``: trimmed, folded case, single spaces) while one writer stored its key as
given. Every other key of the store is in canonical form, the lookup finds nothing, answers
``{:error, _}`` or ``nil``, and its caller crashes on the answer (``{:ok, stop} = find(name)``) or
goes on without it. The crash shows where the miss was noticed; the miss was made where the key
was stored without being made canonical.

| kind | what | culprit |
| --- | --- | --- |
| ``key_spelled_apart`` | an application function given a text returned a miss (``{:error, _}``, ``:error``, ``nil``) while the state of a process it asked (a callback or an Agent's closure that ran there during it) held a text key equal to that text but for case, accents or spacing, the key not in canonical form, and every other text key of that map (at least one) canonical | the callback whose recorded state change added that key (an Agent's closure: the application function that passed it), else — the key was stored before the recording — the writer the sources name (:func:`source_writer`: of the lookup's module's functions that write a store, the one that never calls the function the lookup makes its key with, while another writer does), else the lookup's module, no function |

A crash of the lookup's caller, later, on the value the lookup returned is linked to it: the report
follows the chain to where the key was stored. Bounded (:data:`MAX_CALLS` calls, :data:`MAX_MISSES` misses, :data:`MAX_INSIDE` states a miss).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from typing import Any

from elixir_scope.instrument.etf import Atom
from elixir_scope.instrument.etf.terms import FrozenMap

from ..findings import Culprit, Finding
from ..view import Call, RecordingView, fmt, is_app_module, mod_name
from .book import FactBook
from ..view import is_atom
from .common import culprit_of, is_error
from .spellings import canonical

MAX_CALLS = 20_000
MAX_TEXT = 200
MAX_FACTS = 2
MAX_MISSES = 500   # lookups that missed looked at
MAX_INSIDE = 20    # calls given a map, during one lookup, looked at


def _miss(v: Any) -> bool:
    return is_error(v) or is_atom(v, "nil")


def _texts(args: list) -> list[str]:
    return [a.decode("utf-8", "replace") for a in args if isinstance(a, bytes) and 0 < len(a) <= MAX_TEXT]


def _maps(state: Any) -> list[dict | FrozenMap]:
    """The state, and the maps one level inside it (``%{stops: %{…}}``)."""
    out = []
    if isinstance(state, (dict, FrozenMap)):
        out.append(state)
        out.extend(v for v in state.values() if isinstance(v, (dict, FrozenMap)))
    return out


def spelled_key(state: Any, asked: str) -> bytes | None:
    """A text key of a map in ``state`` equal to ``asked`` but for case, accents or spacing, not in
    canonical form itself, while the map's other text keys (at least one) all are: the one key
    stored as given among keys made canonical. None otherwise."""
    want = canonical(asked)
    for m in _maps(state):
        keys = [k for k in m.keys() if isinstance(k, bytes) and len(k) <= MAX_TEXT]
        texts = {k: k.decode("utf-8", "replace") for k in keys}
        if any(t == want for t in texts.values()):
            return None   # the canonical key is there: the lookup would have found it
        odd = [k for k, t in texts.items() if canonical(t) == want and t != want]
        rest = [t for k, t in texts.items() if k not in odd]
        if len(odd) == 1 and rest and all(canonical(t) == t for t in rest):
            return odd[0]
    return None


def _holds_key(term: Any, key: bytes) -> bool:
    items = term if isinstance(term, (list, tuple)) and not isinstance(term, Atom) else [term]
    return any(key in m for x in items for m in _maps(x))


def _writer(view: RecordingView, pid: int, key: bytes, before: int) -> Call | None:
    """The call in ``pid`` (a callback, or an Agent's closure) whose arguments held no map with
    ``key`` and whose result does: where the key was stored (during the recording)."""
    for c in sorted(view.calls_by_pid.get(pid, []), key=lambda c: c.ts):
        if c.ts > before or c.outcome != "return" or not c.args:
            continue
        if not _holds_key(c.args, key) and _holds_key(c.value, key) \
                and any(isinstance(a, (dict, FrozenMap)) for a in c.args[-1:] + c.args[:1]):
            return c
    return None


def _stateful(c: Call) -> bool:
    return bool(c.args) and (isinstance(c.args[-1], (dict, FrozenMap)) or isinstance(c.args[0], (dict, FrozenMap)))


def source_writer(stores: dict | None, lookup: str) -> str | None:
    """The function (``name/arity``) of the lookup's module that writes a store without the
    normaliser the lookup applies, from the sources (knowledge/source/stores.py): the normalisers
    are the module's own functions the lookup calls; the writers, its functions that write a
    keyed store (``Map.put``, ``:ets.insert`` …). The one writer that reaches no normaliser through
    the module's own calls, while another writer does, stored its key as given. None when the
    sources do not tell (no normaliser, or not exactly one such writer)."""
    funs = (stores or {}).get("functions") or {}
    module = lookup.rpartition(".")[0]
    own = {k.rpartition(".")[2].split("/")[0]: k for k in funs if k.rpartition(".")[0] == module}

    def reach(fun: str) -> set[str]:
        seen: set[str] = set()
        todo = [n for n in funs.get(fun, {}).get("local", []) if n in own]
        while todo and len(seen) < 100:
            n = todo.pop()
            if n not in seen:
                seen.add(n)
                todo.extend(m for m in funs.get(own[n], {}).get("local", []) if m in own)
        return seen

    lookup_name = lookup.rpartition(".")[2].split("/")[0]
    normalisers = {n for n in reach(lookup) if n != lookup_name and not funs.get(own[n], {}).get("writes")}
    if not normalisers:
        return None
    writers = [k for k in own.values() if funs[k].get("writes") and k != lookup]
    plain = [k for k in writers if not normalisers & reach(k)]
    if len(plain) == 1 and len(writers) > 1:
        return plain[0].rpartition(".")[2]
    return None


def keys_spelled_apart(view: RecordingView, book: FactBook, stores: dict | None = None) -> None:
    # the calls given a map (a callback's state, an Agent closure's), by start time
    holders = sorted((c for c in view.calls[:MAX_CALLS] if _stateful(c)), key=lambda c: c.ts)
    starts = [c.ts for c in holders]
    n = looked = 0
    seen: set[tuple[str, bytes]] = set()
    for c in view.calls[:MAX_CALLS]:
        if c.outcome != "return" or c.end_ts is None or not is_app_module(c.module) \
                or c.function.startswith(("handle_", "-", "__")) or not _miss(c.value):
            continue
        texts = _texts(c.args)
        if not texts:
            continue
        looked += 1
        if looked > MAX_MISSES:
            return
        for cb in holders[bisect_left(starts, c.ts):bisect_right(starts, c.end_ts)][:MAX_INSIDE]:
            if cb.pid == c.pid:
                continue
            # the state a callback (its last argument) or an Agent's closure (its first) was given
            key = next((k for t in texts for st in {id(a): a for a in (cb.args[-1], cb.args[0])}.values()
                        for k in [spelled_key(st, t)] if k is not None), None)
            if key is None or (c.mfa, key) in seen:
                continue
            seen.add((c.mfa, key))
            _fact(view, book, c, cb, key, stores)
            n += 1
            break
        if n >= MAX_FACTS:
            return


def _fact(view: RecordingView, book: FactBook, lookup: Call, cb: Call, key: bytes, stores: dict | None) -> None:
    writer = _writer(view, cb.pid, key, lookup.ts)
    shown = key.decode("utf-8", "replace")
    from_source = source_writer(stores, lookup.mfa) if writer is None else None
    if writer is not None:
        culprit = culprit_of(view, writer, shown)
        where = f"{culprit.module}.{culprit.function} stored it"
    elif from_source is not None:
        culprit = Culprit(module=mod_name(lookup.module), function=from_source, detail=fmt(key, 150),
                          process=view.label(cb.pid))
        where = (f"it was stored before the recording began; of the functions of {culprit.module} that write this "
                 f"store, {culprit.module}.{from_source} is the one that never makes its key canonical as "
                 f"{lookup.mfa} does (the sources)")
    else:
        culprit = Culprit(module=mod_name(lookup.module), function=None, detail=fmt(key, 150),
                          process=view.label(cb.pid))
        where = (f"it was stored before the recording began, by a function of {culprit.module} that writes "
                 "this store without making the key canonical as the lookup does")
    fact = book.add(Finding(
        detector="key_spelled_apart",
        title=f"{lookup.mfa} missed {fmt(key, 60)}: the store holds it under another spelling",
        summary=(f"{lookup.mfa}({fmt(lookup.args, 60)}) returned {fmt(lookup.value, 60)} while "
                 f"{view.label(cb.pid)}'s state held the key {fmt(key, 60)} — the same text but for case or "
                 f"spacing — and every other key in canonical form ({canonical(shown)!r} is how it is looked up): "
                 f"{where}."),
        severity="high", confidence=0.7 if writer is not None else 0.65, culprit=culprit,
        evidence=[view.end_evidence(lookup, f"{lookup.mfa} returned {fmt(lookup.value, 60)}"),
                  view.call_evidence(cb, f"{cb.mfa} in {view.label(cb.pid)} was given a state that holds {fmt(key, 60)}")]
        + ([view.end_evidence(writer, f"{writer.mfa} stored {fmt(key, 60)}")] if writer is not None else []),
        signatures=["data:key_spelled_apart"],
        fix_hint=("Store every key in the one canonical form the lookups use (the same normalize function on "
                  "write as on read), and migrate the keys already stored.")),
        pid=lookup.pid, ts=lookup.ts)
    miss = fmt(lookup.value, 80)
    for f in book.of_kind("exception"):
        meta = book.meta.get(f.id, {})
        if meta.get("pid") == lookup.pid and (meta.get("ts") or 0) >= lookup.end_ts and miss in f.summary:
            book.link(f, fact, f"it crashed on what {lookup.mfa} answered for a key stored under another spelling")
