"""Dev harness (not in the repo): diagnose example scenarios and print the verdicts.
usage: python diag.py EXAMPLES_DIR [name ...]"""
import asyncio, json, sys, time, os
from pathlib import Path
repo = Path(os.environ.get("REPO", "/work/wt/lead"))
sys.path.insert(0, str(repo / "tests"))
from support.nodes import start_node
from elixir_scope.agents.context import DiagnosisContext
from elixir_scope.agents.graph import diagnose
from elixir_scope.agents.state import DiagnosisInput
from elixir_scope.instrument.dist import Node
from elixir_scope.store import TraceStore

ex = Path(sys.argv[1]); names = sys.argv[2:] or sorted(p.parent.name for p in ex.glob("*/scenario.json"))
kb = Path(os.environ.get("KBIDX", "/tmp/kbidx")); out = Path("/tmp/diagruns-diag-lint"); out.mkdir(exist_ok=True)

async def one(name):
    sc = json.loads((ex / name / "scenario.json").read_text())
    node = start_node("elixir", elixir_files=[ex / name / f for f in sc["files"]], eval_code="{:ok, _} = " + sc["start"])
    dist = Node()
    try:
        conn = await dist.connect(node.name, cookie=node.cookie)
        db = out / f"{name}.db"
        if db.exists(): db.unlink()
        store = TraceStore.open(db)
        ctx = DiagnosisContext(store=store, conn=conn, dist_node=dist, knowledge_dir=kb)
        t = time.time()
        rep = await diagnose(DiagnosisInput(symptom=sc["symptom"], node=node.name, trigger=sc["trigger"],
                                            seconds=sc.get("seconds", 2.0), source_path=str(ex / name)), ctx)
        c = rep.root_cause.culprit if rep.root_cause else None
        want = sc["culprit"]
        ok = c is not None and c.module == want["module"]
        okf = ok and c.function == want.get("function")
        print(f"== {name}: {'OK' if ok else 'MISS'}{'+f' if okf else ''} verdict={rep.verdict} got={c.module if c else None}.{c.function if c else None} detail={c.detail if c else None} want={want['module']}.{want.get('function')} ({time.time()-t:.1f}s)")
        for h in rep.hypotheses[:5]:
            print(f"   {h.score:.3f} {h.id} sym={h.symptom_score:.2f} ev={h.evidence_score:.2f} -> {h.culprit.module if h.culprit else None}.{h.culprit.function if h.culprit else None} via {h.origin_fact} sup={h.supporting_facts[:4]}")
        for f in rep.findings[:8]:
            print(f"   fact {f.id} conf={f.confidence:.2f} {f.signatures[:4]} caused_by={f.caused_by} :: {f.title[:90]}")
        (out / f"{name}.json").write_text(rep.to_json())
        return ok
    finally:
        await dist.close(); node.stop()

async def main():
    res = []
    for n in names:
        try: res.append(await one(n))
        except Exception as e:
            import traceback; traceback.print_exc(); res.append(False)
    print(f"TOTAL {sum(res)}/{len(res)}")
asyncio.run(main())
