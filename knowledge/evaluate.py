"""Retrieval evaluation: recall@k and mean reciprocal rank on a labelled set of symptoms.

The labelled set (tests/data/kb_eval.jsonl) holds one JSON object per line:
`{"query": "what a user would type", "expected": ["entry-id", ...], "style": "..."}` — any
of the expected ids counts as a hit (some symptoms honestly have two right answers).
`style` is `reported` (default: how users report problems, error lines pasted from logs)
or `paraphrase` (descriptions that deliberately avoid the entries' own vocabulary — the
case keyword search is weakest at). The tests and the
benchmark both use this module, so the figures they print are computed the same way.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from .errors import KnowledgeError


@dataclass(frozen=True)
class EvalCase:
    query: str
    expected: tuple[str, ...]
    style: str = "reported"


@dataclass(frozen=True)
class EvalResult:
    """recall@k, MRR (over the first `depth` results) and the queries that missed top k."""

    name: str
    k: int
    recall_at_k: float
    mrr: float
    misses: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...]  # query, expected, got

    def line(self) -> str:
        return f"{self.name:<22} recall@{self.k} = {self.recall_at_k:.3f}   MRR = {self.mrr:.3f}"


def load_cases(path: Path, known_ids: Sequence[str] | None = None) -> list[EvalCase]:
    """Read the labelled set; with `known_ids`, refuse labels that name no entry."""
    cases = []
    for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
            case = EvalCase(str(raw["query"]), tuple(raw["expected"]), str(raw.get("style", "reported")))
        except (ValueError, KeyError, TypeError) as exc:
            raise KnowledgeError(f"{path}:{n}: expected {{'query': str, 'expected': [ids]}}: {exc}") from exc
        if case.style not in ("reported", "paraphrase"):
            raise KnowledgeError(f"{path}:{n}: style must be 'reported' or 'paraphrase', not {case.style!r}")
        if not case.query.strip() or not case.expected:
            raise KnowledgeError(f"{path}:{n}: empty query or no expected ids")
        if known_ids is not None:
            unknown = [i for i in case.expected if i not in known_ids]
            if unknown:
                raise KnowledgeError(f"{path}:{n}: expected ids {unknown} are not entries")
        cases.append(case)
    return cases


def evaluate(name: str, rank: Callable[[str], Sequence[str]], cases: Sequence[EvalCase],
             k: int = 3) -> EvalResult:
    """Run `rank(query) -> ranked entry ids` on every case and score it."""
    hits, rr, misses = 0, 0.0, []
    for case in cases:
        ranked = list(rank(case.query))
        first = next((i for i, eid in enumerate(ranked) if eid in case.expected), None)
        if first is not None:
            rr += 1.0 / (first + 1)
        if first is not None and first < k:
            hits += 1
        else:
            misses.append((case.query, case.expected, tuple(ranked[:k])))
    n = len(cases) or 1
    return EvalResult(name, k, hits / n, rr / n, tuple(misses))
