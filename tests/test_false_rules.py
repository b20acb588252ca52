"""The rules behind fewer confident wrong answers (tests/fixtures/false_apps), one at a time, on
real terms: what makes a state change a corruption, a later success of the same callee, a tie
between observed tokens."""

from __future__ import annotations

import pytest

from elixir_scope.agents.detectors.exception_state import _unusual
from elixir_scope.agents.view import state_changes
from elixir_scope.instrument.etf import Atom

NIL = Atom("nil")
JOBS, PAGES, OWNER, MODE = Atom("jobs"), Atom("pages"), Atom("owner"), Atom("mode")


def _corrupting(earlier, prev, nxt):
    rows = state_changes(prev, nxt)
    return [r.path for r in _unusual(prev, nxt, rows, [*earlier, prev])]


@pytest.mark.parametrize("earlier, prev, nxt, expected", [
    # an entry of a collection keyed by data taken out when its work is done, a number counting
    ([{JOBS: {}, PAGES: 0}], {JOBS: {b"J-1": b"1-4"}, PAGES: 0}, {JOBS: {}, PAGES: 4}, []),
    # a plain integer state counting (and going down)
    ([0, 3], 5, 2, []),
    # a field back to the nil it started with
    ([{OWNER: NIL, PAGES: 0}], {OWNER: b"ada", PAGES: 0}, {OWNER: NIL, PAGES: 1}, []),
    # a field of a type the process's other states show
    ([{MODE: Atom("idle")}], {MODE: b"x"}, {MODE: Atom("busy")}, []),
    # a field turned nil that never was, a field lost, a field of a new type: corruption
    ([{OWNER: b"bob"}], {OWNER: b"ada"}, {OWNER: NIL}, ["state.owner"]),
    ([{OWNER: b"bob", PAGES: 0}], {OWNER: b"ada", PAGES: 0}, {PAGES: 0}, ["state.owner"]),
    ([{PAGES: 1}], {PAGES: 2}, {PAGES: b"2"}, ["state.pages"]),
])
def test_a_state_is_corrupt_only_in_a_shape_its_other_states_do_not_show(earlier, prev, nxt, expected):
    assert _corrupting(earlier, prev, nxt) == expected


RETRY_APP = r'''
defmodule Store do
  use GenServer
  def start_link(_), do: GenServer.start_link(__MODULE__, 0, name: __MODULE__)
  def init(n), do: {:ok, n}
  def put(item), do: GenServer.call(__MODULE__, {:put, item})
  # the client numbers its attempts (a retry passes the attempt along)
  def put_try(item, attempt) when is_integer(attempt), do: GenServer.call(__MODULE__, {:put, item})
  def handle_call({:put, "bad-" <> _}, _from, n), do: {:reply, {:error, :rejected}, n + 1}
  def handle_call({:put, _item}, _from, n) when rem(n, 2) == 0, do: {:reply, {:error, :busy}, n + 1}
  def handle_call({:put, item}, _from, n), do: {:reply, {:ok, item}, n + 1}
end

defmodule Saver do
  # asks again until the store answers: the error is handled by the retry
  def save(item) do
    Enum.reduce_while(1..4, {:error, :busy}, fn _, _ ->
      case Store.put(item) do
        {:ok, x} -> {:halt, {:ok, x}}
        err -> {:cont, err}
      end
    end)
  end

  # asks again with the attempt's number: still a retry of the same item
  def save_counted(item) do
    Enum.reduce_while(1..4, {:error, :busy}, fn attempt, _ ->
      case Store.put_try(item, attempt) do
        {:ok, x} -> {:halt, {:ok, x}}
        err -> {:cont, err}
      end
    end)
  end

  # the next item is no retry of the first: a rejected item is dropped
  def save_all(items) do
    Enum.each(items, fn i -> Store.put(i) end)
    :ok
  end
end

defmodule RetryApp do
  def start do
    {:ok, sup} = Supervisor.start_link([Store], strategy: :one_for_one)
    Process.unlink(sup)
    {:ok, sup}
  end
  def run do
    for i <- ["a-1", "a-2", "a-3"], do: Saver.save(i)
    Saver.save_all(["bad-1", "b-2", "b-3"])
    # the store alternates: one of two items meets :busy first
    for i <- ["c-1", "c-2"], do: {:ok, ^i} = Saver.save_counted(i)
    :ok
  end
end
'''


