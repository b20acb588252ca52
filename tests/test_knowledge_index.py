"""The persistent Chroma index: incremental sync, reopening, and no network, on a small copy
of the knowledge base (a real collection and the real model; only fewer entries, for time)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from elixir_scope.knowledge import KnowledgeBase, KnowledgeIndex, Retriever, VectorIndexError, default_index_dir
from elixir_scope.knowledge.index import COLLECTION, entry_chunks

KB_DIR = Path(__file__).resolve().parents[1] / "knowledge" / "kb"
SUBSET = ["genserver-call-cycle", "genserver-call-timeout", "mailbox-overload", "atom-exhaustion",
          "ets-read-modify-write-race"]


def small_kb(dest: Path) -> Path:
    dest.mkdir()
    for name in SUBSET:
        text = (KB_DIR / f"{name}.md").read_text()
        # keep `related` inside the subset so the copy validates on its own
        text = "\n".join(l for l in text.splitlines() if not l.startswith("related = "))
        (dest / f"{name}.md").write_text(text + "\n")
    return dest


def test_sync_is_incremental(tmp_path):
    kb_dir = small_kb(tmp_path / "kb")
    kb = KnowledgeBase.load(kb_dir)
    index = KnowledgeIndex.open(tmp_path / "index")

    cold = index.sync(kb)
    assert cold.added == tuple(sorted(SUBSET)) and not cold.updated and not cold.removed
    assert cold.chunks_embedded == sum(len(entry_chunks(e)) for e in kb) == index.count()

    again = index.sync(kb)
    assert not again.changed and again.chunks_embedded == 0 and again.unchanged == len(SUBSET)

    # change one entry: only its chunks are re-embedded
    path = kb_dir / "atom-exhaustion.md"
    path.write_text(path.read_text().replace("- The node crashes", "- The whole BEAM crashes"))
    kb2 = KnowledgeBase.load(kb_dir)
    one = index.sync(kb2)
    assert one.updated == ("atom-exhaustion",) and not one.added and not one.removed
    assert one.chunks_embedded == len(entry_chunks(kb2.get("atom-exhaustion")))
    assert one.unchanged == len(SUBSET) - 1
    texts = index._col.get(where={"entry_id": "atom-exhaustion"}, include=["documents"])["documents"]
    assert any("The whole BEAM crashes" in t for t in texts)

    # remove one, add one
    (kb_dir / "mailbox-overload.md").unlink()
    text = (KB_DIR / "hot-loop-reductions.md").read_text()
    (kb_dir / "hot-loop-reductions.md").write_text(
        "\n".join(l for l in text.splitlines() if not l.startswith("related = ")) + "\n")
    kb3 = KnowledgeBase.load(kb_dir)
    three = index.sync(kb3)
    assert three.added == ("hot-loop-reductions",) and three.removed == ("mailbox-overload",)
    assert index.count() == sum(len(entry_chunks(e)) for e in kb3)
    assert "mailbox-overload" not in index.stored_hashes()

    # a fresh client over the same directory sees the same collection, nothing to do
    reopened = KnowledgeIndex.open(tmp_path / "index")
    assert not reopened.sync(kb3).changed
    hits = Retriever(kb3, reopened).search_text("CPU pinned by a process that polls itself", k=1)
    assert hits[0].id == "hot-loop-reductions"

    rebuilt = reopened.rebuild(kb3)
    assert len(rebuilt.added) == len(kb3) and reopened.count() == sum(len(entry_chunks(e)) for e in kb3)


def test_collection_reopens_through_chroma_registry(tmp_path):
    """get_collection(name) without passing the function: Chroma rebuilds ours from its config."""
    kb = KnowledgeBase.load(small_kb(tmp_path / "kb"))
    KnowledgeIndex.open(tmp_path / "index").sync(kb)
    code = textwrap.dedent(f"""
        import chromadb
        from chromadb.config import Settings
        import elixir_scope.knowledge.embedding  # registers the function
        client = chromadb.PersistentClient({str(tmp_path / "index")!r}, settings=Settings(anonymized_telemetry=False))
        col = client.get_collection({COLLECTION!r})
        res = col.query(query_texts=["two servers wait on each other"], n_results=1)
        print(res["metadatas"][0][0]["entry_id"])
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "genserver-call-cycle"


