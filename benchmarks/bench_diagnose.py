"""Diagnosis latency per example app: from ``diagnose`` start to the report, excluding the time
spent waiting for the reproduction (the trigger plus the recording window), on the embedded
defaults (no API key: detectors + knowledge + templated explanation).

Baseline, same run: diagnosing the *saved* recording again (no node, no capture) — what the
analysis itself costs — so the difference is the live work (survey, loading the agent,
starting and stopping the capture).

    .venv/bin/python benchmarks/bench_diagnose.py [app ...]
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from support.nodes import start_node  # noqa: E402

from elixir_scope.agents.context import DiagnosisContext  # noqa: E402
from elixir_scope.agents.graph import diagnose, retriever_for  # noqa: E402
from elixir_scope.agents.state import DiagnosisInput  # noqa: E402
from elixir_scope.instrument.dist import Node  # noqa: E402
from elixir_scope.store import TraceStore  # noqa: E402

EXAMPLES = REPO / "examples"
RECORD_SECONDS = {"call_cycle": 3.5}


async def one(app: str, tmp: Path, kb: Path) -> dict:
    sc = json.loads((EXAMPLES / app / "scenario.json").read_text())
    node = start_node("elixir", elixir_files=[EXAMPLES / app / f for f in sc["files"]],
                      eval_code="{:ok, _} = " + sc["start"])
    dist = Node()
    try:
        conn = await dist.connect(node.name, cookie=node.cookie)
        store = TraceStore.open(tmp / f"{app}.db")
        ctx = DiagnosisContext(store=store, conn=conn, knowledge_dir=kb)
        t0 = time.perf_counter()
        report = await diagnose(DiagnosisInput(symptom=sc["symptom"], node=node.name, trigger=sc["trigger"],
                                               seconds=RECORD_SECONDS.get(app, 1.5),
                                               source_path=str(EXAMPLES / app)), ctx)
        total = (time.perf_counter() - t0) * 1000
    finally:
        await dist.close()
        node.stop()
    wait = report.timings_ms.get("capture_wait", 0.0)
    t1 = time.perf_counter()
    offline = await diagnose(DiagnosisInput(symptom=sc["symptom"], recording_id=report.recording_id,
                                            source_path=str(EXAMPLES / app)),
                             DiagnosisContext(store=store, knowledge_dir=kb))
    offline_ms = (time.perf_counter() - t1) * 1000
    ok = report.root_cause is not None and report.root_cause.culprit.module == sc["culprit"]["module"]
    store.close()
    return {"app": app, "ok": ok and offline.root_cause is not None, "total_ms": total, "wait_ms": wait,
            "diagnose_ms": total - wait, "offline_ms": offline_ms, "events": report.capture.get("stored", 0),
            "timings": {k: round(v) for k, v in report.timings_ms.items() if k != "capture_wait"}}


async def main(apps: list[str]) -> None:
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        kb = tmp / "kb"
        t = time.perf_counter()
        retriever_for(DiagnosisContext(store=None, knowledge_dir=kb))  # index build + model load, once
        print(f"knowledge index build + model load (once per process): {(time.perf_counter() - t) * 1000:.0f} ms")
        print(f"{'app':16} {'ok':>3} {'events':>7} {'diagnose':>10} {'(wait)':>9} {'offline':>9}  per node (ms)")
        rows = []
        for app in apps:
            r = await one(app, tmp, kb)
            rows.append(r)
            print(f"{r['app']:16} {'yes' if r['ok'] else 'NO':>3} {r['events']:>7} {r['diagnose_ms']:>8.0f}ms "
                  f"{r['wait_ms']:>7.0f}ms {r['offline_ms']:>7.0f}ms  {r['timings']}")
        d_ms = sorted(r["diagnose_ms"] for r in rows)
        o_ms = sorted(r["offline_ms"] for r in rows)
        print(f"median diagnose (excl. reproduction wait): {d_ms[len(d_ms) // 2]:.0f} ms; "
              f"median offline re-diagnosis (baseline): {o_ms[len(o_ms) // 2]:.0f} ms")


if __name__ == "__main__":
    names = sys.argv[1:] or sorted(p.parent.name for p in EXAMPLES.glob("*/scenario.json"))
    asyncio.run(main(names))
