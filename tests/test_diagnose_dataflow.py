"""Data-flow bugs diagnosed end to end (tests/fixtures/dataflow_apps): numbers kept as text and
compared with numbers — a form field in a `max_by`, a decoded reading in a `> limit` filter, a
CSV cell in a `sort_by` — named where the text should have become a number, not where it is
compared; wrong values the symptom states only as a common number (`0%`) or as a magnitude the
program held with the other sign (`6 days` late, `-6`), named at the helper given the inputs the
symptom states; records lost to a key that is not unique (`Map.new` by SKU, `uniq_by` a surname),
named at the call that kept one per key. A total that only adds wrong parts (a tax per line, hours per
entry) is named at the function that made the parts, not at the sum. Each app runs as a real node; the report must cite only recorded events. Its
twin (the same app with the culprit fixed) runs too: no root cause, and no such fact naming the
culprit."""

from __future__ import annotations

import json

import pytest

from elixir_scope.agents.context import DiagnosisContext
from elixir_scope.agents.graph import diagnose
from elixir_scope.agents.report import render_markdown
from elixir_scope.agents.state import DiagnosisInput
from elixir_scope.instrument.dist import Node
from elixir_scope.store import TraceStore
from support.nodes import REPO, start_node
from support.reports import assert_evidence_exists

APPS = REPO / "tests" / "fixtures" / "dataflow_apps"
SCENARIOS = sorted(p.parent.name for p in APPS.glob("*/scenario.json"))
FACT = {name: json.loads((APPS / name / "scenario.json").read_text())["fact"] for name in SCENARIOS}


def scenario(name: str) -> dict:
    return json.loads((APPS / name / "scenario.json").read_text())


async def _diagnose(name: str, tmp_path, kb_index_dir, *, fixed: bool):
    sc = scenario(name)
    files = []
    for f in sc["files"]:
        src = (APPS / name / f).read_text()
        if fixed:
            assert sc["fix"]["from"] in src, "the scenario's fix must apply to its sources"
            src = src.replace(sc["fix"]["from"], sc["fix"]["to"])
        (tmp_path / f).write_text(src)
        files.append(tmp_path / f)
    node = start_node("elixir", elixir_files=files, eval_code="{:ok, _} = " + sc["start"])
    dist = Node()
    try:
        conn = await dist.connect(node.name, cookie=node.cookie)
        store = TraceStore.open(tmp_path / "diag.db")
        ctx = DiagnosisContext(store=store, conn=conn, dist_node=dist, knowledge_dir=kb_index_dir)
        report = await diagnose(DiagnosisInput(symptom=sc["symptom"], node=node.name, trigger=sc["trigger"],
                                               seconds=1.5, source_path=str(tmp_path),
                                               # a twin must stay silent in the round the plan makes
                                               # (later rounds only narrow a found problem down)
                                               **({"max_rounds": 1} if fixed else {})), ctx)
        shown = await conn.rpc("Elixir.Code", "eval_string", [sc["check"].encode()], timeout=10)
    finally:
        await dist.close()
        node.stop()
    return sc, report, store, shown[0]


@pytest.mark.parametrize("name", SCENARIOS)
async def test_the_function_that_left_the_value_unconverted_is_named(name, tmp_path, kb_index_dir):
    sc, report, store, shown = await _diagnose(name, tmp_path, kb_index_dir, fixed=False)
    assert shown is True, name   # the trigger the diagnosis ran really showed the bug
    assert report.verdict == "root_cause_found", render_markdown(report)
    c = report.root_cause.culprit
    assert (c.module, c.function) == (sc["culprit"]["module"], sc["culprit"]["function"]), render_markdown(report)
    assert [f for f in report.findings if f.detector == FACT[name]
            and (f.culprit.module, f.culprit.function) == (c.module, c.function)], render_markdown(report)
    assert assert_evidence_exists(report, store) > 0
    store.close()


@pytest.mark.parametrize("name", SCENARIOS)
async def test_the_fixed_twin_gives_no_such_fact(name, tmp_path, kb_index_dir):
    sc, report, store, shown = await _diagnose(name, tmp_path, kb_index_dir, fixed=True)
    assert shown is False, name   # the fix really removed the bug
    assert report.verdict != "root_cause_found", render_markdown(report)
    culprit = (sc["culprit"]["module"], sc["culprit"]["function"])
    assert not [f for f in report.findings if f.detector == FACT[name]
                and (f.culprit.module, f.culprit.function) == culprit], render_markdown(report)
    store.close()
