"""Confident wrong answers on apps written outside the project, first set (tests/fixtures/h13a_apps):
a call answered with nothing (a gen_statem clause that keeps its state with no reply action) is
named where the reply was forgotten, not at the reproduction whose wrapper calls all went through
one helper; a row removed under a key of another type than it was written with (an id kept as the
request's text while the row is keyed by the converted id) is named where the two forms parted; a
figure a conversion factor away from the one the symptom compares it with is named at the
function whose results, each its argument times one constant, make it up; timers armed again
while one is pending are named at the callback that re-armed through a helper (a reconfigure),
not at the helper nor the tick re-armed on its own fire; a check that only passed on what a
helper answered is not where an item was refused; a crash raised below the traced frames
(a private helper of another module) is named where the exit's stack trace puts the raise, not at
the callback it unwound through. Each app runs as a real node; its fixed twin gives no confident
culprit. The rules as pure functions are tested on real terms below."""

from __future__ import annotations

import pytest

from elixir_scope.agents.evidence import reasons as R
from elixir_scope.agents.evidence.failures import _deepen
from elixir_scope.agents.evidence.keytypes import parted
from elixir_scope.agents.evidence.scaled import off_by, scaling
from elixir_scope.agents.evidence.stated import stated_values
from elixir_scope.agents.evidence.valuematch import digest, occurs
from elixir_scope.agents.findings import Culprit, Finding
from elixir_scope.agents.report import render_markdown
from elixir_scope.instrument.etf import Atom
from support.dev_apps import DevApps

APPS = DevApps("h13a_apps")


def _locker_codes(sc, report, store) -> None:
    # the reproduction's four kiosk requests all went through one private helper: not four steps
    # of one kind, so no partial failure names the reproduction
    assert not [f for f in report.findings if f.detector == "partial_failure_kept"], render_markdown(report)


def _dock_labels(sc, report, store) -> None:
    # the callback the crash unwound through is no unhandled message: the helper's clause failed
    first = [f for f in report.findings if f.detector == "exception" and "handle_" in f.title]
    assert first and all("callback:unhandled_message" not in f.signatures for f in first), \
        [(f.title, f.signatures) for f in first]
    assert all(f.culprit.function == "slot_text/1" for f in first), [f.culprit for f in first]


def _price_refresh(sc, report, store) -> None:
    # the reconfigure added the chains, not the tick that re-arms on its own fire nor the helper
    leak = [f for f in report.findings if f.detector == "timer_rearmed" and ":refresh" in f.title]
    assert leak and "set_interval" in (leak[0].culprit.detail or ""), [(f.title, f.culprit) for f in leak]


EXTRA = {"locker_codes": _locker_codes, "dock_labels": _dock_labels, "price_refresh": _price_refresh}


@pytest.mark.parametrize("name", APPS.names)
async def test_the_true_culprit_is_named(name, tmp_path, kb_index_dir):
    await APPS.assert_named(name, tmp_path, kb_index_dir, extra=EXTRA.get(name))


@pytest.mark.parametrize("name", APPS.names)
async def test_the_fixed_twin_gives_no_confident_culprit(name, tmp_path, kb_index_dir):
    await APPS.assert_silent(name, tmp_path, kb_index_dir)


# ---------------------------------------------------------------- a raise below the traced frames
def _frame(mod: str, fun: str, args_or_arity, line: int):
    return (Atom(mod), Atom(fun), args_or_arity, [(Atom("file"), list(b"a.ex")), (Atom("line"), line)])


STACK = (Atom("function_clause"), [
    _frame("Elixir.Shelf.Tag", "bin_text", [Atom("nil")], 9),
    _frame("Elixir.Shelf.Tag", "render", 1, 4),
    _frame("Elixir.Shelf.Worker", "run", 1, 30),
    _frame("Elixir.Shelf.Worker", "handle_info", 2, 22),
    _frame("gen_server", "try_dispatch", 4, 1123),
])


def _exception(module: str, function: str) -> Finding:
    return Finding(detector="exception", title=f"{module}.{function} raised :function_clause", summary="s",
                   confidence=0.75, culprit=Culprit(module=module, function=function, process="w"),
                   signatures=["exception:error", "exception:function_clause", "callback:unhandled_message"])


