"""A variant of a handled message that falls through: same shape, another tag.

Messages often come in families that differ only in a tag inside them — a port's
``{port, {:data, {:eol, line}}}`` and ``{port, {:data, {:noeol, chunk}}}``, a task's
``{ref, {:ok, v}}`` and ``{ref, {:error, e}}``, ``{:event, {:added, x}}`` and
``{:event, {:removed, x}}`` — or in the tag field of a map or struct they carry (events decoded
from JSON or built by a producer: ``{:event, %{type: :added}}`` and ``{:event, %{type:
:removed}}``, ``%Added{}`` and ``%Removed{}``). A clause written for some members lets the others
fall into a catch-all, where they are dropped without a trace. In the recording: one process's
callback acted on messages of one variant (state changed, messages sent, functions called —
a log line, and what rendering it for the log ran, is not acting) and did nothing at all for a message of the same shape whose tag
differs.

A map's tag field is found from the data, not by name: a key whose values, across the family's
messages, are a few atoms or short strings (not ``true``/``false``/``nil``: a flag is not a
variant), the struct's ``__struct__`` among them. The variant's tag is one value at such a key
that no call of the family ever acted on, while another value at the same key always was.

| kind | what | culprit |
| --- | --- | --- |
| ``variant_unhandled`` | a ``handle_info``/``handle_cast`` handled messages of one shape and changed nothing for the variant with another tag (``{:noeol, _}`` where ``{:eol, _}`` is handled; ``%{type: :b}`` where ``%{type: :a}`` is) | the callback (it has no clause for the variant); when an application function minted the variant's map (returned it with a tag value that was not among its arguments: a translator from another vocabulary), that function, which chose a tag its consumer never handles |
"""

from __future__ import annotations

from bisect import bisect_left
from collections import defaultdict
from typing import Any

from elixir_scope.instrument.etf import Atom, Port
from elixir_scope.instrument.etf.terms import FrozenList

from ..findings import Finding
from ..view import Call, RecordingView, fmt, is_app_module
from .book import FactBook
from .common import callback_states, culprit_of

_MAX_DEPTH = 4
_MAX_TAG_VALUES = 8       # more distinct values at a key than this: data, not a variant tag
_MAX_TAG_TEXT = 24        # a string tag is a short word ("goal"), not free text
_FLAGS = {"true", "false", "nil"}
MAX_FAMILY = 2000         # calls of one family looked at (the first ones)
# a log line in a catch-all is not handling the message, nor what rendering it ran (inspect reads a
# struct's __struct__/__info__, loads protocol modules through the code server and caches in
# :persistent_term): calls to these modules and sends to these registered names are not acting
_QUIET = ("Elixir.Logger", "logger", "persistent_term", "code_server")


def _is_tuple(term: Any) -> bool:
    return isinstance(term, tuple) and not isinstance(term, FrozenList)


def _layout(term: Any, depth: int = 0) -> str:
    """The shape of a term with every atom as ``a``: what two variants of one family share."""
    if _is_tuple(term) and depth < _MAX_DEPTH:
        return "{" + ",".join(_layout(x, depth + 1) for x in term) + "}"
    if isinstance(term, Atom):
        return "a"
    if isinstance(term, (bytes, str)):
        return "b"
    if isinstance(term, (int, float)):
        return "n"
    if isinstance(term, (list, FrozenList)):
        return "l"
    if isinstance(term, dict):
        return "m"
    return type(term).__name__


def _key_name(k: Any) -> str | None:
    if isinstance(k, Atom):
        return k.name
    if isinstance(k, bytes) and len(k) <= _MAX_TAG_TEXT:
        try:
            return k.decode()
        except UnicodeDecodeError:
            return None
    if isinstance(k, str) and len(k) <= _MAX_TAG_TEXT:
        return k
    return None


def _tag_value(v: Any) -> str | None:
    """A map field's value as a possible tag (``:goal``, ``"goal"``), or None."""
    if isinstance(v, Atom):
        if v.name in _FLAGS:
            return None
        return v.name[len("Elixir."):] if v.name.startswith("Elixir.") else ":" + v.name
    if isinstance(v, (bytes, str)) and 0 < len(v) <= _MAX_TAG_TEXT:
        text = v.decode(errors="replace") if isinstance(v, bytes) else v
        return f'"{text}"' if text.isprintable() else None
    return None


