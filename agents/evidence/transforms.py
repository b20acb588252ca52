"""Values a function loses on the way from its arguments to its result — seen in one call's
arguments and result, with no symptom needed:

| kind | what | culprit |
| --- | --- | --- |
| ``option_ignored`` | a function given an option (``duplex: true`` in a keyword list or map) returns a record with that key set to another value — the very value it sets when the caller passes nothing (the defaults win: ``Keyword.merge/2``/``Map.merge/2`` with the arguments the wrong way round) | the function, the key and both values |
| ``nested_keys_lost`` | a function given a record (``%{notifications: %{email: true, sms: true, push: false}}``) and a change to one nested map of it (``%{notifications: %{push: true}}``) returns the record with that nested map replaced by the change: the keys the change did not name are gone (a shallow ``Map.merge/2``) | the function (the deepest one doing it), the lost keys |
| ``records_joined`` | a function given a text of several records (lines, fields) returns its pieces, but a piece still holds the separator the others were split at: the split stopped early (``:binary.split/2`` without ``[:global]``, ``String.split(s, sep, parts: 2)``) | the function, and the joined piece |

Bounded: the first :data:`MAX_CALLS` application calls, maps and lists of a term up to
:data:`MAX_NODES` nodes.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from elixir_scope.instrument.etf import Atom

from ..findings import Finding
from ..view import Call, RecordingView, fmt, is_app_module
from .book import FactBook
from .common import culprit_of, maps_in

MAX_CALLS = 20_000
MAX_NODES = 2000
MAX_FACTS = 3
SEPARATORS = ("\r\n", "\n", "\t", ";", ",", "|")


def _app_returns(view: RecordingView):
    n = 0
    for c in view.calls:
        if c.outcome == "return" and c.args and is_app_module(c.module) and not c.function.startswith("__"):
            yield c
            n += 1
            if n >= MAX_CALLS:
                return


def _unwrap(v: Any) -> Any:
    if isinstance(v, tuple) and len(v) == 2 and isinstance(v[0], Atom) and v[0].name == "ok":
        return v[1]
    return v


def _options(term: Any) -> dict | None:
    """A keyword list or an atom-keyed map, as a dict (``None`` for anything else; an empty list
    or map is no options at all: ``{}``)."""
    if isinstance(term, (list, dict)) and not term:
        return {}
    if isinstance(term, dict) and term and all(isinstance(k, Atom) for k in term) \
            and Atom("__struct__") not in term:
        return term
    if isinstance(term, list) and term and all(isinstance(x, tuple) and len(x) == 2 and isinstance(x[0], Atom)
                                               for x in term):
        keys = [k for k, _ in term]
        if set(keys) <= _RESULT_TAGS or (len(keys) > 1 and len(set(keys)) == 1):
            return None   # tagged results ({:ok, v} from Task.async_stream, a reduce), not options
        out: dict = {}
        for k, v in term:
            out.setdefault(k, v)   # Keyword.get/2 takes the first
        return out
    return None


# a list of pairs tagged only with these is a list of results, not a keyword list of options
_RESULT_TAGS = {Atom("ok"), Atom("error"), Atom("exit"), Atom("EXIT")}


def options_ignored(view: RecordingView, book: FactBook) -> None:
    by_fun: dict[tuple, list[tuple[Call, dict, dict]]] = defaultdict(list)
    for c in _app_returns(view):
        out = _options(_unwrap(c.value))
        if not out:
            continue
        for a in c.args:
            opts = _options(a)
            if opts is not None and opts is not out:
                by_fun[(c.module, c.function, c.arity)].append((c, opts, out))
                break
    n = 0
    for key in sorted(by_fun):
        rows = by_fun[key]
        for c, opts, out in rows:
            hit = None
            for k, given in opts.items():
                if k not in out or out[k] == given:
                    continue
                # the value it returns when the caller passed nothing for that key
                defaults = {fmt(o[k], 60) for _c, other, o in rows if k not in other and k in o}
                if defaults == {fmt(out[k], 60)}:
                    hit = (k, given, out[k])
                    break
            if hit is None:
                continue
            k, given, got = hit
            ignored = sum(1 for _c, other, o in rows if k in other and k in o and o[k] != other[k])
            book.add(Finding(
                detector="option_ignored",
                title=f"{c.mfa} ignores {k.name}: {fmt(given, 30)} and uses {fmt(got, 30)}",
                summary=(f"{c.mfa} was given {k.name}: {fmt(given, 40)} ({fmt(c.args, 100)}) and returned "
                         f"{k.name}: {fmt(got, 40)} — the value it returns when a caller passes no {k.name} at all. "
                         f"The default won over what the caller chose ({ignored} call(s) like this)."),
                severity="high", confidence=0.75, culprit=culprit_of(view, c, f"{k.name}: {fmt(given, 30)} → {fmt(got, 30)}"),
                evidence=[view.call_evidence(c, f"{c.mfa}(… {k.name}: {fmt(given, 30)} …)"),
                          view.end_evidence(c, f"returned {k.name}: {fmt(got, 30)}")],
                signatures=["data:option_ignored"],
                fix_hint=("Let the caller's options win over the defaults: Keyword.merge(defaults, opts) / "
                          "Map.merge(defaults, opts) — the second argument's values win.")),
                pid=c.pid, ts=c.ts)
            n += 1
            break
        if n >= MAX_FACTS:
            return


def _lost_keys(c: Call) -> tuple[Any, dict, dict, list] | None:
    """(key, record before, change, lost keys) when ``c`` replaced a nested map by a change to it.
    (A nested map the result shares with the arguments is the same term: no compare of its
    thousands of entries.)"""
    arg_maps = maps_in(list(c.args), MAX_NODES)
    out_maps = maps_in(c.value, MAX_NODES)
    for change in arg_maps:
        for p, sub in change.items():
            if not isinstance(sub, dict) or not sub:
                continue
            for rec in out_maps:
                if rec is change or (rec.get(p) is not sub and rec.get(p) != sub) or rec.keys() <= change.keys():
                    continue
                # (key views compare as sets without copying the keys of every map into a set)
                before = next((m for m in arg_maps if m is not change and isinstance(m.get(p), dict)
                               and m[p].keys() > sub.keys() and all(k in m or k in change for k in rec)), None)
                if before is not None:
                    return p, before, change, sorted((k for k in before[p] if k not in sub), key=repr)
    return None


def _key(k: Any) -> str:
    return k.name if isinstance(k, Atom) else fmt(k, 30)


def nested_keys_lost(view: RecordingView, book: FactBook) -> None:
    hits: list[tuple[Call, tuple]] = []
    for c in _app_returns(view):
        found = _lost_keys(c)
        if found is not None:
            hits.append((c, found))
    inner = set()
    for c, _ in hits:
        p = c.parent
        while p is not None:
            inner.add(p.call_id)
            p = p.parent
    done = set()
    for c, (p, before, change, lost) in hits:
        key = (c.module, c.function, c.arity)
        if c.call_id in inner or key in done:
            continue
        done.add(key)
        lost_txt = ", ".join(_key(k) for k in lost)
        book.add(Finding(
            detector="nested_keys_lost",
            title=f"{c.mfa} replaced {_key(p)} by the change and lost {lost_txt}",
            summary=(f"{c.mfa} was given a record whose {_key(p)} was {fmt(before[p], 80)} and the change "
                     f"{fmt(change, 80)}; it returned the record with {_key(p)} = {fmt(change[p], 60)}: "
                     f"{lost_txt} — not named in the change — are gone. A shallow merge replaces a nested map "
                     "instead of merging into it."),
            severity="high", confidence=0.78, culprit=culprit_of(view, c, f"{_key(p)} lost {lost_txt}"),
            evidence=[view.call_evidence(c, f"{c.mfa}(… {fmt(change, 60)} …)"),
                      view.end_evidence(c, f"returned {_key(p)}: {fmt(change[p], 60)}")],
            signatures=["data:nested_keys_lost"],
            fix_hint=("Merge nested maps key by key: Map.merge(current, changes, fn _k, a, b when is_map(a) and "
                      "is_map(b) -> Map.merge(a, b); _k, _a, b -> b end) (or a recursive deep merge).")),
            pid=c.pid, ts=c.ts)
        if len(done) >= MAX_FACTS:
            return


def _pieces(v: Any) -> list[bytes] | None:
    v = _unwrap(v)
    if isinstance(v, list) and v and all(isinstance(x, bytes) for x in v):
        return v
    return None


def _joined(text: bytes, pieces: list[bytes]) -> tuple[str, bytes] | None:
    """(separator, piece) when ``pieces`` are cut from ``text`` at one separator and a piece still
    holds that separator, with more than one record in it."""
    pos = 0
    seps = set()
    for piece in pieces:
        if not piece:
            continue
        at = text.find(piece, pos)
        if at < 0:
            return None
        if at > 0:
            for sep in SEPARATORS:
                if text[:at].endswith(sep.encode()):
                    seps.add(sep)
                    break
        pos = at + len(piece)
    if len(seps) != 1:
        return None
    sep = seps.pop().encode()
    for piece in pieces:
        parts = [x for x in piece.split(sep) if x.strip()]
        if len(parts) >= 2:
            return sep.decode(), piece
    return None


def records_joined(view: RecordingView, book: FactBook) -> None:
    done = set()
    for c in _app_returns(view):
        pieces = _pieces(c.value)
        if pieces is None:
            continue
        src = next((a for a in c.args if isinstance(a, bytes) and len(a) > sum(len(p) for p in pieces)), None)
        if src is None:
            continue
        found = _joined(src, pieces)
        key = (c.module, c.function, c.arity)
        if found is None or key in done:
            continue
        done.add(key)
        sep, piece = found
        n_in = len([x for x in src.split(sep.encode()) if x.strip()])
        book.add(Finding(
            detector="records_joined",
            title=f"{c.mfa} split {n_in} records into {len(pieces)} piece(s), one still joined",
            summary=(f"{c.mfa} was given {len(src)} bytes holding {n_in} records separated by {sep!r} and returned "
                     f"{len(pieces)} piece(s); the piece {fmt(piece, 60)} still holds {piece.count(sep.encode())} "
                     f"{sep!r}: the split stopped after the first separator, and whatever reads the pieces sees "
                     "one record where there are several."),
            severity="high", confidence=0.78, culprit=culprit_of(view, c, piece[:60]),
            evidence=[view.call_evidence(c, f"{c.mfa}({fmt(src, 60)})"),
                      view.end_evidence(c, f"returned {len(pieces)} piece(s): {fmt(c.value, 60)}")],
            signatures=["data:records_joined"],
            fix_hint=("Split at every separator: :binary.split(text, sep, [:global]), String.split(text, sep) "
                      "without `parts:`, or String.split(text, [\"\\r\\n\", \"\\n\"], trim: true) for lines.")),
            pid=c.pid, ts=c.ts)
        if len(done) >= MAX_FACTS:
            return
