"""The failure the user reports is the end of the causal chain, not its cause.

A refusal, an error reason or a status code that the symptom itself names ("refused as
expired", "answers 429 Too Many Requests", "fails with 'payment method unavailable'") reached
the user: whoever turned it into that answer passed it on, it did not drop it. A fact that
blames such a frame for *ignoring* the failure blames the messenger; the cause is where the
failure was decided — the callee that produced it and what it read.

:func:`reported` says which words of a failure term (an error's reason, a caller's answer)
the symptom repeats. Matching is on whole words of the term's atoms (``:no_slot`` → *slot*,
``:method_unavailable`` → *method unavailable*), its short texts (``"invalid API key"``) and
an HTTP error status at the head of a tuple (``{429, body}``); a term none of whose words
says more than "error" matches nothing. Bounded: terms are walked a few levels deep.
"""

from __future__ import annotations

import re
from typing import Any

from elixir_scope.instrument.etf import Atom

__all__ = ["reported", "symptom_words"]

# words that say only "something failed": the symptom repeating them names no particular failure
_GENERIC = frozenset(("error", "errors", "failed", "failure", "fail", "reason", "invalid", "unknown", "bad",
                      "not", "the", "and", "for", "with", "ok", "nil", "true", "false", "reply", "noreply",
                      "badarg", "exit", "undefined", "none", "some", "other"))
_MAX_DEPTH = 3
_MAX_TEXT = 60


def symptom_words(symptom: str) -> set[str]:
    return set(re.findall(r"[a-z0-9]+", symptom.lower()))


def _phrases(term: Any, depth: int = 0, head: bool = False) -> list[tuple[str, ...]]:
    """The word groups a term says: each atom, each short text, an HTTP error status."""
    if isinstance(term, Atom):
        return [tuple(w for w in re.findall(r"[a-z0-9]+", term.name.lower()))]
    if isinstance(term, bool):
        return []
    if isinstance(term, int):
        return [(str(term),)] if head and 400 <= term <= 599 else []
    if isinstance(term, (bytes, str)):
        text = term.decode("utf-8", "replace") if isinstance(term, bytes) else term
        return [tuple(re.findall(r"[a-z0-9]+", text.lower()))] if 0 < len(text) <= _MAX_TEXT else []
    if depth >= _MAX_DEPTH:
        return []
    if isinstance(term, (list, tuple)):
        return [p for i, t in enumerate(list(term)[:8])
                for p in _phrases(t, depth + 1, head=isinstance(term, tuple) and i == 0)]
    if isinstance(term, dict):
        return [p for v in list(term.values())[:8] for p in _phrases(v, depth + 1)]
    return []


def reported(term: Any, words: set[str]) -> str | None:
    """The words of ``term`` that the symptom (``words``, from :func:`symptom_words`) repeats —
    a group whose every telling word (3+ letters, not a generic "error"/"failed") is in the
    symptom, and that has one of 4+ letters or a status code — else None."""
    for group in _phrases(term):
        telling = [w for w in group if len(w) >= 3 and w not in _GENERIC]
        if not telling or not all(w in words for w in telling):
            continue
        if any(len(w) >= 4 or w.isdigit() for w in telling):
            return " ".join(telling)
    return None