def _tags(term: Any, path: tuple = (), depth: int = 0) -> dict[tuple, str]:
    """path → tag for every atom at the head of a tuple nested inside the message (not the
    message's own head: a different top-level tag is a different message, not a variant), and
    every atom or short string field of a map inside it (``(…, ("k", key))`` → ``:value``)."""
    out: dict[tuple, str] = {}
    if depth >= _MAX_DEPTH:
        return out
    if isinstance(term, dict):
        for k, v in list(term.items())[:64]:
            name = _key_name(k)
            if name is None:
                continue
            tag = _tag_value(v)
            if tag is not None:
                out[path + (("k", name),)] = tag
            elif isinstance(v, (dict, tuple)):
                out.update(_tags(v, path + (("k", name),), depth + 1))
        return out
    if not _is_tuple(term):
        return out
    if depth > 0 and term and isinstance(term[0], Atom):
        out[path] = term[0].name
    for i, x in enumerate(term):
        out.update(_tags(x, path + (i,), depth + 1))
    return out


def _is_field(path: tuple) -> bool:
    return bool(path) and isinstance(path[-1], tuple)


def tag_fields(tags_of_calls: list[dict[tuple, str]]) -> set[tuple]:
    """The map fields of a family of messages that read as a variant tag: a key whose values,
    across the messages, are at most a few distinct atoms or short strings."""
    values: dict[tuple, set[str]] = defaultdict(set)
    for tags in tags_of_calls:
        for p, t in tags.items():
            if _is_field(p):
                values[p].add(t)
    return {p for p, vs in values.items() if len(vs) <= _MAX_TAG_VALUES}


def unhandled_tags(tags_of_calls: list[dict[tuple, str]], acted: list[bool]) -> list[tuple[int, tuple, str]]:
    """Which calls got a variant no call acted on: ``(index, path, handled tag)`` for a call that
    did nothing whose tag at ``path`` no call of the family ever acted on, while another value at
    that path was acted on every time it came (a handled call has the same tuple tags; for a
    nested tuple's head, the same tags throughout: structs of two kinds differ in their fields)."""
    fields = tag_fields(tags_of_calls)
    by_value: dict[tuple, dict[str, list[bool]]] = defaultdict(lambda: defaultdict(list))
    for tags, a in zip(tags_of_calls, acted):
        for p, t in tags.items():
            by_value[p][t].append(a)
    out = []
    memo: dict[tuple, str | None] = {}
    for i, (tags, a) in enumerate(zip(tags_of_calls, acted)):
        if a or not tags:
            continue
        for p in sorted(tags, key=str):
            if _is_field(p) and p not in fields:
                continue
            mine = tags[p]
            if any(by_value[p][mine]):
                continue
            shape = frozenset(q for q in tags if not _is_field(q))
            key = (p, mine, shape, None if _is_field(p) else frozenset(tags))
            if key not in memo:
                memo[key] = next((h[p] for h, ha in zip(tags_of_calls, acted)
                                  if ha and p in h and h[p] != mine and all(by_value[p][h[p]])
                                  and {q for q in h if not _is_field(q)} == shape
                                  and (_is_field(p) or set(h) == set(tags))), None)
            if memo[key] is not None:
                out.append((i, p, memo[key]))
                break
    return out


def _shown(path: tuple, tag: str) -> str:
    """``{:eol, …}`` for a tuple's head, ``%{type: :goal}`` for a map's field."""
    if _is_field(path):
        return f"%{tag}{{}}" if path[-1][1] == "__struct__" else f"%{{{path[-1][1]}: {tag}}}"
    return f"{{:{tag}, …}}"


def _at(term: Any, path: tuple) -> Any:
    """The term holding the tag at ``path`` (the map for a field, the tuple for a head)."""
    for step in path[:-1] if _is_field(path) else path:
        if isinstance(step, tuple):
            term = next((v for k, v in term.items() if _key_name(k) == step[1]), None)
        else:
            term = term[step]
    return term


def _to_name(to: Any) -> str:
    return to.name if isinstance(to, Atom) else str(to or "")


def _loud_sends(view: RecordingView) -> dict[int, list[int]]:
    """pid → the sorted times of its sends, those to the logger and the code server left out."""
    out: dict[int, list[int]] = defaultdict(list)
    for m in view.messages:
        if m.sender is not None and m.send_ts is not None and not _to_name(m.to).startswith(_QUIET):
            out[m.sender].append(m.send_ts)
    return {pid: sorted(ts) for pid, ts in out.items()}


def _acted(c: Call, pairs: dict, view: RecordingView, sends: dict[int, list[int]]) -> bool:
    before, after = pairs[c.call_id]
    if fmt(before, 4000) != fmt(after, 4000):
        return True
    times = sends.get(c.pid, [])
    i = bisect_left(times, c.ts)
    if i < len(times) and times[i] <= (c.end_ts or c.ts):
        return True
    return any(not d.module.startswith(_QUIET) and not d.function.startswith("__") for d in view.children(c))


