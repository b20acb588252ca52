"""Work done again and again (tests/fixtures/repeat_apps): a cache whose key is new for every
request so it never hits (``cache_never_hits``), one expensive call repeated with the same
arguments and the same result inside a loop (``work_repeated``), a timer armed again for the same
message while the one before it is pending (``timer_rearmed``). Each app runs as a real node and is
diagnosed in one round; the fact names the function that causes it; its fixed twin gives no
confident culprit (a cache that hits, the work done once, the old timer cancelled)."""

from __future__ import annotations

import pytest

from elixir_scope.agents.report import render_markdown

from support.dev_apps import DevApps

APPS = DevApps("repeat_apps")


def _timer(sc, report, store) -> None:
    rc = report.root_cause
    assert "timer:leak:rearmed" in rc.signatures and "pending" in rc.title, render_markdown(report)
    # the arm while the earlier timer was pending is evidence, and so is the message handled again
    assert any("while" in e.summary and "pending" in e.summary for e in rc.evidence), rc.evidence
    assert any("again" in e.summary for e in rc.evidence), rc.evidence


def _cache(sc, report, store) -> None:
    rc = report.root_cause
    assert "cache:never_hits" in rc.signatures and "0 hits" in rc.title, render_markdown(report)


def _work(sc, report, store) -> None:
    rc = report.root_cause
    assert "callback:slow:repeated_work:same_args" in rc.signatures and "same arguments" in rc.title, render_markdown(report)


EXTRA = {"timer_rearmed": _timer, "cache_never_hits": _cache, "work_repeated": _work}


@pytest.mark.parametrize("name", APPS.names)
async def test_the_function_that_repeats_the_work_is_named(name, tmp_path, kb_index_dir):
    await APPS.assert_named(name, tmp_path, kb_index_dir, extra=EXTRA[APPS.scenario(name)["fact"]], max_rounds=1)


@pytest.mark.parametrize("name", APPS.names)
async def test_the_fixed_twin_gives_no_confident_culprit(name, tmp_path, kb_index_dir):
    await APPS.assert_silent(name, tmp_path, kb_index_dir)


def test_timers_are_traced_only_when_the_symptom_speaks_of_repeats_or_the_hypotheses_need_them():
    from elixir_scope.agents.planner import TIMER_SPECS, Survey, plan

    sv = Survey(node="n@h", app_modules=["Shop.Cart"])
    for symptom in ("the customer was charged twice", "the alert went out again and again",
                    "every heartbeat is counted 3 times", "duplicate pages for one outage"):
        assert any(TIMER_SPECS[0] in s.spec for s in plan(symptom, sv).specs), symptom
    assert not any(TIMER_SPECS[0] in s.spec for s in plan("the cart total is wrong", sv).specs)
    assert any(TIMER_SPECS[0] in s.spec for s in plan("the cart total is wrong", sv, needs=["timers"]).specs)


def test_a_slow_symptom_traces_plain_modules_by_their_named_functions():
    from elixir_scope.agents.planner import NARROW_WHY, Survey, plan

    sv = Survey(node="n@h", app_modules=["Bill.Tariff", "Bill.Server"], genservers={"Bill.Server": ["Bill.Server"]},
                ets_tables=[("rates", "Bill.Server")])
    funs = {"Bill.Tariff": ["parse/1", "rate/2"], "Bill.Server": ["handle_call/3", "init/1"]}
    slow = [s.spec for s in plan("pricing is slow and pegs a CPU", sv, source_functions=funs,
                                 candidates=[{"spec": "Bill.Tariff", "reasons": ["complex"]}]).specs]
    # the plain module by its named functions (not the anonymous ones inside), the GenServer whole
    assert "Bill.Tariff.parse/1 :: return" in slow and "Bill.Tariff :: return" not in slow
    assert "Bill.Server :: return" in slow
    # a slow symptom keeps the ETS lookups' answers (a cache that never hits shows in them)
    assert ":ets.lookup(rates, _) :: return" in slow
    other = plan("the invoice total is wrong", sv, source_functions=funs)
    assert "Bill.Tariff :: return" in [s.spec for s in other.specs]
    assert not [s for s in other.specs if s.why == NARROW_WHY]
    assert ":ets.lookup(rates, _)" in [s.spec for s in other.specs]


def test_keys_that_repeat_once_their_per_request_part_is_left_out():
    from elixir_scope.agents.evidence.cachemiss import _same_answers, _varying
    from elixir_scope.instrument.etf import Atom

    # {from, to, request id}: the pair repeats, the id is new in every key, the stored rate is the same
    keys = [(b"EUR", b"USD", f"q-{n}".encode()) for n in range(6)]
    vary, proj = _varying(keys)
    assert vary == [(2,)] and len(set(proj)) == 1 and _same_answers(proj, [(10842,)] * 6)
    # options in another order: maps and keyword lists are compared by key
    kw = [[(Atom("lang"), b"de"), (Atom("units"), Atom("metric"))], [(Atom("units"), Atom("metric")), (Atom("lang"), b"de")]]
    assert _varying([(b"Main St 1", kw[0]), (b"Elm Rd 7", kw[1]), (b"Main St 1", kw[1])]) is not None
    # a table keyed by each request's own id: nothing repeats once the id is left out
    assert _varying([(b"cust-1", n) for n in range(5)]) is not None
    assert not _same_answers(_varying([(b"cust-1", n) for n in range(5)])[1], [(b"order", n) for n in range(5)],
                             [{str(n)} for n in range(5)])
    assert _varying([f"id-{n}".encode() for n in range(5)]) is None
