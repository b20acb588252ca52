"""The model may decide (a scripted model over real HTTP, the real anthropic client): it can
overturn the offline verdict only with events that exist in the recording; an uncited claim is
flagged and the offline verdict stands; it can ask for another capture round on a live node."""

from __future__ import annotations

import asyncio
import json

import pytest

from elixir_scope.agents.context import DiagnosisContext
from elixir_scope.agents.graph import diagnose
from elixir_scope.agents.llm import LLMConfig
from elixir_scope.agents.report import render_markdown
from elixir_scope.agents.state import DiagnosisInput
from elixir_scope.instrument.dist import Node
from elixir_scope.store import TraceStore
from support.scripted_anthropic import ScriptedAnthropic, text
from test_diagnose import EXAMPLES, run_diagnosis, scenario, start_scenario


@pytest.fixture(scope="module")
def kb_module_dir(kb_index_dir):
    return kb_index_dir


@pytest.fixture(scope="module")
def recorded(tmp_path_factory, kb_module_dir):
    report, store = asyncio.run(run_diagnosis("corrupted_state", tmp_path_factory.mktemp("decide"), kb_module_dir))
    yield report, store
    store.close()


def same(a, b) -> bool:
    return (a.module, a.function, a.detail) == (b.module, b.function, b.detail)


def config(server: ScriptedAnthropic, **kw) -> LLMConfig:
    return LLMConfig(api_key="sk-test", model="claude-scripted", base_url=server.url, **kw)


async def rediagnose(report, store, kb_dir, llm):
    ctx = DiagnosisContext(store=store, knowledge_dir=kb_dir, llm=llm)
    return await diagnose(DiagnosisInput(symptom=report.symptom, recording_id=report.recording_id), ctx)


async def test_the_model_overturns_the_verdict_with_cited_events(recorded, kb_module_dir):
    report, store = recorded
    crash = next(e for e in report.root_cause.causal_chain if e.kind == "exception")
    answer = {"explanation": f"The digest itself is at fault: it does not tolerate a missing e-mail [#{crash.event_id}].",
              "cited_events": [crash.event_id], "verdict": "root_cause_found",
              "culprit": {"module": "CorruptedState.Accounts", "function": "handle_call/3", "detail": ":weekly_digest"},
              "fix": "Skip users without an e-mail in the digest."}
    with ScriptedAnthropic([text("Checked the crash.\n" + json.dumps(answer))]) as model:
        out = await rediagnose(report, store, kb_module_dir, config(model))
    assert model.rejected == []
    assert out.decided_by == "model"
    c = out.root_cause.culprit
    assert (c.module, c.function, c.detail) == ("CorruptedState.Accounts", "handle_call/3", ":weekly_digest")
    assert [e.event_id for e in out.root_cause.evidence] == [crash.event_id]
    assert store.recording(out.recording_id).event(crash.event_id).kind.name.lower() == "exception"
    assert out.fix == "Skip users without an e-mail in the digest."
    assert any("overturned the offline verdict" in n for n in out.model_claims)
    # the offline root cause is kept among the findings, and the narrative is the model's explanation
    assert out.findings[0].culprit.function == "handle_cast/2"
    assert out.narrative.source == "claude" and out.narrative.text.startswith("The digest itself")
    assert "the model's verdict" in render_markdown(out)


async def test_an_uncited_claim_is_flagged_and_the_offline_verdict_stands(recorded, kb_module_dir):
    report, store = recorded
    answer = {"explanation": "It is the mailer [#987654321].", "cited_events": [987654321],
              "culprit": {"module": "CorruptedState.Mailer", "function": "send/1"}}
    with ScriptedAnthropic([text(json.dumps(answer))]) as model:
        out = await rediagnose(report, store, kb_module_dir, config(model))
    assert out.decided_by == "rules"
    assert same(out.root_cause.culprit, report.root_cause.culprit)
    claims = " ".join(out.model_claims)
    assert "#987654321" in claims and "uncited" in claims
    assert "CorruptedState.Mailer.send/1 as the culprit without evidence" in claims


async def test_a_plain_answer_is_a_narrative_and_decides_nothing(recorded, kb_module_dir):
    report, store = recorded
    with ScriptedAnthropic([text("The earlier cast stored a nil e-mail; the digest tripped over it.")]) as model:
        out = await rediagnose(report, store, kb_module_dir, config(model))
    assert out.decided_by == "rules" and out.model_claims == []
    assert same(out.root_cause.culprit, report.root_cause.culprit)


async def test_the_model_asks_for_another_round(tmp_path, kb_module_dir):
    sc = scenario("corrupted_state")
    node = start_scenario("corrupted_state")
    dist = Node()
    ask = {"explanation": "Not sure yet.", "cited_events": [],
           "another_round": {"why": "see the profile updates again", "focus": ["CorruptedState.Accounts"]}}
    done = {"explanation": "Confirmed.", "cited_events": []}
    try:
        conn = await dist.connect(node.name, cookie=node.cookie)
        store = TraceStore.open(tmp_path / "d.db")
        with ScriptedAnthropic([text(json.dumps(ask)), text(json.dumps(done))]) as model:
            ctx = DiagnosisContext(store=store, conn=conn, dist_node=dist, knowledge_dir=kb_module_dir,
                                   llm=config(model))
            out = await diagnose(DiagnosisInput(symptom=sc["symptom"], node=node.name, trigger=sc["trigger"],
                                                seconds=1.5, max_rounds=2), ctx)
    finally:
        await dist.close()
        node.stop()
    assert len(model.requests) == 2
    assert len(out.rounds) == 2, render_markdown(out)
    assert out.rounds[0].next == "the model asked for another round: see the profile updates again"
    assert out.rounds[0].recording_id != out.rounds[1].recording_id
    assert out.verdict == "root_cause_found" and out.root_cause.culprit.module == "CorruptedState.Accounts"
    assert any("asked for another round" in n for n in out.model_claims) or out.decided_by == "rules"


async def test_the_verdict_is_confirmed_by_replay_and_hands_over_a_failing_test(tmp_path, kb_module_dir):
    """With confirm_by_replay, the blamed cast is replayed away (the crash disappears) and the
    report carries the ExUnit test, run once on the node's code to prove it fails as recorded."""
    sc = scenario("corrupted_state")
    node = start_scenario("corrupted_state")
    dist = Node()
    try:
        conn = await dist.connect(node.name, cookie=node.cookie)
        store = TraceStore.open(tmp_path / "r.db")
        ctx = DiagnosisContext(store=store, conn=conn, dist_node=dist, knowledge_dir=kb_module_dir,
                               confirm_by_replay=True)
        out = await diagnose(DiagnosisInput(symptom=sc["symptom"], node=node.name, trigger=sc["trigger"],
                                            seconds=1.5, source_path=str(EXAMPLES / "corrupted_state")), ctx)
    finally:
        await dist.close()
        node.stop()
    md = render_markdown(out)
    check = out.replay_check
    assert check is not None and check["verdict"] == "confirmed", md
    assert check["confirmed_events"], md
    assert check["exunit"]["source"] and "ExUnit" in check["exunit"]["source"]
    assert check["exunit"]["ran"] and check["exunit"]["fails_as_recorded"], check["exunit"]
    assert "## Confirmed by replay: confirmed" in md and "```elixir" in md
