"""``code_pitfall`` facts (agents/evidence/pitfalls.py) on a real node: the sources hold three
well-known pitfalls; only the ones in functions the recording shows ran become facts, and
how high they rank depends on whether the symptom describes what the pitfall does."""

from __future__ import annotations

import pytest

from elixir_scope.agents.evidence import CodeEvidence, FactBook
from elixir_scope.agents.evidence.pitfalls import code_pitfalls, encoder_similarity, fit
from elixir_scope.agents.hypotheses import MIN_VERDICT, rank
from elixir_scope.knowledge.source.pitfalls import scan_source
from support.fact_recording import record_facts

APP = r'''
defmodule Ota.Releases do
  use GenServer
  def start_link(_), do: GenServer.start_link(__MODULE__, [], name: __MODULE__)
  def publish(v), do: GenServer.call(__MODULE__, {:publish, v})
  def latest, do: GenServer.call(__MODULE__, :latest)
  def init(rs), do: {:ok, rs}
  def handle_call({:publish, v}, _from, rs), do: {:reply, :ok, [%{version: v} | rs]}
  def handle_call(:latest, _from, rs), do: {:reply, newest(rs).version, rs}
  defp newest(rs), do: Enum.max_by(rs, & &1.version)
  def newest_right(rs), do: Enum.max_by(rs, &Version.parse!(&1.version), Version)
end

defmodule Ota.Print do
  @defaults [duplex: false, priority: :normal]
  def job(opts), do: Keyword.merge(opts, @defaults)
end

defmodule Ota do
  def start do
    children = [Ota.Releases]
    {:ok, pid} = Supervisor.start_link(children, strategy: :one_for_one, name: Ota.Supervisor)
    Process.unlink(pid)
    {:ok, pid}
  end

  def run do
    for v <- ["2.9.4", "2.10.0", "2.10.1"], do: Ota.Releases.publish(v)
    Ota.Releases.latest()
    :ok
  end
end
'''

SPECS = ["Ota.Releases :: return", "Ota.Print :: return"]
DOWNGRADE = ("we published firmware 2.10.1 but the devices were put back on the older release 2.9.4; "
             "the newest version is never installed")
UNRELATED = "the node runs out of memory after a few hours and the scheduler is busy"


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    hits = tuple(scan_source(APP, "lib/ota.ex"))
    views: list = []
    book = record_facts(tmp_path_factory.mktemp("pitfalls"), APP, start="Ota.start()", run="Elixir.Ota",
                        specs=SPECS, views=views, code=CodeEvidence(hits, DOWNGRADE, encoder_similarity()))
    return hits, views[0], book


def test_the_sources_hold_both_pitfalls(recorded):
    hits, _view, _book = recorded
    assert {(h.pitfall, h.spec) for h in hits} == {("version_strings_compared", "Ota.Releases.newest/1"),
                                                   ("merge_defaults_last", "Ota.Print.job/1")}


def test_only_the_pitfall_that_ran_is_a_fact(recorded):
    _hits, _view, book = recorded
    facts = book.of_kind("code_pitfall")
    assert len(facts) == 1, [f.title for f in facts]
    f = facts[0]
    assert (f.culprit.module, f.culprit.function) == ("Ota.Releases", "newest/1")
    assert f.culprit.location.file == "lib/ota.ex" and f.culprit.location.line == 10
    assert "Enum.max_by" in f.culprit.detail and f.signatures == ["code:pitfall:collections"]
    assert f.evidence and all(e.event_id is not None for e in f.evidence)
    assert "Version.compare" in f.fix_hint
    assert f.confidence >= MIN_VERDICT, f.summary


def test_a_fitting_pitfall_that_ran_becomes_the_verdict(recorded):
    _hits, _view, book = recorded
    ranking = rank(book, DOWNGRADE)
    top = ranking.hypotheses[0]
    assert (top.culprit.module, top.culprit.function) == ("Ota.Releases", "newest/1")
    assert top.evidence_score >= MIN_VERDICT


def test_an_unrelated_symptom_keeps_the_pitfall_below_the_verdict_bar(recorded):
    hits, view, _book = recorded
    book = FactBook()
    code_pitfalls(view, book, hits, UNRELATED, encoder_similarity())
    [f] = book.of_kind("code_pitfall")
    assert f.confidence < MIN_VERDICT and "nothing the symptom says fits" in f.summary
    assert rank(book, UNRELATED).hypotheses[0].evidence_score < MIN_VERDICT


def test_fit_reasons_name_what_matched():
    [hit] = [h for h in scan_source(APP, "lib/ota.ex") if h.pitfall == "version_strings_compared"]
    conf, why = fit(DOWNGRADE, hit, None)
    assert conf >= MIN_VERDICT and any("version" in w for w in why), why
    low, why = fit(UNRELATED, hit, None)
    assert low < MIN_VERDICT and why == ["nothing the symptom says fits this pitfall"]
