"""The function that broke the contract, not its victim (tests/fixtures/contract_apps): a callee
that returned, in one call, a value outside the shape its other calls keep — a `with` without
`else` handing back `false`, a `Map.get` or `Enum.find` miss handing back `nil` — and whose
caller crashed on it (``contract_broken``, :mod:`elixir_scope.agents.evidence.contracts`); and
the twins where the callee keeps its contract — `{:error, :full}` beside `{:ok, n}`, a `nil` its
`@spec` lists — and the caller handles too few of its shapes: the caller stays the culprit
(``exception``). Each app runs as a real node, diagnosed in one round;
its fixed twin gives no confident culprit.

Waiting blamed on the waiter: a caller's ``GenServer.call`` timed out on a callback whose time
went between a client's attempts at a busy upstream (``slow_callback`` naming the retrier,
:mod:`elixir_scope.agents.detectors.slow_retries`); a ``receive ... after`` gave up on the worker
it spawned, which kept retrying a greylisting server (``retries_outlasted_wait``,
:mod:`elixir_scope.agents.evidence.retries`); a ``Task.await`` gave up on a task whose
``Enum.reduce_while/3`` retried a locked account per entry (``slow_callback`` again, the retrier
counted over its calls).

A lenient producer upstream of a wrong figure: weights and durations parsed with their unit
dropped ("800g" as 800 kg, "2m" as 2 s), noticed in a bill and an estimate computed rightly from
them (``unit_ignored``, :mod:`elixir_scope.agents.evidence.units`; the ``value_origin`` on the
arithmetic is linked to it); a reading without decimals rescued to 0.0, noticed in a daily
average (``lenient_parse``, the same module)."""

from __future__ import annotations

import re

import pytest

from support.dev_apps import DevApps

from elixir_scope.agents.evidence.contracts import shape
from elixir_scope.instrument.etf import Atom
from elixir_scope.knowledge.source.specs import return_specs_of

APPS = DevApps("contract_apps")


def _no_contract_fact(report) -> None:
    assert not [f for f in report.findings if f.detector == "contract_broken"], report.findings


def _stock_reserve(sc, report, store) -> None:
    # three {:ok, shelf} before it, then the bare false of the with's failed check
    rc = report.root_cause
    assert rc.detector == "contract_broken" and "returned false" in rc.title and "ok/2" in rc.title, rc.title
    # every other recorded call of it returned {:ok, shelf} (three in the trigger; a busy run may
    # record a call more or less of them), and the spec says so too
    kept = re.search(r"its other (\d+) recorded calls returned ok/2 ×(\d+)(?![\d,])", rc.summary)
    assert kept and kept[1] == kept[2] and int(kept[1]) >= 2, rc.summary
    assert "its @spec returns ok/2 | error/2" in rc.summary, rc.summary
    assert "return:off_contract" in rc.signatures
    assert [h for h in report.hypotheses[:1] if h.id == "callee-breaks-return-contract"], report.hypotheses[:2]


def _fx_quote(sc, report, store) -> None:
    # four numbers, then nil for "chf": the ArithmeticError's operands come from the task's exit
    rc = report.root_cause
    assert rc.detector == "contract_broken" and "returned nil" in rc.title and "Fx.Quote.convert/2" in rc.title, rc.title
    assert rc.culprit.detail == "nil" and "number ×4" in rc.summary, rc.summary


def _badge_print(sc, report, store) -> None:
    # the function with no clause for nil is the victim: the look-up that found nobody made it
    rc = report.root_cause
    assert rc.detector == "contract_broken" and "%Badges.Member{}" in rc.title, rc.title
    assert "Badges.Printer.render/1" in rc.title and "function_clause" in rc.summary, rc.summary


def _clinic_slots(sc, report, store) -> None:
    # {:error, :full} is the other half of the slot book's {:ok, _} contract (and its spec's)
    rc = report.root_cause
    assert rc.detector == "exception" and "{:case_clause, {:error, :full}}" in rc.title, rc.title
    _no_contract_fact(report)


def _room_keys(sc, report, store) -> None:
    # find/1 returned %Hotel.Room{} three times and nil once - but its @spec says `| nil`: the
    # caller that read a field of nil is the culprit
    rc = report.root_cause
    assert rc.detector == "exception" and "{:badmap, nil}" in rc.title, rc.title
    _no_contract_fact(report)


def _geo_retry(sc, report, store) -> None:
    # the caller timed out on the server's callback; the time went between the client's attempts
    rc = report.root_cause
    assert rc.detector == "slow_callback" and "kept retrying Geo.Upstream.geocode/1 (5 attempts)" in rc.title, rc.title
    assert "4 of which returned {:error, :busy}" in rc.summary and "went between the attempts" in rc.summary, rc.summary
    assert "callback:slow:retry_loop" in rc.signatures
    assert report.hypotheses[0].id == "retry-loop-outlasts-the-wait", report.hypotheses[:2]


def _mail_relay(sc, report, store) -> None:
    # a receive ... after gave up on the worker it spawned, which was retrying a greylisted send
    rc = report.root_cause
    assert rc.detector == "retries_outlasted_wait" and "Relay.Outbox.send_mail/2 waited" in rc.title, rc.title
    assert "6 of which returned {:error, :greylisted}" in rc.summary, rc.summary
    assert not [f for f in report.findings if f.culprit.module == "Relay.Outbox" and not f.weak and f.confidence >= 0.6]


