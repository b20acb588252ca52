"""The persistent vector index of the knowledge base: a local Chroma collection.

Why chunks: an operator describes *one* symptom ("callers time out", "memory keeps
climbing"); an entry lists several. Embedding each symptom as its own document (prefixed
with the entry title for context), plus one document for the title and summary, lets a
query land on the symptom it resembles instead of on an average of all of them. Search
groups chunks back into entries (best chunk wins) in `retrieve.py`.

Why incremental: every chunk carries its entry's `content_hash` in its metadata. `sync()`
reads those hashes back, and re-embeds only entries that were added or whose hash changed,
and deletes chunks of entries that disappeared. An unchanged knowledge base costs one
metadata read. A layout change (`LAYOUT_VERSION`) or a different embedding function drops
the collection and rebuilds it.

The index directory defaults to a per-user data directory (`default_index_dir`), read from
the environment in that one function. Chroma is imported here, never by
`elixir_scope.knowledge` itself, so nothing pays for it until an index is opened.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from .errors import VectorIndexError
from .kb import Entry, KnowledgeBase

COLLECTION = "elixir_scope_kb"
LAYOUT_VERSION = "2"


def default_index_dir(env: Mapping[str, str] | None = None) -> Path:
    """Where the index lives unless told otherwise.

    `$ELIXIR_SCOPE_HOME/kb-index`, else `$XDG_DATA_HOME/elixir-scope/kb-index`, else
    `~/.local/share/elixir-scope/kb-index`."""
    env = os.environ if env is None else env
    if env.get("ELIXIR_SCOPE_HOME"):
        return Path(env["ELIXIR_SCOPE_HOME"]).expanduser() / "kb-index"
    base = Path(env["XDG_DATA_HOME"]).expanduser() if env.get("XDG_DATA_HOME") else Path.home() / ".local" / "share"
    return base / "elixir-scope" / "kb-index"


def entry_chunks(entry: Entry) -> list[tuple[str, str, str]]:
    """(chunk id, kind, text) for one entry: its overview, then one chunk per symptom."""
    chunks = [(f"{entry.id}#overview", "overview",
               f"{entry.title}. {' '.join(entry.tags)}. {entry.summary}")]
    for i, symptom in enumerate(entry.symptoms):
        chunks.append((f"{entry.id}#symptom{i}", "symptom", f"{entry.title}: {symptom}"))
    return chunks


@contextlib.contextmanager
def _dir_lock(path: Path):
    """An exclusive lock on the index directory, held while its collection is created or synced.

    The MCP server, the CLI and the agent may open the same per-user index at once; the
    lock keeps two syncs from diffing against the same old state, and two first opens from
    both creating (or both dropping) the collection."""
    try:
        fh = open(path / ".sync.lock", "w")
    except OSError as exc:
        raise VectorIndexError(f"cannot open the knowledge index at {path}: {exc}") from exc
    with fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


@dataclass(frozen=True)
class SyncReport:
    """What `KnowledgeIndex.sync` did."""

    added: tuple[str, ...]
    updated: tuple[str, ...]
    removed: tuple[str, ...]
    unchanged: int
    chunks_embedded: int
    seconds: float

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated or self.removed)


@dataclass(frozen=True)
class ChunkMatch:
    """One chunk returned by a vector query: its entry, kind, text and cosine similarity."""

    entry_id: str
    kind: str
    text: str
    similarity: float


class KnowledgeIndex:
    """A Chroma collection holding the knowledge base's chunks. Open with `KnowledgeIndex.open`."""

    def __init__(self, client, collection, path: Path) -> None:
        self._client = client
        self._col = collection
        self.path = path

    @classmethod
    def open(cls, path: Path | None = None, *, collection: str = COLLECTION) -> "KnowledgeIndex":
        """Open (creating if needed) the index at `path` (default: `default_index_dir()`)."""
        import chromadb
        from chromadb.config import Settings
        from chromadb.errors import NotFoundError

        from .embedding import MiniLMEmbeddingFunction

        path = Path(path) if path is not None else default_index_dir()
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise VectorIndexError(f"cannot open the knowledge index at {path}: {exc}") from exc
        # the client is made under the lock too: two first opens of one directory would both run
        # Chroma's schema migration ("table collections already exists")
        with _dir_lock(path):
            try:
                client = chromadb.PersistentClient(str(path), settings=Settings(anonymized_telemetry=False))
            except Exception as exc:
                raise VectorIndexError(f"cannot open the knowledge index at {path}: {exc}") from exc
            ef = MiniLMEmbeddingFunction()
            meta = {"hnsw:space": "cosine", "layout": LAYOUT_VERSION}
            try:
                col = client.get_or_create_collection(collection, embedding_function=ef, metadata=meta)
                fresh = (col.metadata or {}).get("layout") == LAYOUT_VERSION
            except Exception:  # built with another embedding function: Chroma refuses to mix them
                fresh = False
            if not fresh:  # an older layout or another model: the only safe move is a rebuild
                try:
                    client.delete_collection(collection)
                except NotFoundError:
                    pass
                try:
                    col = client.create_collection(collection, embedding_function=ef, metadata=meta)
                except Exception as exc:
                    raise VectorIndexError(
                        f"cannot create collection {collection!r} in {path}: {exc}; delete that "
                        "directory to start over"
                    ) from exc
        return cls(client, col, path)

    def stored_hashes(self) -> dict[str, str]:
        """entry id → content hash, as currently stored in the collection."""
        got = self._col.get(include=["metadatas"])
        return {m["entry_id"]: m["hash"] for m in got["metadatas"] or []}

    def _exclusive(self):
        return _dir_lock(self.path)

    @contextlib.contextmanager
    def _translated(self, doing: str):
        """Chroma's errors become `VectorIndexError`, saying what we were doing and where."""
        from chromadb.errors import ChromaError

        try:
            yield
        except ChromaError as exc:
            raise VectorIndexError(
                f"{doing} failed on the knowledge index at {self.path}: {exc}; if it persists, "
                "delete that directory (it is rebuilt from the packaged entries)"
            ) from exc

    def sync(self, kb: KnowledgeBase) -> SyncReport:
        """Bring the collection in line with `kb`, embedding only what changed."""
        with self._exclusive(), self._translated("sync"):
            return self._sync(kb)

    def _sync(self, kb: KnowledgeBase) -> SyncReport:
        t0 = time.perf_counter()
        stored = self.stored_hashes()
        current = {e.id: e for e in kb}
        added = tuple(sorted(i for i in current if i not in stored))
        updated = tuple(sorted(i for i in current if i in stored and stored[i] != current[i].content_hash))
        removed = tuple(sorted(i for i in stored if i not in current))
        stale = [*updated, *removed]
        if stale:
            self._col.delete(where={"entry_id": {"$in": stale}})
        ids, docs, metas = [], [], []
        for eid in (*added, *updated):
            e = current[eid]
            for cid, kind, text in entry_chunks(e):
                ids.append(cid)
                docs.append(text)
                metas.append({"entry_id": e.id, "hash": e.content_hash, "kind": kind,
                              "category": e.category})
        if ids:
            self._col.upsert(ids=ids, documents=docs, metadatas=metas)
        return SyncReport(added, updated, removed, len(current) - len(added) - len(updated),
                          len(ids), time.perf_counter() - t0)

    def rebuild(self, kb: KnowledgeBase) -> SyncReport:
        """Drop every chunk and embed the whole knowledge base again."""
        with self._exclusive(), self._translated("rebuild"):
            existing = self._col.get(include=[])["ids"]
            if existing:
                self._col.delete(ids=existing)
            return self._sync(kb)

    def count(self) -> int:
        return self._col.count()

    def query(self, text: str, n_chunks: int = 40) -> list[ChunkMatch]:
        """The `n_chunks` chunks nearest to `text`, best first, with cosine similarity."""
        if not text or not text.strip():
            raise VectorIndexError("query text is empty; describe the symptom in a few words")
        with self._translated("query"):
            return self._query(text, n_chunks)

    def _query(self, text: str, n_chunks: int) -> list[ChunkMatch]:
        total = self._col.count()
        if total == 0:
            raise VectorIndexError(f"the knowledge index at {self.path} is empty; call sync(kb) first")
        res = self._col.query(query_texts=[text], n_results=min(n_chunks, total),
                              include=["metadatas", "documents", "distances"])
        return [ChunkMatch(m["entry_id"], m["kind"], d, 1.0 - dist)
                for m, d, dist in zip(res["metadatas"][0], res["documents"][0], res["distances"][0])]
