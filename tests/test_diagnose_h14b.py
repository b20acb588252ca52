"""Apps the diagnosis found nothing in, for general reasons (tests/fixtures/h14b_apps): a predicate
given the very point its range ends on that answers *outside* when the user says the case on the
boundary went wrong (an inclusive end compared as exclusive: ``boundary_excluded``); a span of
time added to a timestamp in another unit than the name it came from says (``link_minutes() *
1000`` milliseconds: ``duration_wrong_unit`` over ``DateTime.add``/``NaiveDateTime.add``, traced
when the symptom speaks of hours or minutes); an ETS match pattern of another size than the
table's rows, which removes nothing (``ets_pattern_never_matches``); a value the user says came out
zero where another was expected, zeroed by a helper's default (``zero_answered``: low confidence,
the suspect). Each app runs as a real node; the fact names the scenario's culprit, and its fixed
twin gives no confident culprit. The rules themselves are tested as pure functions below."""

from __future__ import annotations

import pytest

from elixir_scope.agents.evidence.boundary import ON_BOUNDARY, outside_answer
from elixir_scope.agents.evidence.durations import _mismatch, _Source, held, shift_ms, unit_of
from elixir_scope.agents.evidence.patterns import pattern_sizes, row_sizes
from elixir_scope.agents.evidence.zeroed import says_zero
from elixir_scope.agents.planner import _CALENDAR
from elixir_scope.agents.report import render_markdown
from elixir_scope.agents.view import Call
from elixir_scope.instrument.etf import Atom

from support.dev_apps import DevApps

APPS = DevApps("h14b_apps")


def _excluded(sc, report, store) -> None:
    rc = report.root_cause
    assert "data:boundary_excluded" in rc.signatures and "on its own boundary" in rc.title, render_markdown(report)
    assert rc.culprit.detail.endswith("given twice → true"), rc.culprit


def _shifted(sc, report, store) -> None:
    rc = report.root_cause
    assert "timer:wrong_unit" in rc.signatures and "shifts a time by" in rc.title, render_markdown(report)
    assert rc.culprit.detail.startswith("link_minutes: 30 → 30000"), rc.culprit


def _pattern(sc, report, store) -> None:
    rc = report.root_cause
    assert "ets:pattern_never_matches" in rc.signatures, render_markdown(report)
    assert rc.culprit.detail == "a 3-element pattern for 4-element rows of :room_presence", rc.culprit


EXTRA = {"boundary_excluded": _excluded, "duration_wrong_unit": _shifted, "ets_pattern_never_matches": _pattern}


#: apps whose fact is of low confidence on its own: the report names the culprit as where to look first
SUSPECTS = [n for n in APPS.names if APPS.scenario(n).get("named_as") == "suspect"]


@pytest.mark.parametrize("name", [n for n in APPS.names if n not in SUSPECTS])
async def test_the_buggy_app_names_its_culprit(name, tmp_path, kb_index_dir):
    await APPS.assert_named(name, tmp_path, kb_index_dir, extra=EXTRA[APPS.scenario(name)["fact"]])


@pytest.mark.parametrize("name", SUSPECTS)
async def test_the_buggy_app_names_its_culprit_as_the_suspect(name, tmp_path, kb_index_dir):
    """A zero a helper answered may be right for its input: no verdict, but the report says where
    to look first — not the function that made a value the symptom states as a fact."""
    sc, report, store, shown = await APPS.diagnose(name, tmp_path, kb_index_dir, fixed=False)
    try:
        assert shown is True, name
        assert report.verdict == "problems_found" and report.root_cause is None, render_markdown(report)
        s = report.suspect
        assert s is not None and s.detector == sc["fact"], render_markdown(report)
        assert (s.culprit.module, s.culprit.function) == (sc["culprit"]["module"], sc["culprit"]["function"]), \
            render_markdown(report)
        assert "data:zero_answered" in s.signatures and s.culprit.detail.endswith("→ 0"), s
    finally:
        store.close()


@pytest.mark.parametrize("name", APPS.names)
async def test_the_fixed_twin_gives_no_confident_culprit(name, tmp_path, kb_index_dir):
    await APPS.assert_silent(name, tmp_path, kb_index_dir)


@pytest.mark.parametrize("function,outside", [
    ("active?", False), ("valid?", False), ("within_window?", False), ("is_open", False), ("allowed?", False),
    ("expired?", True), ("overdue?", True), ("is_late", True), ("past_due?", True), ("sla_breached?", True),
    ("deadline", None), ("check", None), ("is_", None),
])
def test_a_predicates_outside_answer_follows_its_words(function, outside):
    assert outside_answer(function) is outside


