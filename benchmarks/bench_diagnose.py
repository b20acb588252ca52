"""Diagnosis latency per example app: from ``diagnose`` start to the report, excluding the time
spent waiting for the reproduction (the trigger plus the recording window), on the embedded
defaults (no API key: detectors + knowledge + templated explanation).

Baseline, same run: diagnosing the *saved* recording again (no node, no capture) — what the
analysis itself costs — so the difference is the live work (survey, loading the agent,
starting and stopping the capture).

    .venv/bin/python benchmarks/bench_diagnose.py [--examples DIR] [--repeat N] [app ...]

It scores each diagnosis against the scenario's culprit (module; module and function), prints
the capture rounds used and the time per round, repeats the whole set ``--repeat`` times
(default 3) with min/median/max and the load average, and ends with one JSON line.
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


def _seconds(app: str, sc: dict) -> float:
    return float(sc.get("seconds", RECORD_SECONDS.get(app, 1.5)))


async def one(app: str, tmp: Path, kb: Path) -> dict:
    sc = json.loads((EXAMPLES / app / "scenario.json").read_text())
    if (tmp / f"{app}.db").exists():
        (tmp / f"{app}.db").unlink()
    node = start_node("elixir", elixir_files=[EXAMPLES / app / f for f in sc["files"]],
                      eval_code="{:ok, _} = " + sc["start"])
    dist = Node()
    try:
        conn = await dist.connect(node.name, cookie=node.cookie)
        store = TraceStore.open(tmp / f"{app}.db")
        ctx = DiagnosisContext(store=store, conn=conn, knowledge_dir=kb)
        t0 = time.perf_counter()
        report = await diagnose(DiagnosisInput(symptom=sc["symptom"], node=node.name, trigger=sc["trigger"],
                                               seconds=_seconds(app, sc),
                                               source_path=str(EXAMPLES / app)), ctx)
        total = (time.perf_counter() - t0) * 1000
    finally:
        await dist.close()
        node.stop()
    wait = report.timings_ms.get("capture_wait", 0.0)
    t1 = time.perf_counter()
    await diagnose(DiagnosisInput(symptom=sc["symptom"], recording_id=report.recording_id,
                                            source_path=str(EXAMPLES / app)),
                             DiagnosisContext(store=store, knowledge_dir=kb))
    offline_ms = (time.perf_counter() - t1) * 1000
    c = report.root_cause.culprit if report.root_cause else None
    ok = c is not None and c.module == sc["culprit"]["module"]
    ok_fn = ok and c.function == sc["culprit"].get("function")
    store.close()
    return {"app": app, "ok": ok, "ok_function": ok_fn, "total_ms": total, "wait_ms": wait,
            "diagnose_ms": total - wait, "offline_ms": offline_ms, "events": report.capture.get("stored", 0),
            "rounds": len(report.rounds) or 1,
            "round_seconds": [r.seconds for r in report.rounds],
            "timings": {k: round(v) for k, v in report.timings_ms.items() if k != "capture_wait"}}


def _mmm(values: list[float]) -> list[float]:
    v = sorted(values)
    return [round(v[0], 1), round(v[len(v) // 2], 1), round(v[-1], 1)] if v else []


async def main(apps: list[str], repeat: int) -> None:
    import os

    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        kb = tmp / "kb"
        t = time.perf_counter()
        retriever_for(DiagnosisContext(store=None, knowledge_dir=kb))  # index build + model load, once
        print(f"knowledge index build + model load (once per process): {(time.perf_counter() - t) * 1000:.0f} ms")
        runs = []
        for n in range(1, repeat + 1):
            print(f"-- run {n}/{repeat} (load average {os.getloadavg()[0]:.1f})")
            print(f"{'app':18} {'ok':>4} {'rounds':>6} {'events':>7} {'diagnose':>10} {'(wait)':>9} {'offline':>9}  per node (ms)")
            rows = []
            for app in apps:
                r = await one(app, tmp, kb)
                rows.append(r)
                mark = "yes+" if r["ok_function"] else ("yes" if r["ok"] else "NO")
                print(f"{r['app']:18} {mark:>4} {r['rounds']:>6} {r['events']:>7} {r['diagnose_ms']:>8.0f}ms "
                      f"{r['wait_ms']:>7.0f}ms {r['offline_ms']:>7.0f}ms  {r['timings']}")
            correct = sum(r["ok"] for r in rows)
            print(f"correct culprit module {correct}/{len(rows)}, module and function "
                  f"{sum(r['ok_function'] for r in rows)}/{len(rows)}; rounds used {sum(r['rounds'] for r in rows)}")
            runs.append(rows)
        per_app = [r["diagnose_ms"] for rows in runs for r in rows]
        offline = [r["offline_ms"] for rows in runs for r in rows]
        per_round = [r["diagnose_ms"] / r["rounds"] for rows in runs for r in rows]
        figures = {
            "benchmark": "diagnose", "apps": len(apps), "repeat": repeat,
            "correct_module": [sum(r["ok"] for r in rows) for rows in runs],
            "correct_function": [sum(r["ok_function"] for r in rows) for rows in runs],
            "rounds": [sum(r["rounds"] for r in rows) for rows in runs],
            "diagnose_ms_min_median_max": _mmm(per_app),
            "per_round_ms_min_median_max": _mmm(per_round),
            "offline_baseline_ms_min_median_max": _mmm(offline),
            "load_average": round(os.getloadavg()[0], 2),
        }
        print(f"diagnose (excl. reproduction wait) min/median/max {figures['diagnose_ms_min_median_max']} ms; "
              f"per round {figures['per_round_ms_min_median_max']} ms; offline re-diagnosis (baseline) "
              f"{figures['offline_baseline_ms_min_median_max']} ms")
        print(json.dumps(figures))


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser()
    ap.add_argument("apps", nargs="*")
    ap.add_argument("--examples", type=Path, default=EXAMPLES, help="a folder of scenario apps (default: examples/)")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    EXAMPLES = args.examples
    names = args.apps or sorted(p.parent.name for p in EXAMPLES.glob("*/scenario.json"))
    # a scenario of several nodes needs tests/support/cluster_scenarios.py to start: one node here
    several = [n for n in names if json.loads((EXAMPLES / n / "scenario.json").read_text()).get("nodes")]
    if several:
        print(f"skipped (several nodes; tests/test_diagnose_cluster.py diagnoses them): {', '.join(several)}")
    names = [n for n in names if n not in several]
    asyncio.run(main(names, args.repeat))
