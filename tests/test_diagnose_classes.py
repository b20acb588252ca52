"""Bug classes no crash shows (tests/fixtures/class_apps): a duration made in one unit and armed
in another (``duration_wrong_unit``: a TTL in seconds handed to ``Process.send_after/3`` as
milliseconds, an interval in milliseconds multiplied by 1000 again); amounts in integer cents put
through floats (``float_unit_lost``: a float product cut a cent short, shares rounded apart that
no longer add up to the bill); a read-through copy not invalidated on write (``stale_read``: an ETS
cache, a memo in a server's state over an Agent, still answering the value from before an update); an
Agent's state seen by the state facts (``state_growth`` through ``Agent.Server``'s callbacks, named
at the application function that passed the closure). Each app runs as a real node
and is diagnosed in one round; the fact names the function that converted the value (or failed
to); its fixed twin gives no confident culprit."""

from __future__ import annotations

import pytest

from elixir_scope.agents.report import render_markdown
from elixir_scope.instrument.etf import Atom

from support.dev_apps import DevApps

APPS = DevApps("class_apps")


def _duration(sc, report, store) -> None:
    rc = report.root_cause
    assert "timer:wrong_unit" in rc.signatures, render_markdown(report)
    # the value as the program held it and the timer call it reached are both evidence
    assert any("held" in e.summary or "read" in e.summary for e in rc.evidence), rc.evidence
    assert any(" ms" in e.summary and "called" in e.summary for e in rc.evidence), rc.evidence
    assert rc.culprit.detail == sc["culprit"]["detail"], rc.culprit
    assert report.hypotheses[0].id == "duration-wrong-unit-across-call", render_markdown(report)


def _floats(sc, report, store) -> None:
    rc = report.root_cause
    assert "data:float_unit_lost" in rc.signatures, render_markdown(report)
    assert rc.culprit.detail == sc["culprit"]["detail"], rc.culprit
    assert report.hypotheses[0].id == "whole-units-through-floats", render_markdown(report)


def _stale(sc, report, store) -> None:
    rc = report.root_cause
    assert "data:stale_read:not_invalidated" in rc.signatures, render_markdown(report)
    # the fill of the copy before the write, the write, and the read of the old value after it
    assert any("filled" in e.summary for e in rc.evidence) and any("before the write" in e.summary
                                                                   for e in rc.evidence), rc.evidence


def _agent(sc, report, store) -> None:
    # the Agent's state history was recorded through Agent.Server's callbacks, and the fact names
    # the application function whose closure grew it, not Agent.Server
    assert "Agent.Server" in report.plan.state_modules, report.plan.state_modules
    rc = report.root_cause
    assert rc.culprit.module != "Agent.Server" and any(e.kind == "state" for e in rc.evidence), render_markdown(report)


EXTRA = {"duration_wrong_unit": _duration, "float_unit_lost": _floats, "stale_read": _stale, "state_growth": _agent}


@pytest.mark.parametrize("name", APPS.names)
async def test_the_function_behind_the_bug_class_is_named(name, tmp_path, kb_index_dir):
    await APPS.assert_named(name, tmp_path, kb_index_dir, extra=EXTRA[APPS.scenario(name)["fact"]], max_rounds=1)


@pytest.mark.parametrize("name", APPS.names)
async def test_the_fixed_twin_gives_no_confident_culprit(name, tmp_path, kb_index_dir):
    await APPS.assert_silent(name, tmp_path, kb_index_dir)


def test_a_settings_unit_is_read_from_its_name():
    from elixir_scope.agents.evidence.durations import unit_of

    assert unit_of("ttl_seconds") == 1000 and unit_of("timeout_ms") == 1 and unit_of("intervalMs") == 1
    assert unit_of("window_minutes") == 60_000 and unit_of("max_age_h") == 3_600_000 and unit_of("poll_secs") == 1000
    # a duration that does not say its unit, and names that are no duration
    assert unit_of("ttl") == 0 and unit_of("interval") == 0 and unit_of("refresh_every") == 0
    assert unit_of("source") is None and unit_of("h") is None and unit_of("count") is None and unit_of("ms") is None


