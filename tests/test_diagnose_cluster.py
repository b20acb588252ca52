"""Diagnosis across nodes: a scenario running on two real Elixir nodes is recorded on both
(one recording, one ``nodes`` row per node) while its trigger runs on the first; the report must
name the culprit — on the node where it runs — citing only events of that recording. The
knowledge base is real (Chroma + the packaged model)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from elixir_scope.agents.context import DiagnosisContext
from elixir_scope.agents.findings import Report
from elixir_scope.agents.graph import diagnose
from elixir_scope.agents.report import render_markdown
from elixir_scope.agents.state import DiagnosisInput
from elixir_scope.instrument.dist import Node
from elixir_scope.store import TraceStore
from support.cluster_scenarios import EXAMPLES, scenario, start_cluster_scenario, trigger


def tokens(literal: str) -> set[str]:
    return set(re.findall(r'"[^"]*"|:?[\w.$]+', literal))


@pytest.fixture(scope="session")
def kb_dir(kb_index_dir) -> Path:
    return kb_index_dir


async def run_cluster_diagnosis(name: str, tmp_path: Path, kb_dir: Path, seconds: float):
    sc = scenario(name)
    nodes = start_cluster_scenario(name)
    dist = Node()
    try:
        conns = [await dist.connect(n.name, cookie=n.cookie) for n in nodes]
        store = TraceStore.open(tmp_path / "diag.db")
        ctx = DiagnosisContext(store=store, conn=conns[0], peers=conns[1:], dist_node=dist, knowledge_dir=kb_dir)
        report = await diagnose(DiagnosisInput(
            symptom=sc["symptom"], node=nodes[0].name, nodes=[n.name for n in nodes[1:]],
            trigger=trigger(name, nodes), seconds=seconds, source_path=str(EXAMPLES / name), max_rounds=1), ctx)
        return report, store, [n.name for n in nodes]
    finally:
        await dist.close()
        for n in nodes:
            n.stop()


def assert_evidence_exists(report: Report, store: TraceStore) -> int:
    rec = store.recording(report.recording_id)
    cited = 0
    for f in report.findings:
        for ev in [*f.evidence, *f.causal_chain]:
            if ev.event_id is None:
                continue
            assert rec.event(ev.event_id).kind.name.lower() == ev.kind, ev
            cited += 1
    return cited


async def test_cross_node_call_cycle_names_the_culprit_and_its_node(tmp_path, kb_dir):
    expected = scenario("cross_node_cycle")["culprit"]
    report, store, names = await run_cluster_diagnosis("cross_node_cycle", tmp_path, kb_dir, seconds=3.5)
    md = render_markdown(report)
    # one recording holds both nodes, and the report says so
    rec = store.recording(report.recording_id)
    assert sorted(n.name for n in rec.nodes()) == sorted(names)
    assert report.nodes == [n.name for n in sorted(rec.nodes(), key=lambda n: n.id)]
    assert report.verdict == "root_cause_found", md
    c = report.root_cause.culprit
    assert (c.module, c.function) == (expected["module"], expected["function"]), md
    assert tokens(c.detail) == tokens(expected["detail"]), (c.detail, expected["detail"])
    assert c.node == names[expected["node"]], md          # the directory runs on the second node
    assert f"on node `{c.node}`" in md
    cycle = next(f for f in report.findings if f.detector == "call_cycle")
    assert "call:cycle:across_nodes" in cycle.signatures
    assert names[0] in cycle.title and names[1] in cycle.title
    # the cycle's sends are on both nodes: a call from each side, matched to its receive
    sends = [rec.event(e.event_id) for e in cycle.evidence if e.kind == "send"]
    assert {rec.context.nodes[s.node_id].name for s in sends} == set(names)
    assert report.hypotheses[0].id in ("distributed-call-cycle", "genserver-call-cycle"), md
    assert any(h.id == "distributed-call-cycle" for h in report.hypotheses)
    assert assert_evidence_exists(report, store) >= 3
    assert report.fix_location is not None and report.fix_location.file.endswith("directory.ex")
    # the saved recording gives the same answer offline (no node, no peers)
    again = await diagnose(DiagnosisInput(symptom=scenario("cross_node_cycle")["symptom"],
                                          recording_id=report.recording_id,
                                          source_path=str(EXAMPLES / "cross_node_cycle")),
                           DiagnosisContext(store=store, knowledge_dir=kb_dir))
    assert again.root_cause.culprit == c
    assert json.loads(again.to_json())["nodes"] == report.nodes
    store.close()
