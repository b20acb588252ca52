"""Apps the diagnosis found nothing in, for general reasons (tests/fixtures/h13b_apps): a waiter
that caught its own call's timeout (``catch :exit, {:timeout, _}`` around a ``GenServer.call``,
returning ``:timeout``) — no exception unwinds through a traced call, yet the wait and the
callback it waited on are both recorded (``slow_callback`` names where the callback's time went);
members taken past a capacity — a list field beside its bound (``attendees`` past ``limit``), by a
check-then-act between a read of what is left and an append that never checks
(``boundary_crossed``); a few processes per request that never exit, which a short reproduction
shows when the user reports the process count growing (``process_leak``); a ranking the symptom
says runs the wrong way in words of relevance — irrelevant results at the top, the closest match
not on the first page — with no number to tie it (``order_inverted``, weak: the suspect); a slow symptom no fact
explains — one round trip per item in a plain module's loop, no waiter timing out — whose slowest
call, followed to where its time went, is the lead the report names as the suspect. Each app runs as a real
node; the fact names the scenario's culprit, and its fixed twin gives no confident culprit."""

from __future__ import annotations

import pytest

from elixir_scope.agents.detectors.process_leak import PROCESSES_GROW
from elixir_scope.agents.evidence.boundary import ON_BOUNDARY, points_in_time, shown
from elixir_scope.agents.evidence.crossed import CROSSING, _fields
from elixir_scope.agents.evidence.ranking import order_seen
from elixir_scope.agents.report import render_markdown
from elixir_scope.instrument.etf import Atom

from support.dev_apps import DevApps

APPS = DevApps("h13b_apps")


def _slow(sc, report, store) -> None:
    rc = report.root_cause
    # the caller's return of its caught timeout is the evidence of the wait, not an exit
    assert any(e.kind == "return" and "gave up" in e.summary for e in rc.evidence), rc.evidence
    assert "callback:slow" in rc.signatures, render_markdown(report)


def _crossed(sc, report, store) -> None:
    rc = report.root_cause
    assert "data:boundary_crossed" in rc.signatures and "past its" in rc.title, render_markdown(report)


def _leak(sc, report, store) -> None:
    rc = report.root_cause
    assert "process:count_growing" in rc.signatures and "never exit" in rc.title, render_markdown(report)


def _miscounted(sc, report, store) -> None:
    rc = report.root_cause
    assert "data:boundary_miscounted" in rc.signatures and "between two equal points in time" in rc.title, \
        render_markdown(report)
    assert rc.culprit.detail.endswith("given twice → 1"), rc.culprit


EXTRA = {"slow_callback": _slow, "boundary_crossed": _crossed, "process_leak": _leak,
         "boundary_miscounted": _miscounted}


#: apps whose fact is weak on its own: the report names the culprit as where to look first
SUSPECTS = [n for n in APPS.names if APPS.scenario(n).get("named_as") == "suspect"]


#: apps no fact explains: the recording's strongest lead is where to look first
LEADS = [n for n in APPS.names if APPS.scenario(n).get("named_as") == "lead"]


@pytest.mark.parametrize("name", [n for n in APPS.names if n not in SUSPECTS + LEADS])
async def test_the_buggy_app_names_its_culprit(name, tmp_path, kb_index_dir):
    await APPS.assert_named(name, tmp_path, kb_index_dir, extra=EXTRA[APPS.scenario(name)["fact"]])


@pytest.mark.parametrize("name", SUSPECTS)
async def test_the_buggy_app_names_its_culprit_as_the_suspect(name, tmp_path, kb_index_dir):
    """A ranking whose symptom states no number of the ordered field: the fact is weak (any list
    runs ascending by some field), so no verdict — but the report says where to look first."""
    sc, report, store, shown = await APPS.diagnose(name, tmp_path, kb_index_dir, fixed=False, max_rounds=1)
    try:
        assert shown is True, name
        assert report.verdict == "problems_found" and report.root_cause is None, render_markdown(report)
        s = report.suspect
        assert s.detector == sc["fact"] and s.weak, render_markdown(report)
        assert (s.culprit.module, s.culprit.function) == (sc["culprit"]["module"], sc["culprit"]["function"]), \
            render_markdown(report)
        assert "lowest first" in s.title and "data:order_inverted" in s.signatures, s.title
    finally:
        store.close()


