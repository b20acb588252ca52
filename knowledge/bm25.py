"""Okapi BM25 over the entries' prose: the keyword baseline, and the lexical half of search.

Plain and dependency-free on purpose: it is the yardstick the vector retriever must beat
(the evaluation prints both), and it is also fused into text search, because exact
identifiers an operator pastes (`:reached_max_restart_intensity`, `DBConnection`,
`Task.async_stream`) are where a keyword match is sharper than a sentence embedding.

Tokenisation: lower-case, split on anything but letters, digits and `_`; Elixir module
paths split into their parts (`GenServer.call` → `genserver`, `call`); a short English
stop-word list; a light suffix strip (plural `s`, `ing`, `ed`) so "timeouts" meets "timeout".
Parameters are the usual k1 = 1.5, b = 0.75.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass
from typing import Iterable, Sequence

_WORD = re.compile(r"[a-z0-9_]+")
_STOP = frozenset("""a an and are as at be but by can do does for from has have how i if in into is it
its me my not of on or our so that the their then there these they this to was we were what when
which while who why will with you your after before again all also any because been being more
most no only other out over same some such than too very just get got keeps keep""".split())


def _stem(w: str) -> str:
    for suf, min_len in (("ing", 6), ("ed", 5), ("es", 5), ("s", 4)):
        if w.endswith(suf) and len(w) >= min_len and not w.endswith("ss"):
            return w[: -len(suf)]
    return w


def tokenize(text: str) -> list[str]:
    """Lower-cased, stop-word-free, lightly stemmed words of `text`."""
    out = []
    for w in _WORD.findall(text.lower()):
        for part in w.strip("_").split("_") if "_" in w else (w,):
            if part and part not in _STOP and not part.isdigit():
                out.append(_stem(part))
    return out


@dataclass(frozen=True)
class ScoredDoc:
    """A document id with its BM25 score and the query terms it matched."""

    doc_id: str
    score: float
    matched: tuple[str, ...]


class BM25:
    """An in-memory BM25 index over (id, text) pairs."""

    def __init__(self, docs: Iterable[tuple[str, str]], *, k1: float = 1.5, b: float = 0.75) -> None:
        self.k1, self.b = k1, b
        self._ids: list[str] = []
        self._tf: list[Counter[str]] = []
        self._len: list[int] = []
        df: Counter[str] = Counter()
        for doc_id, text in docs:
            terms = tokenize(text)
            self._ids.append(doc_id)
            self._tf.append(Counter(terms))
            self._len.append(len(terms))
            df.update(set(terms))
        if not self._ids:
            raise ValueError("BM25 needs at least one document")
        n = len(self._ids)
        self._avg = sum(self._len) / n
        self._idf = {t: math.log(1 + (n - f + 0.5) / (f + 0.5)) for t, f in df.items()}

    def search(self, query: str, k: int | None = None) -> list[ScoredDoc]:
        """Documents with a positive score, best first (all of them when `k` is None)."""
        q = list(dict.fromkeys(tokenize(query)))
        hits = []
        for i, tf in enumerate(self._tf):
            score, matched = 0.0, []
            norm = self.k1 * (1 - self.b + self.b * self._len[i] / self._avg)
            for t in q:
                f = tf.get(t)
                if f:
                    score += self._idf[t] * f * (self.k1 + 1) / (f + norm)
                    matched.append(t)
            if score > 0:
                hits.append(ScoredDoc(self._ids[i], score, tuple(matched)))
        hits.sort(key=lambda h: (-h.score, h.doc_id))
        return hits if k is None else hits[:k]


def entries_bm25(entries: Sequence) -> BM25:
    """BM25 over each entry's prose (`Entry.search_text()`), keyed by entry id."""
    return BM25((e.id, e.search_text()) for e in entries)