@pytest.fixture(scope="module")
def retry_book(tmp_path_factory):
    from support.fact_recording import record_facts

    return record_facts(tmp_path_factory.mktemp("retry"), RETRY_APP, start="RetryApp.start()", run="Elixir.RetryApp",
                        specs=["Store :: return", "Saver :: return"])


def test_a_retry_that_ends_in_success_ignored_nothing(retry_book):
    ignored = [f for f in retry_book.facts if f.detector == "ignored_error"]
    assert not [f for f in ignored if f.culprit.function == "save/1"], [(f.title, f.summary) for f in ignored]


def test_a_retry_that_numbers_its_attempts_ignored_nothing(retry_book):
    ignored = [f for f in retry_book.facts if f.detector == "ignored_error"]
    assert not [f for f in ignored if (f.culprit.function or "").startswith("save_counted")], \
        [(f.title, f.summary) for f in ignored]


def test_an_error_for_one_item_of_a_loop_is_still_dropped(retry_book):
    ignored = [f for f in retry_book.facts if f.detector == "ignored_error"]
    assert [f for f in ignored if f.culprit.function == "save_all/1" and "rejected" in f.summary], \
        [(f.title, f.summary) for f in ignored]


def test_of_equally_good_tokens_the_most_specific_keeps_the_name():
    from elixir_scope.knowledge.evidence import _matches

    got = _matches(["callback:slow"], {"callback:slow": ["f1"], "callback:slow:retry_loop": ["f2"]})
    assert [(m.observed, m.fact_ids, m.weight, m.tied) for m in got] == [
        ("callback:slow:retry_loop", ("f2", "f1"), 1.0, ("callback:slow:retry_loop", "callback:slow"))]
    # an ancestor tie (each counts half): the nearer ancestor
    got = _matches(["exception:timeout:GenServer.call"], {"exception": ["f1"], "exception:timeout": ["f2"]})
    assert got[0].observed == "exception:timeout" and got[0].weight == 0.5


def test_a_pattern_s_best_evidence_is_chosen_among_every_fact_that_showed_its_primary_token():
    """The fact carrying the child token (more specific, more relevant) is the pattern's best
    evidence, and its culprit the hypothesis's — it used to be left out of the choice because the
    tie kept the parent token's name."""
    from elixir_scope.agents.evidence import FactBook
    from elixir_scope.agents.findings import Culprit, Finding
    from elixir_scope.agents.hypotheses import rank
    from elixir_scope.knowledge import KnowledgeBase

    book = FactBook()
    book.add(Finding(detector="slow_callback", title="Shop.Cart.handle_call/3 is slow", summary="slow", confidence=0.5,
                     culprit=Culprit(module="Shop.Cart", function="handle_call/3"), signatures=["callback:slow"]))
    book.add(Finding(detector="slow_callback", title="Shop.Client.fetch/1 retries", summary="retries", confidence=0.8,
                     culprit=Culprit(module="Shop.Client", function="fetch/1"),
                     signatures=["callback:slow:retry_loop"]))
    ranking = rank(book, "checkout is slow", kb=KnowledgeBase.load())
    pats = [h for h in ranking.hypotheses if h.id in ("slow-callback-blocks-callers", "task-await-inside-genserver")]
    assert pats and all(h.culprit.module == "Shop.Client" for h in pats), [(h.id, h.culprit) for h in pats]


RESCUE_APP = r'''
defmodule Dates do
  def parse(text), do: Date.from_iso8601!(text)
end

defmodule Desk do
  def lend(due), do: {:lent, Dates.parse(due)}

  # a fallback of the application's own: a bad date stands in as today
  def due_or_today(due) do
    try do
      Dates.parse(due)
    rescue
      _ -> ~D[2026-12-07]
    end
  end
end

defmodule RescueApp do
  def start, do: {:ok, self()}

  # the reproduction: rescues each failed loan, reports it and goes on
  def run do
    for due <- ["2026-12-21", "2026-1-9"] do
      try do
        Desk.lend(due)
      rescue
        e -> {:not_lent, Exception.message(e)}
      end
    end

    Desk.due_or_today("2026-2-1")
    :ok
  end
end
'''


@pytest.fixture(scope="module")
def rescue_book(tmp_path_factory):
    from support.fact_recording import record_facts

    return record_facts(tmp_path_factory.mktemp("rescue"), RESCUE_APP, start="RescueApp.start()", run="Elixir.RescueApp",
                        specs=["Dates :: return", "Desk :: return", "RescueApp :: return"], lifecycle_procs="all")


