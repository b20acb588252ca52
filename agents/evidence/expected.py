"""What the symptom states as expected is not the fault: a component the user calls slow by
design.

"We were told the sidebar stays empty when the recommendation service is slow, so a slow
recommender should never break a page" says two things: the recommender's slowness is known
and accepted, and what went wrong is that a caller did not survive it. A ``slow_callback`` fact
about that component is then no root cause on its own (``Finding.weak``), and the timeouts it
made its callers hit are not *caused* by it in the sense that matters: each becomes a first
cause of its own, blamed on the caller's frame that let the timeout through (the function that
called the slow component's client function and should have handled its failure).

| step | what |
| --- | --- |
| the symptom's words | a sentence that speaks of slowness (*slow*, *takes long*, *times out*) and says it is accepted (*is expected*, *by design*, *is normal*, *should never break*, *simply stays empty*) — not "it should not take that long" |
| the component | a fact's module whose name shares a word stem (6+ letters) with that sentence (``Recommender`` ↔ *recommendation*) |
"""

from __future__ import annotations

import re

from ..view import Call, RecordingView, is_app_module, mod_name
from .book import FactBook
from .common import culprit_of

__all__ = ["expected_slowness", "tolerated_words"]

_SLOW = re.compile(r"\bslow\w*|\btakes? (?:a )?(?:long|while|ages)\b|\btim(?:es|ed|ing) ?out\b|\blatenc\w*", re.I)
# accepting the slowness — not "it should not take that long", which says the opposite
_TOLERATED = re.compile(r"\b(?:is|are|being|be|was|were) (?:expected|normal|fine|acceptable|known|allowed|intended)\b"
                        r"|\bby design\b|\bon purpose\b|\bexpected(?: to be)? slow|\bslow by design"
                        r"|\b(?:should|must|would|will)(?: never|n'?t| not) (?:break|crash|fail|take down|bring down)\b"
                        r"|\bsimply (?:stays?|shows?|returns?|is|leaves?)\b", re.I)
_STEM = 6


def tolerated_words(symptom: str) -> set[str]:
    """The words of each sentence of ``symptom`` that calls a slowness accepted (empty: none)."""
    out: set[str] = set()
    for sentence in re.split(r"(?<=[.;!?])\s+|\n", symptom[:4000]):
        if _SLOW.search(sentence) and _TOLERATED.search(sentence):
            out.update(w for w in re.findall(r"[a-z]+", sentence.lower()) if len(w) >= _STEM)
    return out


def _names(module: str, words: set[str]) -> bool:
    """The module's name (its last segment's words) shares a 6-letter stem with ``words``."""
    last = module.split(".")[-1]
    parts = [p.lower() for p in re.findall(r"[A-Z][a-z0-9]*|[a-z0-9]+", last)]
    return any(len(p) >= _STEM and any(w[:_STEM] == p[:_STEM] for w in words) for p in parts)


def expected_slowness(view: RecordingView, book: FactBook, symptom: str) -> None:
    words = tolerated_words(symptom)
    if not words:
        return
    for slow in book.of_kind("slow_callback"):
        # the component is the server that was slow (its callback, the fact's first event), also
        # when the function where its time went is in another module
        run = slow.evidence[0].mfa if slow.evidence and slow.evidence[0].mfa else ""
        server = run.rsplit(".", 1)[0] if "." in run else slow.culprit.module
        component = next((m for m in (server, slow.culprit.module) if _names(m, words)), None)
        if component is None:
            continue
        slow.weak = (f"the symptom says {component} is slow by design (its slowness is expected): what "
                     "failed is a caller that did not survive it")
        slow.lifted_by = []
        for f in book.of_kind("call_failed"):
            if f.caused_by != slow.id:
                continue
            call = book.meta.get(f.id, {}).get("call")
            caller = _caller_frame(call, {server, slow.culprit.module}) if call is not None else None
            if caller is None:
                continue
            f.caused_by = None
            f.culprit = culprit_of(view, caller, caller.args[0] if len(caller.args) == 1 else None)
            f.summary += (f" {component} is slow by design, as the symptom says: {caller.mfa}, which "
                          "called it, let the timeout through instead of handling it (a `rescue` does not catch "
                          "an exit; `catch :exit, _` does).")
            f.confidence = max(f.confidence, 0.6)


def _caller_frame(call: Call, modules: set[str]) -> Call | None:
    """The first application frame above the failed call that is not the slow component's own
    code (its client function): the caller that met the timeout."""
    p: Call | None = call
    while p is not None:
        if is_app_module(p.module) and mod_name(p.module) not in modules and not p.function.startswith("-"):
            return p
        p = p.parent
    return None