def test_build_and_query_never_touch_the_network(tmp_path):
    """A guard that makes every outbound connection fail loudly, then a full open/sync/search."""
    kb_dir = small_kb(tmp_path / "kb")
    code = textwrap.dedent(f"""
        import socket
        def refuse(*a, **k):
            raise RuntimeError(f"network access attempted: {{a!r}}")
        socket.socket.connect = refuse
        socket.socket.connect_ex = refuse
        socket.create_connection = refuse
        socket.getaddrinfo = refuse
        from pathlib import Path
        from elixir_scope.knowledge import KnowledgeBase, Retriever
        kb = KnowledgeBase.load(Path({str(kb_dir)!r}))
        r = Retriever.open({str(tmp_path / "index")!r}, kb=kb)
        print(r.search("callers time out", ["exception:timeout:GenServer.call"], k=1)[0].id)
    """)
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "HF_HUB_OFFLINE": "1"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=env)
    assert out.returncode == 0, out.stderr
    assert "network access attempted" not in out.stderr
    assert out.stdout.strip().splitlines()[-1] in {"genserver-call-timeout", "genserver-call-cycle"}


def test_two_processes_syncing_the_same_index_at_once(tmp_path):
    kb_dir = small_kb(tmp_path / "kb")
    code = textwrap.dedent(f"""
        from pathlib import Path
        from elixir_scope.knowledge import KnowledgeBase, KnowledgeIndex
        r = KnowledgeIndex.open(Path({str(tmp_path / "index")!r})).sync(KnowledgeBase.load(Path({str(kb_dir)!r})))
        print(len(r.added), r.chunks_embedded)
    """)
    procs = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), [e for _, e in outs]
    added = sorted(int(o.split()[0]) for o, _ in outs)
    assert added == [0, len(SUBSET)]  # the lock made the second one see the first one's work
    kb = KnowledgeBase.load(kb_dir)
    index = KnowledgeIndex.open(tmp_path / "index")
    assert index.count() == sum(len(entry_chunks(e)) for e in kb)
    assert not index.sync(kb).changed


def test_collection_of_an_older_layout_is_rebuilt(tmp_path):
    import chromadb
    from chromadb.config import Settings

    from elixir_scope.knowledge.embedding import MiniLMEmbeddingFunction

    client = chromadb.PersistentClient(str(tmp_path / "index"), settings=Settings(anonymized_telemetry=False))
    old = client.create_collection(COLLECTION, embedding_function=MiniLMEmbeddingFunction(),
                                   metadata={"hnsw:space": "cosine", "layout": "0"})
    old.add(ids=["stale#overview"], documents=["stale chunk"], metadatas=[{"entry_id": "stale", "hash": "x"}])
    index = KnowledgeIndex.open(tmp_path / "index")
    assert index.count() == 0 and index.stored_hashes() == {}


def test_chroma_errors_are_translated(tmp_path):
    index = KnowledgeIndex.open(tmp_path / "index")
    index._client.delete_collection(COLLECTION)  # pulled out from under us, e.g. by another tool
    with pytest.raises(VectorIndexError, match="query failed on the knowledge index"):
        index.query("anything")


def test_empty_index_and_empty_query_errors(tmp_path):
    index = KnowledgeIndex.open(tmp_path / "index")
    with pytest.raises(VectorIndexError, match="sync"):
        index.query("anything")
    with pytest.raises(VectorIndexError, match="empty"):
        index.query("   ")


def test_default_index_dir_follows_the_environment(tmp_path):
    assert default_index_dir({"ELIXIR_SCOPE_HOME": str(tmp_path)}) == tmp_path / "kb-index"
    assert default_index_dir({"XDG_DATA_HOME": str(tmp_path)}) == tmp_path / "elixir-scope" / "kb-index"
    assert default_index_dir({}) == Path.home() / ".local" / "share" / "elixir-scope" / "kb-index"


def test_unusable_index_directory_is_reported(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(VectorIndexError, match="cannot open the knowledge index"):
        KnowledgeIndex.open(blocker / "index")


def test_the_session_index_is_the_one_found_by_default(kb_index_dir):
    """The shared index of the test session is where the code looks when told nothing (the
    command line, the MCP server, a diagnosis without knowledge_dir): built once per session,
    and never in the user's home (tests/conftest.py session_home)."""
    assert default_index_dir() == kb_index_dir
    assert not str(kb_index_dir).startswith(str(Path.home() / ".local"))
