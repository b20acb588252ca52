"""Checking a knowledge-base entry's evidence signature against what a recording showed.

The diagnosis's evidence layer (``agents/evidence``) turns a recording into typed facts, each
carrying the signature tokens it shows (``knowledge/signatures.py``) and the event ids that
prove it. This module knows nothing of recordings: it takes ``token → [fact id]`` and tells,
for one entry, which facts support it, which contradict it, and whether its primary evidence
was seen at all — the Sigma-style check a rule engine runs, one rule at a time::

    observed = {"call:cycle": ["f3"], "exception:timeout:GenServer.call": ["f1", "f2"]}
    check_signature(kb.get("genserver-call-cycle"), observed)
    # SignatureCheck(entry_id='genserver-call-cycle', candidate=True, support=0.83, ...)

A fact token matches a signature token when they are equal or one is an ancestor of the
other (``exception:timeout`` ~ ``exception:timeout:GenServer.call``): an exact match counts
fully, an ancestor match half (:func:`~elixir_scope.knowledge.signatures.relation`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from .kb import Entry
from .signatures import relation


@dataclass(frozen=True)
class TokenMatch:
    """One signature token and the facts that showed it (``weight`` 1 exact, 0.5 ancestor)."""

    token: str
    observed: str
    fact_ids: tuple[str, ...]
    weight: float


@dataclass(frozen=True)
class SignatureCheck:
    entry_id: str
    candidate: bool                       # a primary token was seen
    support: float                        # share of the signature's tokens seen, in [0, 1]
    supported_by: tuple[TokenMatch, ...]
    contradicted_by: tuple[TokenMatch, ...]

    @property
    def supporting_facts(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(f for m in self.supported_by for f in m.fact_ids))

    @property
    def contradicting_facts(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(f for m in self.contradicted_by for f in m.fact_ids))


def _matches(tokens: Sequence[str], observed: Mapping[str, Sequence[str]]) -> list[TokenMatch]:
    out = []
    for tok in tokens:
        best: TokenMatch | None = None
        for obs in sorted(observed):
            w = relation(tok, obs)
            if w <= 0 or not observed[obs]:
                continue
            # a fact more specific than the signature asks for satisfies it fully
            if obs.startswith(tok + ":"):
                w = 1.0
            if best is None or w > best.weight:
                best = TokenMatch(tok, obs, tuple(observed[obs]), w)
            elif w == best.weight:
                best = TokenMatch(tok, best.observed, tuple(dict.fromkeys(best.fact_ids + tuple(observed[obs]))), w)
        if best is not None:
            out.append(best)
    return out


def check_signature(entry: Entry, observed: Mapping[str, Sequence[str]]) -> SignatureCheck | None:
    """The entry's signature checked against ``observed`` (token → ids of the facts showing it);
    None for an entry without a checkable signature."""
    sig = entry.evidence
    if sig is None or not sig.checkable:
        return None
    support = _matches(sig.supports, observed)
    contra = _matches(sig.contradicts, observed)
    primary = {m.token for m in support if m.weight >= 1.0}
    candidate = any(p in primary for p in sig.primary)
    share = sum(m.weight for m in support) / len(sig.supports)
    return SignatureCheck(entry.id, candidate, round(share, 4), tuple(support), tuple(contra))