@pytest.mark.parametrize("text,said", [
    ("members are turned away on the final day of their membership", True),
    ("the pass is refused on its last day", True),
    ("a coupon used on its expiry date is rejected", True),
    ("it fails on the day after the end", False),
    ("the last day of the month is slow", False),
])
def test_a_last_or_final_day_is_a_case_on_its_boundary(text, said):
    assert bool(ON_BOUNDARY.search(text)) is said


@pytest.mark.parametrize("text,said", [
    ("a P2 ticket has an 8-hour response target and was flagged after 20 minutes", True),
    ("the SLA is counted in hours", True),
    ("opened 5 minutes ago and already breached", True),
    ("the counter is too low", False),
    ("the export takes a minimum of effort", False),
])
def test_spans_of_hours_and_minutes_are_time_arithmetic(text, said):
    assert bool(_CALENDAR.search(text)) is said


def _call(module, function, args, call_id=1):
    return Call(call_id=call_id, pid=1, module=module, function=function, arity=len(args), ts=0, args=args)


def test_time_arithmetic_amounts_are_read_in_milliseconds():
    dt = {Atom("__struct__"): Atom("Elixir.DateTime")}
    assert shift_ms(_call("Elixir.DateTime", "add", [dt, 480, Atom("second"), Atom("db")])) == (480_000, 480)
    assert shift_ms(_call("Elixir.NaiveDateTime", "add", [dt, 30_000, Atom("millisecond")])) == (30_000, 30_000)
    assert shift_ms(_call("Elixir.NaiveDateTime", "add", [dt, 2_000_000, Atom("microsecond")])) == (2_000, 2_000_000)
    assert shift_ms(_call("Elixir.NaiveDateTime", "add", [dt, 7])) == (7_000, 7)       # :second by default
    assert shift_ms(_call("Elixir.DateTime", "add", [dt, -1200, Atom("second"), Atom("db")])) is None
    assert shift_ms(_call("Elixir.NaiveDateTime", "add", [dt, 3, Atom("microsecond")])) is None
    assert shift_ms(_call("Elixir.Map", "put", [dt, 480, Atom("second")])) is None


def test_a_function_name_says_the_unit_of_what_it_returns():
    assert unit_of("target_hours") == 3_600_000 and unit_of("link_minutes") == 60_000
    assert unit_of("ttl") == 0 and unit_of("deadline") is None
    c = _call("Elixir.Sla", "target_hours", [Atom("p2")])
    # 8 hours added as 480 seconds: the wrong factor; as 28,800 seconds: right, no fact
    assert _mismatch(480_000, [_Source("target_hours", 8, c)])[1:] == (60_000, 3_600_000)
    assert _mismatch(28_800_000, [_Source("target_hours", 8, c)]) is None


def test_a_function_named_in_a_unit_that_returned_the_amount_is_no_held_value():
    conv = _call("Elixir.Limits", "window_ms", [1])
    src = _call("Elixir.Limits", "window_minutes", [], call_id=2)
    named = [_Source("window_ms", 1000, conv), _Source("window_minutes", 1, src)]
    # window_ms(1) → 1000 handed on as 1000 ms: its own name is the claim under test
    assert [x.name for x in held(named, 1000)] == ["window_minutes"]
    assert [x.name for x in held(named, 60_000)] == ["window_ms", "window_minutes"]
    assert _mismatch(1000, held(named, 1000))[1:] == (1000, 60_000)


def test_a_patterns_sizes_are_its_tuple_heads():
    any_, at = Atom("_"), Atom("$1")
    spec = [((any_, any_, at), [(Atom("<"), at, 10)], [True])]
    assert pattern_sizes("select_delete", spec) == {3}
    assert pattern_sizes("select_count", spec + [((any_, any_, at, any_), [], [True])]) == {3, 4}
    assert pattern_sizes("match_delete", (("room", any_), any_, any_)) == {3}
    # a head that is no tuple matches rows of any size
    assert pattern_sizes("select_delete", [(at, [], [True])]) is None
    assert pattern_sizes("match_delete", any_) is None
    assert pattern_sizes("insert", spec) is None


@pytest.mark.parametrize("text,said", [
    ("assessed with EUR 0.00 duty; we expected about EUR 350 duty", True),
    ("the order earned 0 points; it should get about 240 points", True),
    ("the order earned 0 points", False),                          # no value it should have had
    ("we expected 0 errors and got 3", False),                     # the zero is the expectation
    ("the invoice came to 90.00 instead of 105.00", False),
])
def test_a_zero_that_came_out_where_another_was_expected(text, said):
    assert says_zero(text) is said


def test_rows_sizes_are_read_from_a_row_or_a_list_of_rows():
    assert row_sizes(("k", 1, 2, 0)) == {4}
    assert row_sizes([("k", 1), ("j", 1, 2)]) == {2, 3}
    assert row_sizes([]) == set() and row_sizes(7) == set()