def test_a_delay_is_wrong_only_when_no_named_value_gives_it_in_its_own_unit():
    from elixir_scope.agents.evidence.durations import _mismatch, _Source

    def src(name, value):
        return _Source(name, value, None)

    # seconds armed unconverted; milliseconds converted again; minutes converted as seconds
    assert _mismatch(3, [src("ttl_seconds", 3)])[1:] == (1, 1000)
    assert _mismatch(120_000, [src("interval_ms", 120)])[1:] == (1000, 1)
    assert _mismatch(5_000, [src("window_minutes", 5)])[1:] == (1000, 60_000)
    # converted right: no fact, whatever other value it also equals
    assert _mismatch(3_000, [src("ttl_seconds", 3)]) is None
    assert _mismatch(3, [src("retry_ms", 3), src("ttl_seconds", 3)]) is None
    assert _mismatch(250, [src("ttl_seconds", 3)]) is None
    # a duration with no unit in its name: only a delay under 10 ms is suspect
    assert _mismatch(5, [src("ttl", 5)])[1:] == (1, 0)
    assert _mismatch(500, [src("interval", 500)]) is None


def test_named_values_are_read_from_maps_and_keyword_lists():
    from elixir_scope.agents.evidence.durations import _named_values

    term = ("news", [(Atom("interval_ms"), 120), (Atom("source"), b"x")], {Atom("ttl_seconds"): 2, Atom("next"): 4})
    assert sorted(_named_values(term)) == [("interval_ms", 120), ("ttl_seconds", 2)]


def test_timers_are_traced_when_the_symptom_speaks_of_durations():
    from elixir_scope.agents.planner import TIMER_SPECS, Survey, plan

    sv = Survey(node="n@h", app_modules=["Shop.Cart"])
    for symptom in ("every session expires at once", "the cache entries never expire", "the poll never runs",
                    "users are logged out right after they sign in", "the timeout fires immediately",
                    "the rate limit window is far too short"):
        assert any(TIMER_SPECS[0] in s.spec for s in plan(symptom, sv).specs), symptom
    for symptom in ("the cart total is wrong", "all workers crash at once"):
        assert not any(TIMER_SPECS[0] in s.spec for s in plan(symptom, sv).specs), symptom


def test_agent_state_is_recorded_for_data_and_memory_symptoms_when_the_app_runs_agents():
    from elixir_scope.agents.planner import AGENT_SERVER, Survey, plan

    sv = Survey(node="n@h", app_modules=["Audit.Trail", "Audit.Api"], genservers={"Audit.Trail": ["Audit.Trail"]},
                agents=["Audit.Trail"])
    assert AGENT_SERVER in plan("memory keeps growing after a while", sv).state_modules
    assert AGENT_SERVER in plan("the counter shows a stale value", sv).state_modules
    assert AGENT_SERVER in plan("the page still shows the old value after the change", sv).state_modules
    assert AGENT_SERVER in plan("the shares don't add up: a cent is missing", sv).state_modules
    assert AGENT_SERVER not in plan("checkout hangs and times out", sv).state_modules
    no_agents = Survey(node="n@h", app_modules=["Shop.Cart"], genservers={"Shop.Cart": ["Shop.Cart"]})
    assert AGENT_SERVER not in plan("memory keeps growing after a while", no_agents).state_modules
    # a survey of several nodes keeps every node's agents
    assert sv.merged(no_agents).agents == ["Audit.Trail"]


def test_a_float_cut_a_unit_short_and_float_parts_that_miss_their_total():
    from elixir_scope.agents.evidence.floats import _cut, _split
    from elixir_scope.agents.view import Call

    def call(args, value):
        return Call(call_id=1, pid=1, module="Elixir.Pay", function="f", arity=len(args), ts=0, args=args,
                    end_ts=1, outcome="return", value=value)

    # 4.35 × 100 is 434.99999999999994: trunc gives 434, the whole number is 435
    assert _cut(call([4.35], 434)) == (4.35, 100, 434, 435)
    assert _cut(call([4.35], 435)) is None          # rounded: no unit lost
    assert _cut(call([4.5], 4)) is None             # a real fraction cut on purpose is no float noise
    # three shares of 33.33 for 10000 cents add up to 9999; an integer split adds up
    assert _split(call([10000, 3], [33.33, 33.33, 33.33]))[3] == 9999
    assert _split(call([10000, 3], [33.34, 33.33, 33.33])) is None
    assert _split(call([10000.0, 3], [33.33, 33.33, 33.33])) is None   # given a float: not from integers
