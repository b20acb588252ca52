"""The fact book: every fact of one recording, with stable ids, the links between them
(``caused_by``) and the private details the analyses use to link them."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from ..findings import Finding


@dataclass
class FactBook:
    facts: list[Finding] = field(default_factory=list)
    meta: dict[str, dict[str, Any]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)   # analyses that failed on this recording (and why)
    _counts: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def add(self, fact: Finding, **meta: Any) -> Finding:
        self._counts[fact.detector] += 1
        fact.id = f"{fact.detector}#{self._counts[fact.detector]}"
        self.facts.append(fact)
        self.meta[fact.id] = meta
        return fact

    def rekind(self, fact: Finding, detector: str) -> None:
        """Make ``fact`` one of another kind, with that kind's next id (before anything links to
        it: a link names the old id)."""
        meta = self.meta.pop(fact.id, {})
        self._counts[detector] += 1
        fact.detector = detector
        fact.id = f"{detector}#{self._counts[detector]}"
        self.meta[fact.id] = meta

    def get(self, fact_id: str | None) -> Finding | None:
        if fact_id is None:
            return None
        for f in self.facts:
            if f.id == fact_id:
                return f
        return None

    def of_kind(self, *kinds: str) -> list[Finding]:
        return [f for f in self.facts if f.detector in kinds]

    def link(self, effect: Finding, cause: Finding, note: str | None = None) -> None:
        """``effect`` happened because of ``cause`` (never a cycle: a link that would close one
        is ignored)."""
        if effect.id == cause.id or effect.caused_by is not None:
            return
        seen, cur = {effect.id}, cause
        while cur is not None:
            if cur.id in seen:
                return
            seen.add(cur.id)
            cur = self.get(cur.caused_by)
        effect.caused_by = cause.id
        if note:
            self.meta[effect.id]["link_note"] = note

    def link_origin(self, effect: Finding, cause: Finding, note: str, *, origins: tuple[str, ...]) -> bool:
        """``effect`` happened because of ``cause``: linked when it has no cause yet; when it has
        one, the first cause of its chain is linked instead if its detector is one of ``origins``
        (a failure ``cause`` explains better). False, and nothing linked, when that chain already
        starts at ``cause``."""
        origin = self.origin(effect)
        if origin.id == cause.id:
            return False
        if effect.caused_by is None:
            self.link(effect, cause, note)
        elif origin.detector in origins:
            self.link(origin, cause, note)
        return True

    def origin(self, fact: Finding) -> Finding:
        """Follow ``caused_by`` to the first cause."""
        seen, cur = {fact.id}, fact
        while cur.caused_by is not None:
            nxt = self.get(cur.caused_by)
            if nxt is None or nxt.id in seen:
                break
            seen.add(nxt.id)
            cur = nxt
        return cur

    def chain(self, fact: Finding) -> list[Finding]:
        """From the first cause to ``fact``."""
        out, seen, cur = [fact], {fact.id}, fact
        while cur.caused_by is not None:
            nxt = self.get(cur.caused_by)
            if nxt is None or nxt.id in seen:
                break
            seen.add(nxt.id)
            out.append(nxt)
            cur = nxt
        return list(reversed(out))

    def by_event(self) -> dict[int, list[Finding]]:
        out: dict[int, list[Finding]] = defaultdict(list)
        for f in self.facts:
            for eid in f.event_ids:
                out[eid].append(f)
        return out

    def observed(self) -> dict[str, list[str]]:
        """signature token → ids of the facts that show it (what a signature check takes)."""
        out: dict[str, list[str]] = defaultdict(list)
        for f in self.facts:
            for t in f.signatures:
                if f.id not in out[t]:
                    out[t].append(f.id)
        return dict(out)
