"""CPU of the diagnosis's own evidence pass on a big-state recording: ``build_facts`` (every
analysis of agents/evidence and agents/detectors) and the source analysis (summary + ``@spec``s),
measured with ``time.process_time`` (CPU of this process, not wall clock: the machine is shared).

The recording comes from a dev app of tests/fixtures/cost_apps (default ``depot_quote``: a
GenServer whose state holds 3,000 nested SKUs, serving a few hundred calls while a wrong quote
happens), recorded once on a real node by a one-round diagnosis and saved; the measure then runs
on that saved recording, so an A/B compares two codebases on the very same events:

    .venv/bin/python benchmarks/bench_evidence.py --save /tmp/depot.db          # record + measure
    .venv/bin/python benchmarks/bench_evidence.py --db /tmp/depot.db           # measure again
    .venv/bin/python benchmarks/bench_evidence.py --db /tmp/depot.db --code /tmp/base   # A/B: another checkout

``--code DIR`` imports ``elixir_scope`` from DIR (a ``git archive`` of another commit) instead of
this worktree: the baseline, measured in the same minutes. Each figure is repeated ``--repeat``
times (default 3): min/median/max, the load average, the facts found (kind counts, so the two
codebases can be compared), and one JSON line at the end.
"""

from __future__ import annotations

import argparse
import importlib.abc
import importlib.machinery
import importlib.util
import json
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("agents", "cli", "examples", "instrument", "knowledge", "mcp_server", "store", "ui")


class _Checkout(importlib.abc.MetaPathFinder):
    """Imports ``elixir_scope`` and its parts from another checkout's top-level folders (the
    same mapping as the editable install)."""

    def __init__(self, root: Path) -> None:
        self.map = {"elixir_scope": root / "elixir_scope"} | {f"elixir_scope.{p}": root / p for p in PACKAGES}

    def find_spec(self, fullname, path=None, target=None):
        if fullname in self.map:
            return importlib.machinery.PathFinder.find_spec(fullname, [str(self.map[fullname].parent)]) \
                if fullname == "elixir_scope" else importlib.util.spec_from_file_location(
                    fullname, self.map[fullname] / "__init__.py",
                    submodule_search_locations=[str(self.map[fullname])])
        return None


