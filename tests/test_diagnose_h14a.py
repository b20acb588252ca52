"""Confident wrong answers on apps written outside the project, second set (tests/fixtures/h14a_apps):
a line the user quotes that a function only printed from a record it was given is named where the
record was made, not at the printer; leaked OTP workers that ended their own work with
``{:noreply, state}`` are named at that callback, not at their start function; a start refused
because the reproduction's earlier run had started that very instance is weak even when several
instances (each with a name of its own) were refused; a lookup that missed a key its store holds under another spelling is named where the
key was stored, not at the caller that crashed on the miss; an ordering pitfall over a field whose
recorded values term order orders rightly cannot bite; a slow loop whose step's return was lost to
dropped events is named at the loop, not the step. Each app runs as a real node; its fixed twin gives no confident culprit. The rules as pure
functions are tested on real terms below."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from elixir_scope.agents.detectors.process_leak import finished_work
from elixir_scope.agents.detectors.slow_callback import _loop_step_across_gap
from elixir_scope.agents.evidence.pitfalls import _other_type
from elixir_scope.agents.evidence.respelled import spelled_key
from elixir_scope.agents.evidence.rendered import rendered_from, rendered_record, tokens
from elixir_scope.agents.evidence.stated import StatedValue
from elixir_scope.agents.evidence.supervision import _one_instance_per_holder
from elixir_scope.agents.evidence.waits import _stuck_frame
from elixir_scope.agents.view import Call, Gap
from elixir_scope.knowledge.source.pitfalls import PitfallHit
from elixir_scope.instrument.etf import Atom
from elixir_scope.instrument.etf.terms import Pid
from support.dev_apps import DevApps

APPS = DevApps("h14a_apps")


@pytest.mark.parametrize("name", APPS.names)
async def test_the_true_culprit_is_named(name, tmp_path, kb_index_dir):
    await APPS.assert_named(name, tmp_path, kb_index_dir)


@pytest.mark.parametrize("name", APPS.names)
async def test_the_fixed_twin_gives_no_confident_culprit(name, tmp_path, kb_index_dir):
    await APPS.assert_silent(name, tmp_path, kb_index_dir)


# ---------------------------------------------------------------- a text printed from a record
ITEM, COUNT, UNIT, LINES = Atom("item"), Atom("count"), Atom("unit"), Atom("lines")


def _text(s: str) -> StatedValue:
    return StatedValue(text=s, kind="text", role="seen")


def _call(cid, fun, args, value, ts, parent=None, mod="Elixir.Shop.Sheet"):
    return Call(call_id=cid, pid=1, module=mod, function=fun, arity=len(args), ts=ts, args=args,
                end_ts=ts + 1, outcome="return", value=value, parent=parent)


@pytest.mark.parametrize("record, text, printed", [
    ({ITEM: b"cable ties", COUNT: 3, UNIT: Atom("pack")}, "3 pack cable ties", True),
    ({ITEM: b"cable ties", COUNT: 3, UNIT: b"packs"}, "3 packs of cable ties", True),   # "of": the format's glue
    ({ITEM: b"cable ties", COUNT: 3000, UNIT: Atom("g")}, "3 kg cable ties", False),    # converted when printed
    ({ITEM: b"cable ties", COUNT: 3, UNIT: Atom("pack")}, "4 pack cable ties", False),  # another number
    ({ITEM: b"cable ties", COUNT: 3, UNIT: Atom("pack")}, "cable ties", False),         # no number to follow
    ({ITEM: b"bolts", COUNT: 3, UNIT: Atom("pack")}, "3 of the big red ones", False),   # mostly other words
])
def test_a_text_is_printed_from_a_record_only_when_its_numbers_and_most_words_are_its_fields(record, text, printed):
    c = _call(1, "line", [record], text.encode(), 10)
    assert (rendered_from(c, _text(text)) == record) is printed


def test_the_record_is_followed_to_the_innermost_call_that_made_it():
    bad = {ITEM: b"cable ties", COUNT: 0, UNIT: Atom("pack")}
    given = {ITEM: b"cable ties", COUNT: 7, UNIT: Atom("pack")}
    outer = _call(1, "scale", [{LINES: [given]}, 2], {LINES: [bad]}, 1)
    inner = _call(2, "scale_line", [given, 8, 2], bad, 2, parent=outer, mod="Elixir.Shop.Scale")
    passer = _call(3, "keep", [bad], bad, 3)                                 # got it whole: passed it on
    printer = _call(4, "line", [bad], b"0 pack cable ties", 4)
    later = _call(5, "again", [given], bad, 5, mod="Elixir.Shop.Scale")     # after the print: not its maker
    got = rendered_record(printer, _text("0 pack cable ties"), [outer, inner, passer, printer, later])
    assert got is not None and got[0] is inner
    # a maker whose arguments were cut proves nothing
    assert rendered_record(printer, _text("0 pack cable ties"), [outer, inner],
                           cut=lambda c: True) is None


def test_tokens_are_words_and_numbers():
    assert tokens("0 g fresh yeast") == ["0", "g", "fresh", "yeast"]
    assert tokens("2.5 kg – Müller's") == ["2.5", "kg", "Müller", "s"]


# ---------------------------------------------------------------- a name taken by an earlier run
def _pid(n):
    return Pid(Atom("a@h"), n, 0, 1)


def _start(cid, arg, value):
    return Call(call_id=cid, pid=9, module="Elixir.Ward.Bed", function="start_link", arity=1, ts=cid,
                args=[arg], end_ts=cid + 1, outcome="return", value=value)


def _taken(pid):
    return (Atom("error"), (Atom("already_started"), _pid(pid)))


@pytest.mark.parametrize("calls, one_each", [
    # two instances, each refused by a holder of its own: each asked for again
    ([_start(1, b"P-1", _taken(10)), _start(2, b"P-2", _taken(11))], True),
    ([_start(1, b"P-1", _taken(10)), _start(2, b"P-1", _taken(10))], True),
    # two instances refused by one holder: they share one name
    ([_start(1, b"P-1", _taken(10)), _start(2, b"P-2", _taken(10))], False),
    # the holder got the name in the recording with other arguments
    ([_start(1, b"P-1", (Atom("ok"), _pid(10))), _start(2, b"P-2", _taken(10))], False),
    # another instance started under a name of its own: no sharing
    ([_start(1, b"P-3", (Atom("ok"), _pid(12))), _start(2, b"P-1", _taken(10))], True),
])
def test_a_name_refused_to_one_instance_per_holder(calls, one_each):
    refused = [c for c in calls if c.value[0] == Atom("error")]
    assert _one_instance_per_holder(SimpleNamespace(calls=calls), refused) is one_each


# ---------------------------------------------------------------- an ordering pitfall on integers
def _hit(pitfall: str, code: str) -> PitfallHit:
    return PitfallHit(pitfall=pitfall, family="collections", title="t", module="Shift.Rules", function="gap/2",
                      file="r.ex", line=3, code=code, detail="d", ran_in=("Shift.Rules.gap/2",))


DUE, AT, VSN = Atom("due_at"), Atom("at"), Atom("vsn")
DATE = {Atom("__struct__"): Atom("Elixir.Date"), Atom("year"): 2026, Atom("month"): 1, Atom("day"): 9}


@pytest.mark.parametrize("pitfall, code, args, harmless", [
    # minutes as integers: term order is time order
    ("date_structs_term_order", "Enum.sort_by(& &1.due_at)", [[{DUE: 300}, {DUE: 20}]], True),
    ("date_structs_term_order", "Enum.max_by(list, fn s -> s.at end)", [{AT: 5}, [{AT: 7}]], True),
    # Date structs: the pitfall bites
    ("date_structs_term_order", "Enum.sort_by(& &1.due_at)", [[{DUE: DATE}, {DUE: 20}]], False),
    # a nil among them, or no value of the field recorded: nothing is known
    ("date_structs_term_order", "Enum.sort_by(& &1.due_at)", [[{DUE: Atom("nil")}, {DUE: 20}]], False),
    ("date_structs_term_order", "Enum.sort_by(& &1.due_at)", [[{AT: 20}]], False),
    # versions as text bite, as tuples they do not
    ("version_strings_compared", "Enum.max_by(& &1.vsn)", [[{VSN: b"2.10.0"}]], False),
    ("version_strings_compared", "Enum.max_by(& &1.vsn)", [[{VSN: (2, 10, 0)}]], True),
])
def test_an_ordering_pitfall_cannot_bite_a_field_of_another_type(pitfall, code, args, harmless):
    c = Call(call_id=1, pid=1, module="Elixir.Shift.Rules", function="gap", arity=2, ts=1, args=args,
             end_ts=2, outcome="return", value=[])
    assert (_other_type(_hit(pitfall, code), [c]) is not None) is harmless


# ---------------------------------------------------------------- a loop's step is not where time went
def _open(cid, fun, ts, parent=None, end=None):
    return Call(call_id=cid, pid=1, module="Elixir.Shift.Rules", function=fun, arity=1, ts=ts, args=[],
                end_ts=end, outcome="return" if end is not None else None, value=None, parent=parent)


def _view(calls, gaps=()):
    by_pid = {}
    for c in calls:
        by_pid.setdefault(c.pid, []).append(c)
    return SimpleNamespace(calls=calls, calls_by_pid=by_pid, gaps=list(gaps))


def test_a_step_started_late_while_its_function_kept_returning_is_not_the_stuck_frame():
    cb = _open(1, "handle_call", 0)
    loop = _open(2, "check_all", 1, cb)
    done = [_open(3 + i, "check", 10 + i * 10, loop, end=15 + i * 10) for i in range(5)]
    step = _open(9, "check", 95, loop)
    assert _stuck_frame(_view([cb, loop, *done, step]), [cb, loop, step], 100) is loop
    # a step stuck since early in the wait (the fifth fetch hangs): it is where the process waits
    stuck = _open(10, "check", 20, loop)
    assert _stuck_frame(_view([cb, loop, done[0], stuck]), [cb, loop, stuck], 100) is stuck
    # a function never seen returning: stuck there, however late it started
    hang = _open(11, "await_reply", 95, loop)
    assert _stuck_frame(_view([cb, loop, *done, hang]), [cb, loop, hang], 100) is hang


def test_a_loop_step_spanning_dropped_events_measures_no_one_call():
    loop = _open(1, "check_all", 0)
    steps = [_open(2, "check", 1, loop, end=90), _open(3, "check", 91, loop, end=92)]
    assert _loop_step_across_gap(_view([loop, *steps], [Gap(ts=50, count=900, reason="rate")]), steps[0], steps, 100)
    assert not _loop_step_across_gap(_view([loop, *steps]), steps[0], steps, 100)             # nothing dropped
    assert not _loop_step_across_gap(_view([loop, steps[0]], [Gap(ts=50, count=9, reason="rate")]),
                                     steps[0], steps[:1], 100)                                  # called once


# ---------------------------------------------------------------- a key stored under another spelling
@pytest.mark.parametrize("state, asked, key", [
    # one key stored as typed among canonical keys
    ({b"north gate": 1, b"Harbour  Rd": 2}, "Harbour Rd", b"Harbour  Rd"),
    ({Atom("rows"): {b"a@x.org": 1, b"B@X.org": 2}, Atom("n"): 2}, "b@x.org ", b"B@X.org"),   # one level down
    # the canonical key is there: the lookup would have found it
    ({b"north gate": 1, b"harbour rd": 2, b"Harbour Rd": 3}, "Harbour Rd", None),
    # no other key to show the canonical form is the rule
    ({b"Harbour Rd": 2}, "harbour rd", None),
    # other keys stored as typed too: the store keeps spellings, no single writer skipped a step
    ({b"North Gate": 1, b"Harbour Rd": 2}, "harbour rd", None),
    # another text altogether
    ({b"north gate": 1, b"Harbor Rd": 2}, "Harbour Rd", None),
])
def test_a_key_spelled_apart_from_every_canonical_key_of_its_store(state, asked, key):
    assert spelled_key(state, asked) == key


# ---------------------------------------------------------------- a worker that did its work and idles
NOREPLY = Atom("noreply")


def _cb(cid, pid, fun, arg, value, ts):
    return Call(call_id=cid, pid=pid, module="Elixir.Sync.Worker", function=fun, arity=2, ts=ts, args=[arg, {}],
                end_ts=ts + 1, outcome="return", value=value)


def _leak_view(calls, messages=()):
    by_pid = {}
    for c in calls:
        by_pid.setdefault(c.pid, []).append(c)
    return SimpleNamespace(calls=calls, calls_by_pid=by_pid, messages=list(messages))


@pytest.mark.parametrize("last, messages, named", [
    # its own continue, {:noreply, state}: the work was done and it waits for nothing
    (lambda p: _cb(p * 10, p, "handle_continue", Atom("run"), (NOREPLY, {}), p * 10), [], True),
    (lambda p: _cb(p * 10, p, "handle_info", Atom("run"), (NOREPLY, {}), p * 10), [], True),
    # a message another process sent: it serves others
    (lambda p: _cb(p * 10, p, "handle_info", Atom("run"), (NOREPLY, {}), p * 10),
     [SimpleNamespace(sender=99, receiver=p, msg=Atom("run"), send_ts=1, receive_ts=1) for p in (1, 2, 3)], False),
    # a timeout in the result: it wakes up again
    (lambda p: _cb(p * 10, p, "handle_continue", Atom("run"), (NOREPLY, {}, 5000), p * 10), [], False),
    # a call answered: someone asked it, it is theirs to stop
    (lambda p: _cb(p * 10, p, "handle_call", Atom("run"), (Atom("reply"), 1, {}), p * 10), [], False),
])
def test_a_leaked_worker_that_finished_its_own_work_is_named_at_that_callback(last, messages, named):
    calls, alive = [], []
    for p in (1, 2, 3):
        calls += [Call(call_id=p, pid=p, module="Elixir.Sync.Worker", function="init", arity=1, ts=p, args=[1],
                       end_ts=p + 1, outcome="return", value=(Atom("ok"), {})), last(p)]
        alive.append(SimpleNamespace(child=p))
    got = finished_work(_leak_view(calls, messages), alive)
    assert (got is not None and got.call_id == 10) is named