def _mentions(term: Any, tag: str, depth: int = 0) -> bool:
    if depth > 6:
        return False
    if isinstance(term, Atom):
        return ":" + term.name == tag
    if isinstance(term, dict):
        return any(_mentions(k, tag, depth + 1) or _mentions(v, tag, depth + 1) for k, v in list(term.items())[:64])
    if isinstance(term, (tuple, list, FrozenList)):
        return any(_mentions(x, tag, depth + 1) for x in list(term)[:64])
    return False


def minted_by(view: RecordingView, payload: Any, tag: str, before: int) -> Call | None:
    """The application function that returned ``payload`` (a map carrying a variant's tag
    ``tag``) without that tag among its arguments: it chose the tag, translating from another
    vocabulary (a decoder, a normaliser), rather than passing on one it was given."""
    want = fmt(payload, 4000)
    for d in view.calls:
        if d.ts > before or d.outcome != "return" or not is_app_module(d.module) or d.function.startswith("__"):
            continue
        if isinstance(d.value, dict) and fmt(d.value, 4000) == want and not _mentions(d.args, tag):
            return d
    return None


def _hint(c: Call, path: tuple, mine: str, theirs: str, producer: Call | None) -> str:
    msg = c.args[0]
    port = _is_tuple(msg) and any(isinstance(x, Port) for x in msg)
    return ((f"Make {producer.mfa} produce a variant its consumer handles, or " if producer is not None else "")
            + f"add a clause for {_shown(path, mine)} next to the one for {_shown(path, theirs)}"
            + (" (a port opened in {:line, n} mode sends a longer line as {:noeol, chunk} pieces before the "
               "{:eol, rest} that ends it: collect them)" if port else "")
            + ", and log unexpected messages in the catch-all instead of dropping them.")


def unhandled_variants(view: RecordingView, book: FactBook) -> None:
    pairs = callback_states(view)
    if not pairs:
        return
    families: dict[tuple, list[Call]] = defaultdict(list)
    for c in view.calls:
        if c.call_id not in pairs or c.function not in ("handle_info", "handle_cast") or not c.args \
                or not (_is_tuple(c.args[0]) or isinstance(c.args[0], dict)):
            continue
        family = families[(c.pid, c.module, c.function, _layout(c.args[0]))]
        if len(family) < MAX_FAMILY:
            family.append(c)
    sends = None
    for key in sorted(families, key=str):
        calls = families[key]
        tags = [_tags(c.args[0]) for c in calls]
        if sends is None:
            sends = _loud_sends(view)
        acted = [_acted(c, pairs, view, sends) for c in calls]
        found = unhandled_tags(tags, acted)
        if not found:
            continue
        i, path, theirs = found[0]
        mine = tags[i][path]
        ignored = [calls[j] for j, p, _t in found if p == path and tags[j][p] == mine]
        done = [c for c, t, a in zip(calls, tags, acted) if a and t.get(path) == theirs]
        c, ok = ignored[0], done[0]
        field = _is_field(path)
        producer = minted_by(view, _at(c.args[0], path), mine, c.ts) if field else None
        culprit = culprit_of(view, producer or c, c.args[0])
        if producer is not None:
            culprit.detail = (f"{fmt(producer.value, 70)} for {fmt(producer.args, 50)}: no clause of "
                              f"{c.mfa} handles it")[:150]
        tail = (f" {producer.mfa} made that {_shown(path, mine)} (from {fmt(producer.args, 60)}): "
                f"a tag its consumer never handles." if producer is not None else "")
        book.add(Finding(
            detector="variant_unhandled",
            title=f"{view.label(c.pid)} handles {_shown(path, theirs)} messages but drops {_shown(path, mine)} ones",
            summary=(f"{c.mfa} acted on {len(done)} message(s) like {fmt(ok.args[0], 90)} and did nothing for "
                     f"{len(ignored)} of the same shape tagged {_shown(path, mine)} instead of "
                     f"{_shown(path, theirs)} (e.g. {fmt(c.args[0], 90)}): no state change, nothing sent, nothing "
                     f"called. There is no clause for that variant, so it falls into a catch-all and is lost."
                     + tail),
            severity="high", confidence=min(0.75, 0.6 + 0.05 * len(done)),
            culprit=culprit,
            evidence=([view.call_evidence(x, f"{x.mfa} got {fmt(x.args[0], 80)}: acted on it") for x in done[:2]]
                      + [view.call_evidence(x, f"{x.mfa} got {fmt(x.args[0], 80)}: no state change, nothing sent")
                         for x in ignored[:3]]
                      + ([view.call_evidence(producer, f"{producer.mfa} returned {fmt(producer.value, 80)}")]
                         if producer is not None else [])),
            signatures=["message:variant_unhandled", "message:no_effect", "callback:unhandled_message"],
            fix_hint=_hint(c, path, mine, theirs, producer)),
            pid=c.pid, ts=c.ts)
