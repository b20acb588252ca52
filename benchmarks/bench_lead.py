"""Offline evaluation of the last-resort lead (agents/leads.py) on apps the diagnosis once left
inconclusive: per app, the rank of the scenario's culprit in the lead's ordering of the
functions the reproduction ran.

    .venv/bin/python benchmarks/bench_lead.py [--rounds N] [--keep DIR | --saved DIR] [DIR/app ...]

Each app (a folder with ``scenario.json``: ``files``, ``start``, ``trigger``, ``symptom``,
``culprit``) is started on a node of its own, diagnosed as the diagnosis does (its sources
given, ``--rounds`` rounds, default 1, 1.5 s), and the recording of the round the report explains
is ranked by :func:`elixir_scope.agents.leads.ranked` with the sources' bodies. Prints one line
per app (the culprit's rank by module and function, by module alone, the top three, and whether
the report itself named something else), the top-1 and top-3 counts, and ends with one JSON line.
``--keep DIR`` keeps each app's sources and recording there; ``--saved DIR`` ranks those kept
recordings again without starting a node (the ranking's cost alone).
The weights are the module's, chosen once; this measures them, it does not fit them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from support.nodes import start_node  # noqa: E402

from elixir_scope.agents.context import DiagnosisContext  # noqa: E402
from elixir_scope.agents.graph import diagnose, retriever_for  # noqa: E402
from elixir_scope.agents.leads import MIN_SCORE, ranked  # noqa: E402
from elixir_scope.agents.state import DiagnosisInput  # noqa: E402
from elixir_scope.agents.view import RecordingView  # noqa: E402
from elixir_scope.instrument.dist import Node  # noqa: E402
from elixir_scope.knowledge.source import analyze_tree  # noqa: E402
from elixir_scope.store import TraceStore  # noqa: E402

#: the training sets' apps the diagnosis once left inconclusive (never the measuring sets)
DEFAULT = ["/work/holdout13/" + a for a in ("kitchen_display", "library_fines", "payroll_run", "search_ranking",
                                             "travel_booking")] \
    + ["/work/holdout14/" + a for a in ("gym_turnstile", "customs_duty", "helpdesk_sla")] \
    + ["/work/holdout12/" + a for a in ("cdr_rating", "dns_cache", "lab_samples", "sip_registrar")]


def summary_of(src: Path) -> dict:
    """The part of the diagnosis's ``source_summary`` the lead reads: each module's file."""
    analysis = analyze_tree(str(src))
    return {"modules": {m.name: {"file": str(m.file)} for m in analysis.modules}}


def rank_row(row: dict, sc: dict, view: RecordingView, src: Path) -> None:
    t0 = time.perf_counter()
    order = ranked(view, sc["symptom"], str(src), summary_of(src))
    row["rank_ms"] = round((time.perf_counter() - t0) * 1000, 1)
    row["functions"] = len(order)
    eligible = [s for s in order if s.from_symptom and s.score >= MIN_SCORE]
    want_m, want_f = sc["culprit"]["module"], sc["culprit"]["function"]
    row["rank"] = next((i + 1 for i, s in enumerate(order) if s.module == want_m and s.function == want_f), None)
    row["rank_module"] = next((i + 1 for i, s in enumerate(order) if s.module == want_m), None)
    row["lead"] = eligible[0].mfa if eligible else None
    row["top3"] = [f"{s.mfa} ({s.score:.2f})" for s in order[:3]]
    if os.environ.get("BENCH_LEAD_VERBOSE"):
        for s in order:
            print(f"    {s.score:5.2f} {s.mfa}: {'; '.join(s.reasons)}")


def saved(app_dir: Path, keep: Path) -> dict:
    """Rank a recording kept by ``--keep`` again (no node)."""
    sc = json.loads((app_dir / "scenario.json").read_text())
    src = keep / app_dir.name
    row: dict = {"app": app_dir.name, "culprit": f"{sc['culprit']['module']}.{sc['culprit']['function']}"}
    meta = json.loads((src / "lead.json").read_text())
    row.update(report=meta["report"], verdict=meta["verdict"])
    store = TraceStore.open(src / "lead.db")
    try:
        rank_row(row, sc, RecordingView.from_recording(store.recording(meta["recording_id"])), src)
    finally:
        store.close()
    return row


async def one(app_dir: Path, tmp: Path, kb: Path, rounds: int) -> dict:
    sc = json.loads((app_dir / "scenario.json").read_text())
    src = tmp / app_dir.name
    src.mkdir(parents=True, exist_ok=True)
    files = []
    for f in sc["files"]:
        (src / f).write_text((app_dir / f).read_text())
        files.append(src / f)
    row: dict = {"app": app_dir.name, "culprit": f"{sc['culprit']['module']}.{sc['culprit']['function']}"}
    node = start_node("elixir", elixir_files=files, eval_code="{:ok, _} = " + sc["start"])
    dist = Node()
    store = None
    try:
        conn = await dist.connect(node.name, cookie=node.cookie)
        store = TraceStore.open(src / "lead.db")
        ctx = DiagnosisContext(store=store, conn=conn, dist_node=dist, knowledge_dir=kb)
        report = await diagnose(DiagnosisInput(symptom=sc["symptom"], node=node.name, trigger=sc["trigger"],
                                               seconds=1.5, max_rounds=rounds, source_path=str(src)), ctx)
        named = report.root_cause or report.suspect
        row["report"] = (f"{named.culprit.module}.{named.culprit.function}" if named and named.culprit else None)
        row["verdict"] = report.verdict
        (src / "lead.json").write_text(json.dumps({"recording_id": report.recording_id, "report": row["report"],
                                                   "verdict": row["verdict"]}))
        rank_row(row, sc, RecordingView.from_recording(store.recording(report.recording_id)), src)
    except Exception as exc:
        row["error"] = f"{type(exc).__name__}: {exc}"
    finally:
        try:
            await dist.close()
        except Exception:
            pass
        node.stop()
        if store is not None:
            store.close()
    return row


async def main(apps: list[str], rounds: int, keep: str | None, again: str | None) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-lead-") as t:
        tmp = Path(keep) if keep else Path(t)
        tmp.mkdir(parents=True, exist_ok=True)
        os.environ["ELIXIR_SCOPE_HOME"] = str(Path(t) / "home")
        kb = Path(t) / "kb"
        if not again:
            retriever_for(DiagnosisContext(store=None, knowledge_dir=kb))   # index build + model load, once
        rows = []
        for a in apps:
            r = saved(Path(a), Path(again)) if again else await one(Path(a), tmp, kb, rounds)
            rows.append(r)
            print(f"{r['app']:<18} rank {r.get('rank')!s:>4} (module {r.get('rank_module')!s:>3}) of "
                  f"{r.get('functions', '-')}  lead {r.get('lead')}  culprit {r['culprit']}  "
                  f"report {r.get('report')} ({r.get('verdict')})  top3 {r.get('top3')}  {r.get('error', '')}",
                  flush=True)
    top1 = sum(1 for r in rows if r.get("rank") == 1)
    top3 = sum(1 for r in rows if r.get("rank") and r["rank"] <= 3)
    m1 = sum(1 for r in rows if r.get("rank_module") == 1)
    leads_right = sum(1 for r in rows if r.get("lead") == r["culprit"])
    print(f"top-1 {top1}/{len(rows)}, top-3 {top3}/{len(rows)}, module top-1 {m1}/{len(rows)}, "
          f"lead named the culprit {leads_right}/{len(rows)}")
    print(json.dumps({"bench": "lead", "apps": len(rows), "top1": top1, "top3": top3, "module_top1": m1,
                      "lead_right": leads_right, "rounds": rounds,
                      "rows": [{k: r.get(k) for k in ("app", "rank", "rank_module", "lead", "culprit", "rank_ms")}
                               for r in rows]}))


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--keep", help="keep each app's sources and recording in this folder")
    ap.add_argument("--saved", help="rank the recordings --keep kept in this folder again (no node)")
    ap.add_argument("apps", nargs="*")
    args = ap.parse_args()
    asyncio.run(main(args.apps or DEFAULT, args.rounds, args.keep, args.saved))