@pytest.mark.parametrize("name", LEADS)
async def test_a_slow_symptom_no_fact_explains_leads_to_where_the_time_went(name, tmp_path, kb_index_dir):
    """No waiter timed out, no work was repeated with the same arguments: nothing is a fact. The
    symptom says slow, so the slowest call, followed down to where its time went, is the suspect
    (a lead, confidence 0.2) — not the trigger's own call, nor the server each round trip waited on."""
    sc, report, store, shown = await APPS.diagnose(name, tmp_path, kb_index_dir, fixed=False, max_rounds=1)
    try:
        assert shown is True, name
        assert report.verdict == "inconclusive" and report.root_cause is None, render_markdown(report)
        s = report.suspect
        assert s is not None and s.detector == "lead" and s.weak, render_markdown(report)
        assert (s.culprit.module, s.culprit.function) == (sc["culprit"]["module"], sc["culprit"]["function"]), \
            render_markdown(report)
        assert "where the slowest call's time went" in s.title, s.title
    finally:
        store.close()


@pytest.mark.parametrize("name", LEADS)
async def test_the_fast_twin_gives_no_lead(name, tmp_path, kb_index_dir):
    sc, report, store, shown = await APPS.diagnose(name, tmp_path, kb_index_dir, fixed=True)
    try:
        assert shown is False, name
        assert report.root_cause is None and (report.suspect is None or (
            report.suspect.culprit.module, report.suspect.culprit.function)
            != (sc["culprit"]["module"], sc["culprit"]["function"])), render_markdown(report)
    finally:
        store.close()


@pytest.mark.parametrize("name", [n for n in APPS.names if n not in LEADS])
async def test_the_fixed_twin_gives_no_confident_culprit(name, tmp_path, kb_index_dir):
    await APPS.assert_silent(name, tmp_path, kb_index_dir)


def test_a_list_beside_one_bound_counts_by_its_length():
    m = {Atom("limit"): 3, Atom("attendees"): ["a", "b", "c", "d"], Atom("code"): "X"}
    assert list(_fields(m)) == [("attendees", 4, 3, "limit")]
    # no bound (or two): a list is no quantity of its own
    assert list(_fields({Atom("attendees"): ["a"], Atom("code"): "X"})) == []
    assert list(_fields({Atom("limit"): 3, Atom("max_wait"): 9, Atom("attendees"): ["a"]})) == []


@pytest.mark.parametrize("text,way", [
    ("the exact match is not on the first page of the results", "asc"),
    ("irrelevant profiles at the top of the shortlist", "asc"),
    ("the closest match comes first in the results", "desc"),
    ("the cheapest flight is not first in the list", "desc"),
    ("the exact match is not what we wanted", None),          # no order spoken of
])
def test_relevance_and_a_denied_place_say_which_way_a_ranking_runs(text, way):
    assert order_seen(text) == way


@pytest.mark.parametrize("text,said", [
    ("the manifest now has more passengers than the aircraft has seats", True),
    ("the roster lists more attendees than there are places at the wheel", True),
    ("more guests than the hotel has rooms", True),
    ("more people than before use the app", False),
    ("we sold more tickets than last year", False),
])
def test_more_members_than_places_is_a_crossing(text, said):
    assert bool(CROSSING.search(text)) is said


@pytest.mark.parametrize("text,said", [
    ("the process count kept climbing, by roughly one process per ticket", True),
    ("the number of processes goes up with every car", True),
    ("processes keep piling up on the node", True),
    ("memory keeps growing", False),
    ("the process is slow to answer", False),
    ("each request spawns a worker", False),
])
def test_a_growing_process_count_is_recognised(text, said):
    assert bool(PROCESSES_GROW.search(text)) is said


@pytest.mark.parametrize("text,said", [
    ("returned the book on its due date and was fined", True),
    ("the parcel arrived on time but was flagged late", True),
    ("nurses who clock out exactly at the end of their shift get overtime", True),
    ("same-day bookings are charged a night", True),
    ("returned on the day after and was not fined", False),
    ("the report is late every time", False),
])
def test_a_case_on_its_boundary_is_recognised(text, said):
    assert bool(ON_BOUNDARY.search(text)) is said


def _date(y, m, d):
    return {Atom("__struct__"): Atom("Elixir.Date"), Atom("calendar"): Atom("Elixir.Calendar.ISO"),
            Atom("year"): y, Atom("month"): m, Atom("day"): d}


def test_points_in_time_are_the_argument_or_its_fields():
    due = _date(2026, 11, 30)
    loan = {Atom("__struct__"): Atom("Elixir.Loan"), Atom("due"): due, Atom("patron"): "P-1"}
    assert points_in_time(due) == [due] and points_in_time(loan) == [due]
    assert points_in_time("2026-11-30") == [] and points_in_time(30) == []
    assert shown(due) == "~D[2026-11-30]"
