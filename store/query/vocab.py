"""The words of the language in one place: kinds, fields, grouping keys, aggregations.

The parser checks every word against these tables and suggests the closest one when it is
misspelt; the grammar document (docs/query-language.md) lists the same words.
"""

from __future__ import annotations

import difflib

__all__ = [
    "STORE_KINDS", "KIND_WORDS", "FIELDS", "METADATA_FIELDS", "TIME_FIELDS", "PAYLOAD_FIELD_KINDS",
    "FLAG_FIELD_KINDS",
    "GROUP_KEYS", "AGG_FUNCS", "PERCENTILES", "closest", "did_you_mean",
]

#: kind names as the store and docs/event-format.md spell them
STORE_KINDS: tuple[str, ...] = (
    "call", "return", "exception", "send", "send_dead", "receive", "spawn", "exit", "link",
    "unlink", "register", "unregister", "state", "gap", "mark", "spawned", "getting_linked",
    "getting_unlinked",
)

#: source words → the kinds they select; () means every kind. Singular and plural both work.
KIND_WORDS: dict[str, tuple[str, ...]] = {"events": (), "event": ()}
for _k in STORE_KINDS:
    KIND_WORDS[_k] = (_k,)
    if not _k.endswith("ed") and _k != "send_dead":
        KIND_WORDS[_k + "s"] = (_k,)
KIND_WORDS.update({
    "dead_sends": ("send_dead",),
    "messages": ("send", "send_dead", "receive"),
})

#: columns of every event, answered by SQL alone
METADATA_FIELDS = ("kind", "module", "function", "arity", "pid", "name", "node")
#: compared with durations (`time > 2s` is "2 s after the recording started")
TIME_FIELDS = ("time", "duration")

#: fields read from the decoded payload, and the kinds that carry them. `return` and
#: `exception` on a call mean the call's own return / exception (paired by nesting).
PAYLOAD_FIELD_KINDS: dict[str, tuple[str, ...]] = {
    "args": ("call",),
    "return": ("return", "call"),
    "exception": ("exception", "call"),
    "class": ("exception", "call"),
    "reason": ("exception", "exit", "call"),
    "message": ("send", "send_dead", "receive"),
    "to": ("send", "send_dead"),
    "state": ("state",),
    "phase": ("state",),
    "payload": STORE_KINDS,
}

#: `changed = true`: a state event whose state differs from the process's previous recorded
#: state (an `after` that is not a copy of its `before`) — "a state change"
FLAG_FIELD_KINDS: dict[str, tuple[str, ...]] = {"changed": ("state",)}

FIELDS: tuple[str, ...] = (METADATA_FIELDS + TIME_FIELDS + ("arg",) + tuple(PAYLOAD_FIELD_KINDS)
                           + tuple(FLAG_FIELD_KINDS))

GROUP_KEYS = ("function", "module", "process", "node", "kind")
PERCENTILES = ("p50", "p75", "p90", "p95", "p99", "p999")
AGG_FUNCS = ("count", "rate", "avg", "min", "max", "sum") + PERCENTILES


def closest(word: str, choices) -> str | None:
    """The most similar choice to `word`, or None when nothing is close."""
    found = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return found[0] if found else None


def did_you_mean(word: str, choices, what: str) -> str:
    """A suggestion sentence: "did you mean 'function'?" or the list of valid words."""
    best = closest(word, choices)
    if best:
        return f"did you mean '{best}'?"
    listed = ", ".join(sorted(set(choices)))
    return f"valid {what}: {listed}"