def test_the_reproduction_s_rescue_reports_the_failure_it_does_not_cause_it(rescue_book):
    caught = [f for f in rescue_book.facts if f.detector == "caught_failure" and "RescueApp.run/0" in f.title]
    assert len(caught) == 1, [(f.detector, f.title) for f in rescue_book.facts]
    f = caught[0]
    assert (f.culprit.module, f.culprit.function) == ("Dates", "parse/1") and "2026-1-9" in f.culprit.detail
    assert f.weak and "reproduction" in f.weak
    cause = rescue_book.get(f.caused_by)
    assert cause.detector == "exception" and cause.culprit.module == "Dates"


def test_a_rescue_inside_the_application_is_still_its_fallback(rescue_book):
    caught = [f for f in rescue_book.facts if f.detector == "caught_failure" and f.culprit.function == "due_or_today/1"]
    assert len(caught) == 1 and caught[0].weak is None and caught[0].caused_by is None, \
        [(f.detector, f.title, f.culprit) for f in rescue_book.facts]


WALK_APP = r'''
defmodule Rates do
  @table [{"EUR", 100}, {"GBP", 117}, {"CHF", 105}]
  def rate(code), do: find(@table, code)
  defp find([_last], _code), do: nil
  defp find([{code, cents} | _], code), do: cents
  defp find([_ | rest], code), do: find(rest, code)
end

defmodule Till do
  def price(code, units), do: Rates.rate(code) * units
end

defmodule WalkApp do
  def start, do: {:ok, self()}
  def run do
    for {code, units} <- [{"EUR", 2}, {"GBP", 1}, {"EUR", 4}, {"CHF", 3}] do
      spawn(fn -> Till.price(code, units) end)
      Process.sleep(20)
    end
    :ok
  end
end
'''


@pytest.fixture(scope="module")
def walk_book(tmp_path_factory):
    from support.fact_recording import record_facts

    return record_facts(tmp_path_factory.mktemp("walk"), WALK_APP, start="WalkApp.start()", run="Elixir.WalkApp",
                        specs=["Rates :: return", "Till :: return"], lifecycle_procs="all")


def test_a_recursive_walk_counts_once_per_run_and_is_named_as_the_maker(walk_book):
    """Each round of the walk returns what the next one did (nil, for the missed currency): those
    rounds are the same call going on, not other calls showing nil in the contract — the walk's
    outermost return broke the contract its other runs (numbers) keep, and the walk is named, not
    the public function that passed its value on."""
    broken = [f for f in walk_book.facts if f.detector == "contract_broken"]
    assert len(broken) == 1, [(f.detector, f.title) for f in walk_book.facts]
    assert (broken[0].culprit.module, broken[0].culprit.function) == ("Rates", "find/2"), broken[0].title
    assert "other 3 recorded calls returned number ×3" in broken[0].summary, broken[0].summary


def _state(origin_detector, culprit_fn, *, returned=()):
    from elixir_scope.agents.findings import Culprit, Finding, Hypothesis, Plan
    from elixir_scope.agents.state import DiagnosisState

    fact = Finding(id=f"{origin_detector}#1", detector=origin_detector, title="t", summary="s", confidence=0.8,
                   culprit=Culprit(module="Fx.Rates", function=culprit_fn))
    top = Hypothesis(id="fact:x", title="t", score=0.9, culprit=fact.culprit, origin_fact=fact.id)
    return DiagnosisState(symptom="s", findings=[fact], hypotheses=[top], plan=Plan(),
                          tail_loops=["Fx.Rates.find/2", "Fx.Feed.loop/1"], loops_returned=list(returned),
                          source_summary={"callees": {"Fx.Rates.rate/1": ["Fx.Rates.find/2"],
                                                      "Fx.Till.price/2": ["Fx.Rates.rate/1"]}})


@pytest.mark.parametrize("detector, culprit_fn, returned, expected", [
    ("contract_broken", "rate/1", (), ["Fx.Rates.find/2"]),          # the function that passed the value on calls it
    ("exception", "rate/1", (), ["Fx.Rates.find/2"]),
    ("contract_broken", "rate/1", ("Fx.Rates.find/2",), []),          # its returns are recorded already
    ("boundary_crossed", "rate/1", (), []),                            # no value crashed on or returned off contract
    ("contract_broken", "other/0", (), []),                            # the culprit calls no recursive function
])
def test_a_recursive_callee_recorded_calls_only_has_its_returns_recorded_next(detector, culprit_fn, returned, expected):
    from elixir_scope.agents.rounds import unseen_loops

    assert unseen_loops(_state(detector, culprit_fn, returned=returned)) == expected
