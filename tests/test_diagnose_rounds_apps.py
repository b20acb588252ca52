"""Rounds and knowledge patterns on apps written for them (tests/fixtures/rounds_apps), each on a
real node:

- **a later round does not overrule a stronger earlier finding**: a crash removes a registered
  ``:temporary`` service for good; the first round records the crash, the next one (asked for by
  the model, the one thing scripted) records only its callers failing with ``noproc``. That round
  does not decide on its weaker evidence, and the report explains the first round's finding, not
  a caller. The fixed twin crashes nothing and names no root cause.
- **a knowledge pattern applies by its signature**: a ``function_clause`` raised by a helper on
  a bad argument is not presented as "handle_info crashes on an unexpected message" (that
  pattern is labelled as not fitting and ranks after the crash itself); the same error raised
  by ``handle_info/2`` on a message it has no clause for is that pattern, first. The two apps are
  each other's twin: the same error name, the other shape ranks the other way.
"""

from __future__ import annotations

import json

import pytest

from elixir_scope.agents.context import DiagnosisContext
from elixir_scope.agents.findings import Culprit
from elixir_scope.agents.graph import diagnose
from elixir_scope.agents.llm import LLMConfig
from elixir_scope.agents.report import render_markdown
from elixir_scope.agents.rounds import refines
from elixir_scope.agents.state import DiagnosisInput
from elixir_scope.agents.view import RecordingView
from elixir_scope.instrument.dist import Node
from elixir_scope.store import TraceStore
from support.dev_apps import DevApps
from support.nodes import start_node
from support.reports import assert_evidence_exists
from support.scripted_anthropic import ScriptedAnthropic, text

APPS = DevApps("rounds_apps")
REMOVED = ["quote_feed", "stock_counter"]
PATTERN = "unexpected-message-function-clause"


async def _two_rounds(name: str, tmp_path, kb_dir):
    """The app on its own node, diagnosed with a model that asks for a second round after the
    first (and then only narrates): (scenario, report, store — the caller closes it)."""
    sc = APPS.scenario(name)
    files = []
    for f in sc["files"]:
        (tmp_path / f).write_text((APPS.root / name / f).read_text())
        files.append(tmp_path / f)
    node = start_node("elixir", elixir_files=files, eval_code="{:ok, _} = " + sc["start"])
    dist = Node()
    ask = {"explanation": "Record the quotes once more.", "cited_events": [],
           "another_round": {"why": "see the failing calls again", "focus": []}}
    done = {"explanation": "Nothing to add.", "cited_events": []}
    try:
        conn = await dist.connect(node.name, cookie=node.cookie)
        store = TraceStore.open(tmp_path / "rounds.db")
        with ScriptedAnthropic([text(json.dumps(ask)), text(json.dumps(done))]) as model:
            ctx = DiagnosisContext(store=store, conn=conn, dist_node=dist, knowledge_dir=kb_dir,
                                   llm=LLMConfig(api_key="sk-test", model="claude-scripted", base_url=model.url))
            report = await diagnose(DiagnosisInput(symptom=sc["symptom"], node=node.name, trigger=sc["trigger"],
                                                   seconds=1.5, source_path=str(tmp_path), max_rounds=2), ctx)
        gone = await conn.rpc("Elixir.Code", "eval_string", [sc["check"].encode()], timeout=10)
    finally:
        await dist.close()
        node.stop()
    assert gone[0] is True, name   # the service really is gone: the second round could not see it
    return sc, report, store