def _mmm(values: list[float]) -> list[float]:
    v = sorted(values)
    return [round(v[0], 3), round(v[len(v) // 2], 3), round(v[-1], 3)] if v else []


async def _record(app_dir: Path, db: Path) -> None:
    """One-round diagnosis of the app on a real node, its recording saved in ``db``."""
    sys.path.insert(0, str(REPO / "tests"))
    from support.nodes import start_node

    from elixir_scope.agents.context import DiagnosisContext
    from elixir_scope.agents.graph import diagnose
    from elixir_scope.agents.state import DiagnosisInput
    from elixir_scope.instrument.dist import Node
    from elixir_scope.store import TraceStore

    sc = json.loads((app_dir / "scenario.json").read_text())
    node = start_node("elixir", elixir_files=[app_dir / f for f in sc["files"]], eval_code="{:ok, _} = " + sc["start"])
    dist = Node()
    try:
        conn = await dist.connect(node.name, cookie=node.cookie)
        store = TraceStore.open(db)
        ctx = DiagnosisContext(store=store, conn=conn, dist_node=dist, use_knowledge=False)
        report = await diagnose(DiagnosisInput(symptom=sc["symptom"], node=node.name, trigger=sc["trigger"],
                                               seconds=float(sc.get("seconds", 1.5)), source_path=str(app_dir),
                                               max_rounds=1), ctx)
        print(f"recorded {report.capture.get('stored', 0)} events as recording {report.recording_id} in {db}")
        store.close()
    finally:
        await dist.close()
        node.stop()


def measure(app_dir: Path, db: Path, repeat: int, sources: Path) -> dict:
    from elixir_scope.agents import planner
    from elixir_scope.agents.evidence import build_facts
    from elixir_scope.agents.graph import code_evidence
    from elixir_scope.agents.evidence.common import app_returns
    from elixir_scope.agents.view import RecordingView
    from elixir_scope.knowledge.source import analyze_tree
    from elixir_scope.knowledge.source.specs import return_specs
    from elixir_scope.store import TraceStore

    sc = json.loads((app_dir / "scenario.json").read_text())
    store = TraceStore.open(db)
    view = RecordingView.from_recording(store.recording(max(r.id for r in store.recordings())))
    calls = sum(1 for _ in app_returns(view))
    facts_cpu, source_cpu, kinds = [], [], {}
    for _ in range(repeat):
        t = time.process_time()
        tree = analyze_tree(sources)
        # this codebase's way: the specs from the analysis's own parse when it has them
        _ = tree.return_specs if hasattr(tree, "return_specs") else return_specs(sources)
        source_cpu.append(time.process_time() - t)
        analysis = analyze_tree(app_dir)
        specs = analysis.return_specs if hasattr(analysis, "return_specs") else return_specs(app_dir)
        code = code_evidence(str(app_dir), sc["symptom"], include_tests=False, similarity=None, scans=None)
        t = time.process_time()
        book = build_facts(view, sc["symptom"], code=code, return_specs=specs,
                           callees=planner.static_callees(analysis.graph.function_calls))
        facts_cpu.append(time.process_time() - t)
        kinds = {}
        for f in book.facts:
            kinds[f.detector] = kinds.get(f.detector, 0) + 1
        errors = list(book.errors)
    store.close()
    return {"sources": str(sources), "facts_cpu_s": facts_cpu, "source_cpu_s": source_cpu, "kinds": kinds, "errors": errors,
            "facts": [(f.detector, f.culprit.module if f.culprit else None, f.culprit.function if f.culprit else None)
                      for f in book.facts], "calls": calls}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--app", default="depot_quote", help="a dev app of tests/fixtures/cost_apps")
    ap.add_argument("--app-dir", type=Path, help="any scenario app's folder instead (examples/cache_growth)")
    ap.add_argument("--db", type=Path, help="a saved recording (from --save) to measure on")
    ap.add_argument("--save", type=Path, help="record the app on a real node into this file first")
    ap.add_argument("--code", type=Path, help="import elixir_scope from this checkout (the A/B baseline)")
    ap.add_argument("--sources", type=Path, help="the tree the source analysis + specs figure is measured on "
                    "(default: the app's folder; tests/fixtures makes the second parse show)")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    if args.code is not None:
        sys.meta_path.insert(0, _Checkout(args.code.resolve()))
    app_dir = args.app_dir.resolve() if args.app_dir else REPO / "tests" / "fixtures" / "cost_apps" / args.app
    db = args.save or args.db
    if db is None:
        ap.error("--db or --save")
    if args.save is not None:
        import asyncio

        if db.exists():
            db.unlink()
        asyncio.run(_record(app_dir, db))
    import elixir_scope.agents

    code = str(Path(elixir_scope.agents.__file__).resolve().parents[1])
    load = os.getloadavg()[0]
    r = measure(app_dir, db, args.repeat, args.sources.resolve() if args.sources else app_dir)
    print(f"code: {code}; load average {load:.1f}")
    print(f"build_facts CPU min/median/max {_mmm(r['facts_cpu_s'])} s; source analysis + specs of {r['sources']} "
          f"{_mmm(r['source_cpu_s'])} s")
    print(f"application calls returned: {r['calls']}; facts: {r['kinds']}")
    for kind, module, function in r["facts"]:
        print(f"  {kind}: {module}.{function}")
    for e in r["errors"]:
        print(f"  analysis error: {e}")
    print(json.dumps({"benchmark": "evidence", "app": app_dir.name, "code": code, "repeat": args.repeat,
                      "build_facts_cpu_s_min_median_max": _mmm(r["facts_cpu_s"]),
                      "source_cpu_s_min_median_max": _mmm(r["source_cpu_s"]),
                      "calls": r["calls"], "facts": r["kinds"], "errors": len(r["errors"]),
                      "load_average": round(os.getloadavg()[0], 2)}))


if __name__ == "__main__":
    main()
