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
    """One signature token and the facts that showed it (``weight`` 1 exact, 0.5 ancestor).

    ``observed``: the observed token that matched — of equally good ones the most specific
    (``exception:timeout:GenServer.call`` before ``exception:timeout``), whose facts say the most;
    ``tied``: every observed token of that best weight, the most specific first (their facts are
    all in ``fact_ids``)."""

    token: str
    observed: str
    fact_ids: tuple[str, ...]
    weight: float
    tied: tuple[str, ...] = ()

    @property
    def observed_tokens(self) -> tuple[str, ...]:
        return self.tied or (self.observed,)


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


def _specific_first(token: str) -> tuple:
    return (-token.count(":"), token)


def _matches(tokens: Sequence[str], observed: Mapping[str, Sequence[str]]) -> list[TokenMatch]:
    out = []
    for tok in tokens:
        weights: dict[str, float] = {}
        for obs in observed:
            w = relation(tok, obs)
            if w <= 0 or not observed[obs]:
                continue
            # a fact more specific than the signature asks for satisfies it fully
            weights[obs] = 1.0 if obs.startswith(tok + ":") else w
        if not weights:
            continue
        best = max(weights.values())
        # a tie goes to the most specific token: a child (a:b:c) says all its parent (a:b) says, and more
        tied = sorted((o for o, w in weights.items() if w == best), key=_specific_first)
        ids = tuple(dict.fromkeys(f for o in tied for f in observed[o]))
        out.append(TokenMatch(tok, tied[0], ids, best, tuple(tied)))
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


def token_spread(entries) -> dict[str, int]:
    """token → how many entries' evidence signatures list it (or a token above or below it in
    the hierarchy) among their ``supports``: how little a token on its own tells the patterns
    apart (``exception:function_clause`` is in many, ``trap_exit:exit_message`` in one)."""
    sigs = [e.evidence.supports for e in entries if e.evidence is not None and e.evidence.checkable]
    tokens = {t for s in sigs for t in s}
    return {t: sum(1 for s in sigs if any(relation(t, u) > 0 for u in s)) for t in tokens}


def signature_misfit(entry: Entry, check: SignatureCheck, spread: Mapping[str, int]) -> str | None:
    """Why ``entry`` is a candidate by a token it shares with other patterns while the primary
    token that tells it apart was not seen — None when its signature fits.

    A pattern names in ``primary`` the evidence any one of which makes it a candidate; when the
    ones seen are all listed by more patterns than one of another family that was not (the
    error's name, seen in every pattern that ends in that error, while the callback or the
    message shape this pattern is about was not), the recording shows a failure the pattern
    shares, not the pattern. A missing token of a family that was seen is only a degree of the
    same evidence (``mailbox:large`` beside ``mailbox:growing``) and does not count. The same
    rule holds for every entry: no entry is named here."""
    sig = entry.evidence
    if sig is None:
        return None
    seen = [m.token for m in check.supported_by if m.weight >= 1.0 and m.token in sig.primary]
    missing = [p for p in sig.primary if p not in seen]
    if not seen or not missing:
        return None
    # a token of a family already seen is a degree of the same evidence (a mailbox growing, not
    # yet large): only evidence of another kind — where it failed, what it received — sets apart
    families = {s.split(":", 1)[0] for s in seen}
    other = [t for t in missing if t.split(":", 1)[0] not in families]
    if not other:
        return None
    apart = min(other, key=lambda t: (spread.get(t, 1), t))
    if all(spread.get(s, 1) > spread.get(apart, 1) for s in seen):
        shared = ", ".join(f"{s} (in {spread.get(s, 1)} patterns)" for s in seen)
        return (f"its signature does not fit: the recording shows {shared}, not {apart}, "
                f"which tells this pattern apart")
    return None
