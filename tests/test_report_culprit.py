"""A culprit that is a module alone (a supervised child that ended with no traced callback of
its own: "Letters exited (:normal) and was not restarted") reads as the module in every form a
report takes — Markdown, the template narrative, the JSON (``function: null``) — never as
``Letters.None``. Recorded on a real node."""

from __future__ import annotations

import json

import pytest

from elixir_scope.agents.capture import _supervision
from elixir_scope.agents.explain import build_report
from elixir_scope.agents.findings import NO_FUNCTION, Culprit
from elixir_scope.agents.hypotheses import rank
from elixir_scope.agents.report import render_json, render_markdown
from elixir_scope.agents.state import DiagnosisState

from support.fact_recording import record_facts

APP = r'''
defmodule Letters do
  use GenServer, restart: :transient
  def start_link(_), do: GenServer.start_link(__MODULE__, :ok, name: __MODULE__)
  def init(:ok), do: {:ok, 0}
  def handle_cast(:sent, n) do
    handle_letter(n)
    {:stop, :normal, n + 1}
  end

  def handle_letter(n), do: n
end

defmodule LettersSup do
  use Supervisor
  def start_link(_), do: Supervisor.start_link(__MODULE__, :ok, name: __MODULE__)
  def init(:ok), do: Supervisor.init([Letters], strategy: :one_for_one)
end

defmodule LettersApp do
  def start do
    {:ok, pid} = LettersSup.start_link([])
    Process.unlink(pid)
    {:ok, pid}
  end

  def post, do: GenServer.cast(Letters, :sent)

  def run do
    post()
    Process.sleep(300)
    :ok
  end
end
'''

SYMPTOM = "offer letters stopped going out after the first one"


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    async def supervisors(conn, session):
        # the supervisors as a diagnosis reads them (agents/capture.py): Letters is LettersSup's child
        await _supervision(conn, session, "start", ["Elixir.LettersSup", "Elixir.Letters"], [], 20_000)

    # Letters' callbacks are not traced, only a helper of its own: its exit has no callback to blame
    book = record_facts(tmp_path_factory.mktemp("culprit"), APP, start="LettersApp.start()",
                        run="Elixir.LettersApp", specs=["LettersApp.post/0 :: return", "Letters.handle_letter/1 :: return"], lifecycle_procs="all",
                        before_run=supervisors)
    ranking = rank(book, SYMPTOM)
    state = DiagnosisState(symptom=SYMPTOM, findings=list(book.facts), hypotheses=ranking.hypotheses,
                           chain=[f.id for f in ranking.chain])
    return build_report(state, [])


def _module_alone(report):
    found = [f for f in report.findings if f.detector == "not_restarted"]
    assert len(found) == 1, [(f.detector, f.culprit) for f in report.findings]
    assert found[0].culprit.module == "Letters" and found[0].culprit.function is None, found[0].culprit
    return found[0]


def test_a_module_alone_reads_as_the_module_in_markdown(report):
    fact = _module_alone(report)
    md = render_markdown(report)
    lead = report.root_cause or report.suspect
    assert lead is not None and lead.id == fact.id, (report.verdict, lead)
    assert "Culprit:** `Letters` (no function identified)" in md or \
        "Suspect:** `Letters` (no function identified)" in md, md
    assert f"`Letters` ({NO_FUNCTION})" in md.split("## Hypotheses", 1)[1]   # the hypotheses' table too
    assert "None" not in md.replace("None of", ""), md


def test_the_narrative_names_the_module_alone(report):
    _module_alone(report)
    text = report.narrative.text
    assert f"Letters ({NO_FUNCTION})" in text and "Letters.None" not in text, text


def test_the_json_says_function_null(report):
    _module_alone(report)
    data = json.loads(render_json(report))
    lead = data["root_cause"] or data["suspect"]
    assert lead["culprit"]["module"] == "Letters"
    assert "function" in lead["culprit"] and lead["culprit"]["function"] is None


@pytest.mark.parametrize("written", ["", "None", "null", " nil "])
def test_a_null_written_as_text_is_no_function(written):
    c = Culprit(module="Letters", function=written)
    assert c.function is None and c.where == "Letters" and c.shown == f"Letters ({NO_FUNCTION})"
    assert Culprit(module="Letters", function="send/1").shown == "Letters.send/1"


def test_the_page_says_each_thing_once(report):
    """The templated narrative retells the page's own sections (it is for readers of the JSON);
    the causal chain's events are not listed again as evidence; gaps stand before the evidence
    they qualify; the hypotheses' reasons end with one full stop."""
    _module_alone(report)
    gapped = report.model_copy(update={"gaps": ["3 events dropped (rate) at +5 ms"]})
    md = render_markdown(gapped)
    assert report.narrative.source == "template" and "## Explanation" not in md
    chain = {e.event_id for e in report.root_cause.causal_chain}
    assert chain and md.count(f"[#{min(chain)}]") == 1 and f"| {min(chain)} |" not in md, md
    assert "## Evidence\n\nThe events of the causal chain above." in md
    assert md.index("> **Gaps:** 3 events dropped") < md.index("## Causal chain")
    assert md.count("3 events dropped") == 1
    assert ".." not in md.replace("...", ""), md


def test_a_reason_ending_in_a_full_stop_gets_no_second_one():
    from elixir_scope.agents.explain import why_winner
    from elixir_scope.agents.findings import Hypothesis

    h = Hypothesis(id="timer-interval-wrong-unit", title="A timer in the wrong unit", score=1.1,
                   why=["symptom match 1.00", "known to mislead: a timer chain started twice also raises the rate."])
    text = why_winner(DiagnosisState(symptom=SYMPTOM, hypotheses=[h]))
    assert text.endswith("raises the rate.") and ".." not in text, text


def test_a_suspect_report_says_problems_found_and_tells_its_suspect_once(report):
    from elixir_scope.agents.findings import RoundRecord

    fact = _module_alone(report)
    weak = report.model_copy(update={
        "verdict": "problems_found", "root_cause": None, "suspect": fact.model_copy(update={"weak": "one weak fact"}),
        "rounds": [RoundRecord(round=1, recording_id=1, seconds=1.0, next="not decided (too weak)")]})
    md = render_markdown(weak)
    assert "## Verdict: problems found, no root cause" in md and "inconclusive" not in md   # the JSON's verdict
    assert "Suspect:** `Letters` (no function identified)" in md
    assert len(weak.findings) == 1 and "## Other facts" not in md, md   # the suspect is not listed again
    assert "leading: " in md and ". Not decided (too weak)" in md


def test_long_lists_are_bounded_in_the_markdown(report):
    from elixir_scope.agents.findings import StateChange, StateDiff

    fact = _module_alone(report)
    diff = StateDiff(pid="<0.1.0>", event_id=1, changes=[StateChange(path=f"state[{i}]", op="added", after=str(i))
                                                         for i in range(30)])
    big = report.model_copy(update={
        "root_cause": fact.model_copy(update={"state_diffs": [diff]}),
        "gaps": [f"{i} events dropped (rate) at +{i} ms" for i in range(1, 11)]})
    md = render_markdown(big)
    assert "state[19]" in md and "state[20]" not in md and "10 more in the JSON report |" in md
    assert "6 events dropped" in md and "7 events dropped" not in md and "… 4 more in the JSON report" in md