def _ledger_push(sc, report, store) -> None:
    # Task.await gave up on the task; its time went between a reduce_while's attempts per entry
    rc = report.root_cause
    assert rc.detector == "slow_callback" and "kept retrying LedgerPush.Bank.post/1" in rc.title, rc.title
    assert "Task.await timeout" in rc.summary and "over 3 calls" in rc.summary, rc.summary
    assert "returned {:error, :locked}" in rc.summary and "callback:slow:retry_loop" in rc.signatures


def _parcel_weight(sc, report, store) -> None:
    # the freight arithmetic is right: the parts were made from weights read with their unit dropped
    rc = report.root_cause
    assert rc.detector == "unit_ignored" and 'reads "800g" as 800000' in rc.title and "×1000" in rc.title, rc.title
    origin = [f for f in report.findings if f.detector == "value_origin" and f.culprit.function == "parcel/1"]
    assert origin and origin[0].caused_by == rc.id, origin
    assert report.hypotheses[0].id == "parse-drops-the-unit", report.hypotheses[:2]


def _render_estimate(sc, report, store) -> None:
    # parsed in tasks, added up by their caller: "2m" counted as 2 seconds
    rc = report.root_cause
    assert rc.detector == "unit_ignored" and 'reads "2m" as 2' in rc.title, rc.title
    assert "The symptom states 2 m as written" in rc.summary, rc.summary
    assert not [f for f in report.findings if f.culprit.function == "total/1" and f.caused_by is None
                and not f.weak and f.confidence >= 0.6]


def _greenhouse_avg(sc, report, store) -> None:
    # the mean is right for what it was given: "21" was read as 0.0 by a rescue
    rc = report.root_cause
    assert rc.detector == "lenient_parse" and 'reads "21" as 0.0 where it reads "21.5" as 21.5' in rc.title, rc.title
    origin = [f for f in report.findings if f.detector == "value_origin" and f.culprit.function == "mean/1"]
    assert all(f.caused_by == rc.id for f in origin), origin


EXTRA = {"stock_reserve": _stock_reserve, "fx_quote": _fx_quote, "badge_print": _badge_print,
         "clinic_slots": _clinic_slots, "room_keys": _room_keys, "geo_retry": _geo_retry, "mail_relay": _mail_relay, "ledger_push": _ledger_push,
         "parcel_weight": _parcel_weight, "render_estimate": _render_estimate,
         "greenhouse_avg": _greenhouse_avg}


@pytest.mark.parametrize("name", APPS.names)
async def test_the_function_that_broke_the_contract_is_named(name, tmp_path, kb_index_dir):
    await APPS.assert_named(name, tmp_path, kb_index_dir, extra=EXTRA[name], max_rounds=1)


@pytest.mark.parametrize("name", APPS.names)
async def test_the_fixed_twin_gives_no_confident_culprit(name, tmp_path, kb_index_dir):
    await APPS.assert_silent(name, tmp_path, kb_index_dir)


def test_shapes_and_spec_shapes_speak_one_language():
    src = """
    defmodule Shop.Cart do
      @spec add(map, String.t()) :: {:ok, map} | {:error, :sold_out} | nil
      def add(cart, sku), do: {:ok, Map.put(cart, sku, 1)}
      @spec total(map) :: non_neg_integer
      def total(cart), do: map_size(cart)
      @spec owner(map) :: Shop.User.t() | false when cart: map
      def owner(_), do: false
    end
    """
    specs = return_specs_of(src)
    assert specs == {"Shop.Cart.add/2": ["ok/2", "error/2", "nil"], "Shop.Cart.total/1": ["number"],
                     "Shop.Cart.owner/1": ["any", "bool"]}
    assert shape((Atom("ok"), {})) == "ok/2" and shape(Atom("nil")) == "nil" and shape(Atom("false")) == "bool"
    assert shape({Atom("__struct__"): Atom("Elixir.Shop.User"), Atom("id"): 1}) == "%Shop.User{}"
    assert shape(12.5) == "number" and shape(b"x") == "binary" and shape([1]) == "list"


def test_a_crash_whose_callees_returns_were_not_recorded_is_not_decided():
    """The judge's check (agents/rounds.unseen_producers): a leading crash in a function whose
    callees' modules this round did not trace with their returns takes another round, which
    records them (refocus: planner.callee_modules); with them recorded, or when the first cause
    is not a crash, it is decided as before."""
    from elixir_scope.agents.findings import Culprit, Finding, Hypothesis, Plan, PlannedSpec
    from elixir_scope.agents.rounds import unseen_producers
    from elixir_scope.agents.state import DiagnosisState

    culprit = Culprit(module="Shop.Orders", function="handle_call/3")
    crash = Finding(id="exception#1", detector="exception", title="t", summary="s", confidence=0.75, culprit=culprit)
    top = Hypothesis(id="case-clause-unhandled-return", title="t", score=1.0, evidence_score=0.9, culprit=culprit,
                     origin_fact="exception#1")
    callees = {"Shop.Orders.handle_call/3": ["Shop.Stock.reserve/3", "Shop.Orders.total/1", "Shop.Mail.send/2"]}
    plan = Plan(specs=[PlannedSpec(spec="Shop.Orders :: return", why="w"), PlannedSpec(spec="Shop.Mail :: return", why="w"),
                       PlannedSpec(spec="Shop.Stock.reserve/3", why="calls only")])
    state = DiagnosisState(symptom="x", findings=[crash], hypotheses=[top], plan=plan,
                           source_summary={"callees": callees})
    assert unseen_producers(state) == ["Shop.Stock"]
    plan.specs.append(PlannedSpec(spec="Shop.Stock :: return", why="w"))
    assert unseen_producers(state) == []
    plan.specs.pop()
    crash.detector = "slow_callback"
    assert unseen_producers(state) == []
