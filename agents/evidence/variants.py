"""A variant of a handled message that falls through: same shape, another nested tag.

Messages often come in families that differ only in a tag inside them — a port's
``{port, {:data, {:eol, line}}}`` and ``{port, {:data, {:noeol, chunk}}}``, a task's
``{ref, {:ok, v}}`` and ``{ref, {:error, e}}``, ``{:event, {:added, x}}`` and
``{:event, {:removed, x}}``. A clause written for one member lets the others fall into a
catch-all, where they are dropped without a trace. In the recording: one process's callback
acted on messages of one variant (state changed, messages sent, functions called) and did
nothing at all for a message of the same shape whose nested tag differs.

| kind | what | culprit |
| --- | --- | --- |
| ``variant_unhandled`` | a ``handle_info``/``handle_cast`` handled messages of one shape and changed nothing for the variant with another nested tag (``{:noeol, _}`` where ``{:eol, _}`` is handled) | the callback (it has no clause for the variant), and the message |
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from elixir_scope.instrument.etf import Atom, Port
from elixir_scope.instrument.etf.terms import FrozenList

from ..findings import Finding
from ..view import Call, RecordingView, fmt
from .book import FactBook
from .common import callback_states, culprit_of

_MAX_DEPTH = 4


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


def _tags(term: Any, path: tuple = (), depth: int = 0) -> dict[tuple, str]:
    """path → atom at the head of every tuple nested inside the message (not the message's own
    head: a different top-level tag is a different message, not a variant)."""
    out: dict[tuple, str] = {}
    if not _is_tuple(term) or depth >= _MAX_DEPTH:
        return out
    if depth > 0 and term and isinstance(term[0], Atom):
        out[path] = term[0].name
    for i, x in enumerate(term):
        out.update(_tags(x, path + (i,), depth + 1))
    return out


def _acted(c: Call, pairs: dict, view: RecordingView) -> bool:
    before, after = pairs[c.call_id]
    if fmt(before, 4000) != fmt(after, 4000):
        return True
    return view.sent_during(c.pid, c.ts, c.end_ts or c.ts) or bool(view.children(c))


def unhandled_variants(view: RecordingView, book: FactBook) -> None:
    pairs = callback_states(view)
    if not pairs:
        return
    families: dict[tuple, list[Call]] = defaultdict(list)
    for c in view.calls:
        if c.call_id not in pairs or c.function not in ("handle_info", "handle_cast") or not c.args \
                or not _is_tuple(c.args[0]):
            continue
        families[(c.pid, c.module, c.function, _layout(c.args[0]))].append(c)
    for key in sorted(families, key=str):
        calls = families[key]
        variants: dict[tuple, list[Call]] = defaultdict(list)
        for c in calls:
            variants[tuple(sorted(_tags(c.args[0]).items()))].append(c)
        if len(variants) < 2:
            continue
        acted = {v: [_acted(c, pairs, view) for c in cs] for v, cs in variants.items()}
        handled = [v for v, a in acted.items() if all(a)]
        for v in sorted(variants, key=str):
            if any(acted[v]) or not v:
                continue
            # a handled variant that differs from this one only in a nested tag
            twins = [h for h in handled if len(h) == len(v) and
                     {p for p, _t in h} == {p for p, _t in v} and dict(h) != dict(v)]
            if not twins:
                continue
            twin = twins[0]
            where = [p for p, t in v if dict(twin).get(p) != t]
            ignored, done = variants[v], variants[twin]
            c, ok = ignored[0], done[0]
            mine = dict(v)[where[0]]
            theirs = dict(twin)[where[0]]
            book.add(Finding(
                detector="variant_unhandled",
                title=f"{view.label(c.pid)} handles {{:{theirs}, …}} messages but drops {{:{mine}, …}} ones",
                summary=(f"{c.mfa} acted on {len(done)} message(s) like {fmt(ok.args[0], 90)} and did nothing for "
                         f"{len(ignored)} of the same shape tagged :{mine} instead of :{theirs} (e.g. "
                         f"{fmt(c.args[0], 90)}): no state change, nothing sent, nothing called. There is no clause "
                         f"for the :{mine} variant, so it falls into a catch-all and is lost."),
                severity="high", confidence=min(0.75, 0.6 + 0.05 * len(done)),
                culprit=culprit_of(view, c, c.args[0]),
                evidence=([view.call_evidence(x, f"{x.mfa} got {fmt(x.args[0], 80)}: acted on it") for x in done[:2]]
                          + [view.call_evidence(x, f"{x.mfa} got {fmt(x.args[0], 80)}: no state change, nothing sent")
                             for x in ignored[:3]]),
                signatures=["message:variant_unhandled", "message:no_effect", "callback:unhandled_message"],
                fix_hint=(f"Add a clause for the :{mine} variant next to the one for :{theirs}"
                          + (" (a port opened in {:line, n} mode sends a longer line as {:noeol, chunk} pieces before "
                             "the {:eol, rest} that ends it: collect them)" if any(isinstance(x, Port) for x in c.args[0])
                             else "") + ", and log unexpected messages in the catch-all instead of dropping them.")),
                pid=c.pid, ts=c.ts)
