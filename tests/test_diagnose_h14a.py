"""Confident wrong answers on apps written outside the project, second set (tests/fixtures/h14a_apps):
a line the user quotes that a function only printed from a record it was given is named where the
record was made, not at the printer; a start refused because the reproduction's earlier run had
started that very instance is weak even when several instances (each with a name of its own) were
refused. Each app runs as a real node; its fixed twin gives no confident culprit. The rules as pure
functions are tested on real terms below."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from elixir_scope.agents.evidence.rendered import rendered_from, rendered_record, tokens
from elixir_scope.agents.evidence.stated import StatedValue
from elixir_scope.agents.evidence.supervision import _one_instance_per_holder
from elixir_scope.agents.view import Call
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