@pytest.mark.parametrize("name", REMOVED)
async def test_a_later_round_does_not_overrule_a_stronger_earlier_finding(name, tmp_path, kb_index_dir):
    sc, report, store = await _two_rounds(name, tmp_path, kb_index_dir)
    try:
        md = render_markdown(report)
        first, second = report.rounds
        assert first.next.startswith("the model asked for another round"), md
        # round 2 saw only the callers: its best is weaker, names another culprit, and decides nothing
        assert not second.decided and "the earlier finding stands" in second.next, md
        assert "{module}.{function}".format(**sc["caller"]) in [t["culprit"] for t in second.top], md
        assert second.top[0]["culprit"] != first.top[0]["culprit"], md
        assert "the report explains round 1" in second.next, md
        # the report is round 1's: its recording, its culprit (the crash's), not the caller
        assert report.recording_id == first.recording_id != second.recording_id
        assert report.verdict == "root_cause_found", md
        c = report.root_cause.culprit
        assert c.where == first.top[0]["culprit"], md
        assert (c.module, c.function) == (sc["culprit"]["module"], sc["culprit"]["function"]), md
        assert (c.module, c.function) != (sc["caller"]["module"], sc["caller"]["function"])
        assert assert_evidence_exists(report, store) > 0
    finally:
        store.close()


@pytest.mark.parametrize("name", REMOVED)
async def test_the_fixed_twin_names_no_root_cause(name, tmp_path, kb_index_dir):
    _sc, report, store, shown = await APPS.diagnose(name, tmp_path, kb_index_dir, fixed=True)
    try:
        assert shown is False, name   # the fix really keeps the service
        assert report.verdict != "root_cause_found", render_markdown(report)
    finally:
        store.close()


async def test_a_function_clause_in_a_helper_is_not_an_unexpected_message(tmp_path, kb_index_dir):
    sc, report, store, shown = await APPS.diagnose("meter_parse", tmp_path, kb_index_dir, fixed=False)
    try:
        md = render_markdown(report)
        assert shown is True
        assert report.verdict == "root_cause_found", md
        c = report.root_cause.culprit
        assert (c.module, c.function) == (sc["culprit"]["module"], sc["culprit"]["function"]), md
        ids = [h.id for h in report.hypotheses]
        assert ids[0] != PATTERN, md
        # the pattern is still listed — its error was seen — labelled, and behind every fitting one
        pattern = report.hypotheses[ids.index(PATTERN)]
        assert pattern.misfit and "callback:unhandled_message" in pattern.misfit, md
        assert all(h.misfit for h in report.hypotheses[ids.index(PATTERN):])
        assert "signature does not fit" in md and "handle_info without a catch-all" not in md.split("## Hypotheses")[0]
        assert assert_evidence_exists(report, store) > 0
        # a later round naming the helper would refine a finding about the callback that called
        # it (a deeper look at the same place), not the other way round
        view = RecordingView.from_recording(store.recording(report.recording_id))
        callback = Culprit(module=c.module, function="handle_cast/2")
        assert refines(view, callback, c) and not refines(view, c, callback)
        assert refines(view, Culprit(module=c.module), c) and not refines(view, Culprit(module="MeterParse.Gateway"), c)
    finally:
        store.close()


async def test_a_function_clause_on_an_unexpected_message_is_that_pattern(tmp_path, kb_index_dir):
    sc, report, store, shown = await APPS.diagnose("relay_tick", tmp_path, kb_index_dir, fixed=False)
    try:
        md = render_markdown(report)
        assert shown is True
        assert report.verdict == "root_cause_found", md
        c = report.root_cause.culprit
        assert (c.module, c.function) == (sc["culprit"]["module"], sc["culprit"]["function"]), md
        top = report.hypotheses[0]
        assert top.id == PATTERN and top.misfit is None, md
        assert f"(`{PATTERN}`) from the knowledge base" in md
        # patterns sharing only "a callback crashed on a message" (an :EXIT, a :DOWN) are labelled
        assert all(h.misfit for h in report.hypotheses if h.id in ("trap-exit-misuse", "down-message-unhandled"))
        if len(report.hypotheses) > 1 and report.hypotheses[1].misfit:   # the runner-up, labelled where it is told
            assert "its signature does not fit" in report.why_winner, md
    finally:
        store.close()
