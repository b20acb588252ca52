"""Search the knowledge base by symptom text, by observed trace signatures, or both.

Three ways in, one result type (`Hit`, best first, with the reasons it ranked there):

- `search_text("callers time out after five seconds")` — hybrid: the best-matching chunk's
  cosine similarity from the Chroma index (meaning), plus a BM25 score over the entry's
  prose (exact words and identifiers), each scaled to [0, 1] by the best hit of the query
  and summed with weights `TEXT_WEIGHTS`. Dense retrieval alone misses rare identifiers;
  BM25 alone misses paraphrase ("the box runs out of memory" ↔ "binary heap grows").
- `search_signatures(["call:cycle", "exception:timeout:GenServer.call"])` — no model at all:
  how much of what was observed an entry explains (recall, weight 0.7) and how much of the
  entry's signature was observed (precision, 0.3), each token weighted by its rarity across
  entries (idf), parent/child tokens counting half (see `signatures.relation`).
- `search(text, signatures)` — both, each scaled to [0, 1] and averaged with
  `COMBINED_WEIGHTS`; an entry found by only one side still ranks, on half the weight.

The weights were set once by reasoning, then checked on the labelled evaluation set in
tests/data/kb_eval.jsonl (whose queries were written separately from the entries).
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Iterable, Sequence

from .bm25 import entries_bm25
from .errors import KnowledgeError
from .kb import Entry, KnowledgeBase
from .signatures import check_tokens, relation

TEXT_WEIGHTS = {"dense": 0.65, "bm25": 0.35}
COMBINED_WEIGHTS = {"text": 0.5, "signatures": 0.5}
_SIG_RECALL, _SIG_PRECISION = 0.7, 0.3
_SIG_PRIMARY_UNSEEN = 0.8   # none of the entry's primary tokens observed as such


@dataclass(frozen=True)
class Hit:
    """One retrieved entry. `score` orders hits within one search; `why` explains it."""

    entry: Entry
    score: float
    rank: int
    text_score: float | None = None
    signature_score: float | None = None
    matched_chunk: str | None = None
    matched_terms: tuple[str, ...] = ()
    matched_signatures: tuple[str, ...] = ()
    why: tuple[str, ...] = field(default=())

    @property
    def id(self) -> str:
        return self.entry.id


def _top(scores: dict[str, float], k: int) -> list[tuple[str, float]]:
    if not isinstance(k, int) or k < 1:
        raise KnowledgeError(f"k must be a positive number of results, not {k!r}")
    return sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))[:k]


DENSE_CHUNKS = 200
"""Chunks asked of the vector index per text search (~5 ms more than 60 on this machine)."""


class Retriever:
    """Searches one `KnowledgeBase` through its synchronised `KnowledgeIndex`."""

    def __init__(self, kb: KnowledgeBase, index) -> None:
        self.kb = kb
        self.index = index
        self._bm25 = entries_bm25(kb.entries)
        self._by_id = {e.id: e for e in kb}
        self._sig_df: dict[str, int] = defaultdict(int)
        for e in kb:
            for tok in set(e.signatures):
                self._sig_df[tok] += 1

    @classmethod
    def open(cls, index_dir=None, kb: KnowledgeBase | None = None) -> "Retriever":
        """Load the packaged entries (or `kb`), open the index at `index_dir`, sync, and return."""
        from .index import KnowledgeIndex

        kb = kb or KnowledgeBase.load()
        index = KnowledgeIndex.open(index_dir)
        index.sync(kb)
        return cls(kb, index)

    # -- text -----------------------------------------------------------------------------
    def _dense(self, query: str) -> dict[str, tuple[float, str]]:
        """entry id → (its best chunk's cosine similarity, that chunk) over the ``DENSE_CHUNKS``
        nearest chunks. An entry none of whose chunks is among them gets no dense score, so the
        cut must lie well below the entries a diagnosis ranks: at 60 chunks (of ~640, 144
        entries) an entry whose best chunk came 61st lost its dense score, and which one came
        61st varied with the index build — a hypothesis flipped between two runs."""
        best: dict[str, tuple[float, str]] = {}
        for m in self.index.query(query, n_chunks=DENSE_CHUNKS):
            if m.entry_id in self._by_id and (m.entry_id not in best or m.similarity > best[m.entry_id][0]):
                best[m.entry_id] = (m.similarity, m.text)
        return best

    def search_text(self, query: str, k: int = 5) -> list[Hit]:
        """Entries that best explain a symptom described in words."""
        if not isinstance(query, str) or not query.strip():
            raise KnowledgeError("search_text needs a non-empty description of the symptom")
        dense = self._dense(query)
        lexical = {d.doc_id: d for d in self._bm25.search(query)}
        top_dense = max((s for s, _ in dense.values()), default=0.0) or 1.0
        top_lex = max((d.score for d in lexical.values()), default=0.0) or 1.0
        scores: dict[str, float] = {}
        for eid in set(dense) | set(lexical):
            d = dense[eid][0] / top_dense if eid in dense else 0.0
            lx = lexical[eid].score / top_lex if eid in lexical else 0.0
            scores[eid] = TEXT_WEIGHTS["dense"] * max(d, 0.0) + TEXT_WEIGHTS["bm25"] * lx
        hits = []
        for rank, (eid, score) in enumerate(_top(scores, k), 1):
            chunk = dense.get(eid, (0.0, None))
            terms = lexical[eid].matched if eid in lexical else ()
            why = []
            if chunk[1]:
                why.append(f"closest text (cosine {chunk[0]:.2f}): {chunk[1]}")
            if terms:
                why.append(f"keywords: {', '.join(terms)}")
            hits.append(Hit(self._by_id[eid], score, rank, text_score=score,
                            matched_chunk=chunk[1], matched_terms=terms, why=tuple(why)))
        return hits

    # -- signatures -----------------------------------------------------------------------
    def _idf(self, token: str) -> float:
        df = self._sig_df.get(token) or sum(n for t, n in self._sig_df.items() if relation(t, token))
        return math.log(1 + len(self.kb) / max(df, 1))

    def signature_scores(self, observed: Sequence[str]) -> dict[str, tuple[float, tuple[str, ...]]]:
        """entry id → (score in [0, 1], entry tokens that matched) for every entry that matched."""
        obs = tuple(dict.fromkeys(check_tokens(observed, where="observed signatures")))
        if not obs:
            raise KnowledgeError("search_signatures needs at least one observed signature token")
        obs_w = {o: self._idf(o) for o in obs}
        total_obs = sum(obs_w.values())
        out = {}
        for e in self.kb:
            explained = 0.0
            matched: set[str] = set()
            for o, w in obs_w.items():
                best = max(((relation(o, t), t) for t in e.signatures), default=(0.0, ""))
                if best[0] > 0:
                    explained += best[0] * w
                    matched.update(t for t in e.signatures if relation(o, t) == best[0])
            if not matched:
                continue
            entry_w = sum(self._idf(t) for t in e.signatures)
            covered = sum(self._idf(t) for t in matched)
            score = _SIG_RECALL * explained / total_obs + _SIG_PRECISION * covered / entry_w
            # an entry whose defining token is a *narrower* one than anything observed (observed
            # call:cycle, the entry is about call:cycle:across_nodes) explains less than one whose
            # defining token was seen itself
            primary = e.evidence.primary if e.evidence is not None else ()
            if primary and not any(relation(o, p) == 1.0 for o in obs for p in primary):
                score *= _SIG_PRIMARY_UNSEEN
            out[e.id] = (score, tuple(t for t in e.signatures if t in matched))
        return out

    def search_signatures(self, observed: Iterable[str], k: int = 5) -> list[Hit]:
        """Entries whose trace signature best explains the observed tokens."""
        scored = self.signature_scores(list(observed))
        hits = []
        for rank, (eid, score) in enumerate(_top({i: s for i, (s, _) in scored.items()}, k), 1):
            matched = scored[eid][1]
            hits.append(Hit(self._by_id[eid], score, rank, signature_score=score,
                            matched_signatures=matched,
                            why=(f"signatures matched: {', '.join(matched)}",)))
        return hits

    # -- both -----------------------------------------------------------------------------
    def search(self, text: str | None = None, signatures: Iterable[str] = (), k: int = 5) -> list[Hit]:
        """Text and signatures together; either may be omitted, not both."""
        signatures = list(signatures)
        if not (text and text.strip()) and not signatures:
            raise KnowledgeError("search needs symptom text, observed signatures, or both")
        if not signatures:
            return self.search_text(text, k)
        if not (text and text.strip()):
            return self.search_signatures(signatures, k)
        text_hits = {h.id: h for h in self.search_text(text, k=len(self.kb))}
        sig = self.signature_scores(signatures)
        top_t = max((h.score for h in text_hits.values()), default=0.0) or 1.0
        top_s = max((s for s, _ in sig.values()), default=0.0) or 1.0
        scores = {}
        for eid in set(text_hits) | set(sig):
            t = text_hits[eid].score / top_t if eid in text_hits else 0.0
            s = sig[eid][0] / top_s if eid in sig else 0.0
            scores[eid] = COMBINED_WEIGHTS["text"] * t + COMBINED_WEIGHTS["signatures"] * s
        hits = []
        for rank, (eid, score) in enumerate(_top(scores, k), 1):
            th = text_hits.get(eid)
            matched = sig[eid][1] if eid in sig else ()
            why = list(th.why) if th else []
            if matched:
                why.append(f"signatures matched: {', '.join(matched)}")
            hits.append(Hit(self._by_id[eid], score, rank,
                            text_score=th.score if th else None,
                            signature_score=sig[eid][0] if eid in sig else None,
                            matched_chunk=th.matched_chunk if th else None,
                            matched_terms=th.matched_terms if th else (),
                            matched_signatures=matched, why=tuple(why)))
        return hits
