"""Wrong values computed by a pure helper and held or shown by another process, diagnosed end
to end (tests/fixtures/value_apps: a mean of angles, a sort direction, a rate per the wrong
period, float cents, swapped merge arguments, the wrong end of a list, a unit, an off-by-one
range, an ETS bag). Each app runs as a real node; the report must name the helper — not the
GenServer that holds the value, not the one that shows it — citing only recorded events."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from elixir_scope.agents.context import DiagnosisContext
from elixir_scope.agents.graph import diagnose
from elixir_scope.agents.report import render_markdown
from elixir_scope.agents.state import DiagnosisInput
from elixir_scope.instrument.dist import Node
from elixir_scope.store import TraceStore
from support.nodes import REPO, start_node
from support.reports import assert_evidence_exists

APPS = REPO / "tests" / "fixtures" / "value_apps"
SCENARIOS = sorted(p.parent.name for p in APPS.glob("*/scenario.json"))
# the module is found (the function that read the table returned one parcel fewer), not the
# function: the table's type (:bag) is set before the recording and not recorded
MODULE_ONLY = {"scan_bag"}


def scenario(name: str) -> dict:
    return json.loads((APPS / name / "scenario.json").read_text())


@pytest.mark.parametrize("name", SCENARIOS)
async def test_the_helper_that_made_the_wrong_value_is_named(name, tmp_path, kb_index_dir):
    sc = scenario(name)
    node = start_node("elixir", elixir_files=[APPS / name / f for f in sc["files"]], eval_code="{:ok, _} = " + sc["start"])
    dist = Node()
    try:
        conn = await dist.connect(node.name, cookie=node.cookie)
        store = TraceStore.open(tmp_path / "diag.db")
        ctx = DiagnosisContext(store=store, conn=conn, dist_node=dist, knowledge_dir=kb_index_dir)
        report = await diagnose(DiagnosisInput(symptom=sc["symptom"], node=node.name, trigger=sc["trigger"],
                                               seconds=1.5, source_path=str(APPS / name)), ctx)
        # the trigger the diagnosis ran really showed the bug
        shown = await conn.rpc("Elixir.Code", "eval_string", [sc["check"].encode()], timeout=10)
        assert shown[0] is True, (name, shown)
    finally:
        await dist.close()
        node.stop()
    assert report.verdict == "root_cause_found", render_markdown(report)
    c = report.root_cause.culprit
    assert c.module == sc["culprit"]["module"], render_markdown(report)
    if name not in MODULE_ONLY:
        assert c.function == sc["culprit"]["function"], render_markdown(report)
    assert assert_evidence_exists(report, store) > 0
    store.close()