@pytest.mark.parametrize("traced, named, unhandled", [
    # the innermost traced frame is further down the stack trace: the raise was in its top frame
    (("Shelf.Worker", "handle_info/2"), ("Shelf.Tag", "bin_text/1"), False),
    (("Shelf.Tag", "render/1"), ("Shelf.Tag", "bin_text/1"), False),
    # already the top frame: nothing changes
    (("Shelf.Tag", "bin_text/1"), ("Shelf.Tag", "bin_text/1"), True),
    # a function the stack trace does not hold (another incident): left alone
    (("Shelf.Other", "handle_info/2"), ("Shelf.Other", "handle_info/2"), True),
])
def test_a_raise_below_the_traced_frames_is_named_at_the_stack_trace_s_top_frame(traced, named, unhandled):
    f = _exception(*traced)
    frame, value = R.app_frame(STACK)
    _deepen(f, STACK, frame, value)
    assert (f.culprit.module, f.culprit.function) == named
    assert ("callback:unhandled_message" in f.signatures) is unhandled
    if named != traced:
        assert f.culprit.detail == "nil"


# ---------------------------------------------------------------- a duration is no number of things
@pytest.mark.parametrize("symptom, term, found", [
    ("the seats stay grey for ten minutes", [b"A%d" % i for i in range(10)], False),
    ("the job waits 12 seconds", list(range(12)), False),
    ("the job waits 12 seconds", 12, True),             # the number the program holds
    ("only ten seats come back", [b"A%d" % i for i in range(10)], True),
    ("12 reminders went out", list(range(12)), True),
])
def test_a_duration_is_matched_as_a_number_never_as_a_list_s_length(symptom, term, found):
    (v,) = stated_values(symptom)
    assert occurs(v, digest(term)) is found, v


# ---------------------------------------------------------------- a key removed in another type
@pytest.mark.parametrize("written, removed, pairs", [
    ((2041, b"A1"), (b"2041", b"A1"), [(2041, b"2041")]),
    ((Atom("harbor"), 4), (b"harbor", 4), [(Atom("harbor"), b"harbor")]),
    (b"K-7", list(b"K-7"), [(b"K-7", list(b"K-7"))]),             # a binary and a charlist
    ((2041, b"A1"), (2041, b"A1"), []),                             # the very key
    ((2041, b"A1"), (2042, b"A1"), []),                             # another key
    ((2041, b"A1"), (b"2041", b"A2"), []),                          # another seat too: not the same key
    ((Atom("a"), 1), (Atom("a"), 1.0), []),                         # a float is a number, not a type slip here
])
def test_a_removal_key_equal_but_for_an_element_s_type_is_parted(written, removed, pairs):
    assert parted(written, removed) == pairs


# ---------------------------------------------------------------- a figure off by a conversion factor
@pytest.mark.parametrize("symptom, pairs", [
    # shown first, then what it is compared with (both read as shown: the first came out)
    ("the statement shows 123.6 kWh, but the display went up by only 12.36 kWh", [("123.6", "12.36", 10)]),
    ("the manifest lists 412.5 kg, though its parcels weigh 41.25 kg together", [("412.5", "41.25", 10)]),
    ("the bill is EUR 1250.00, it should be EUR 125.00", [("1250.00", "125.00", 10)]),
    ("the run took 4.5 s where the log says 4500 s", [("4.5", "4500", 1000)]),
    ("the invoice shows 7.5 hours where it should be 450 minutes", []),   # two units: not compared
    ("the stock shows 120 kg while 118 kg were delivered", []),           # no conversion factor apart
    ("the report shows 30 kg and 30 kg", []),
])
def test_two_stated_figures_a_conversion_factor_apart(symptom, pairs):
    got = [(a.text, b.text, int(f)) for a, b, f in off_by(stated_values(symptom))]
    assert got == pairs


class _C:
    def __init__(self, x, y):
        self.args, self.value = [x], y


@pytest.mark.parametrize("calls, factor", [
    ([(515, 5.15), (480, 4.8), (1000, 10.0)], "0.01"),
    ([(12000, 120.0), (9750, 97.5)], "0.01"),
    ([(3, 180), (2, 120)], "60"),
    ([(515, 5.15)], None),                      # one call proves no constant
    ([(515, 5.15), (480, 4.7)], None),          # not one constant
    ([(5, 5), (7, 7)], None),                   # the identity converts nothing
    ([(b"5", 5), (b"7", 7)], None),             # a parse, not a scaling
])
def test_a_scaling_is_one_constant_over_every_call(calls, factor):
    got = scaling([_C(x, y) for x, y in calls])
    assert (None if got is None else f"{got.normalize():f}") == factor
