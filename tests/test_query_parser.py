"""Parser of the query language: table-driven, text → syntax tree or error (position + fix)."""

from __future__ import annotations

import pytest

from elixir_scope.store.query import QuerySyntaxError, parse
from elixir_scope.store.query.nodes import (
    AbsenceSource, And, Compare, CountStage, EventsSource, LimitStage, Not, Or, PAtom, PBin,
    PList, PMap, PNum, PPid, PTuple, PWild, PathIndex, PathKey, RateStage, SequenceSource,
    SortStage, StatsStage,
)


def step(text):
    q = parse(text)
    assert isinstance(q.source, EventsSource)
    return q.source.step


# --------------------------------------------------------------------------- targets

@pytest.mark.parametrize("text, module, prefix, function, arity", [
    ("calls MyApp.Cart.add/2", "Elixir.MyApp.Cart", False, "add", 2),
    ("calls MyApp.Cart.add", "Elixir.MyApp.Cart", False, "add", None),
    ("calls MyApp.Cart", "Elixir.MyApp.Cart", False, None, None),
    ("calls MyApp.Repo.*", "Elixir.MyApp.Repo", True, None, None),
    ("calls MyApp.Cart.*/2", "Elixir.MyApp.Cart", False, None, 2),
    ("calls :ets.lookup/2", "ets", False, "lookup", 2),
    ("calls in MyApp.Cart.valid?/1", "Elixir.MyApp.Cart", False, "valid?", 1),
    ("exceptions in MyApp.Cart", "Elixir.MyApp.Cart", False, None, None),
    ("calls *", None, False, None, None),
])
def test_targets(text, module, prefix, function, arity):
    t = step(text).target
    assert (t.module, t.module_prefix, t.function, t.arity) == (module, prefix, function, arity)
    assert text[t.start:t.end].endswith(text.split()[-1])


@pytest.mark.parametrize("text, kinds", [
    ("calls", ("call",)), ("call", ("call",)), ("events", ()), ("exceptions", ("exception",)),
    ("sends", ("send",)), ("receives", ("receive",)), ("dead_sends", ("send_dead",)),
    ("states", ("state",)), ("state", ("state",)), ("messages", ("send", "send_dead", "receive")),
    ("spawned", ("spawned",)), ("gaps", ("gap",)), ("marks", ("mark",)), ("exits", ("exit",)),
])
def test_kind_words(text, kinds):
    assert step(text).kinds == kinds


# --------------------------------------------------------------------------- conditions and terms

@pytest.mark.parametrize("text, expected", [
    ("calls where arg[1] > 100", Compare(field=None, op=">", value=PNum(100))),
    ("returns where return = {:error, _}", Compare(None, "=", PTuple((PAtom("error"), PWild())))),
    ("receives where message ~ :timeout", Compare(None, "~", PAtom("timeout"))),
    ("states where state.count >= 10", Compare(None, ">=", PNum(10))),
    ("calls where args = [1, \"x\" | _]", Compare(None, "=", PList((PNum(1), PBin(b"x")), PWild()))),
    ("calls where arg[0] = %{status: :failed}", Compare(None, "=", PMap(((PAtom("status"), PAtom("failed")),)))),
    ("calls where arg[0] = %{\"k\" => nil}", Compare(None, "=", PMap(((PBin(b"k"), PAtom("nil")),)))),
    ("calls where arg[0] = %MyApp.User{name: _}", Compare(None, "=", PMap((
        (PAtom("__struct__"), PAtom("Elixir.MyApp.User")), (PAtom("name"), PWild()))))),
    ("calls where arg[0] = -3.5", Compare(None, "=", PNum(-3.5))),
    ("calls where arg[0] = 'ab'", Compare(None, "=", PList((PNum(97), PNum(98))))),
    ("calls where arg[0] = <0.12.0>", Compare(None, "=", PPid("<0.12.0>"))),
    ("calls where arg[0] = :\"with space\"", Compare(None, "=", PAtom("with space"))),
    ("calls where arg[0] == true", Compare(None, "=", PAtom("true"))),
    ("calls where arg[0] =~ \"sub\"", Compare(None, "~", PBin(b"sub"))),
    ("calls where arg[0] = MyApp.Cart", Compare(None, "=", PAtom("Elixir.MyApp.Cart"))),
    ("calls where arity in [1, 2]", Compare(None, "in", (PNum(1), PNum(2)))),
    ("calls where function = add", Compare(None, "=", PAtom("add"))),
    ("calls where module = MyApp.Repo.*", Compare(None, "=", PAtom("Elixir.MyApp.Repo.*"))),
    ("calls where duration > 1.5s", Compare(None, ">", PNum(1_500_000_000))),
    ("events where time < 250 ms", Compare(None, "<", PNum(250_000_000))),
    ("calls where arg[0] = 1_000", Compare(None, "=", PNum(1000))),
])
def test_comparisons(text, expected):
    c = step(text).cond
    assert isinstance(c, Compare)
    assert (c.op, c.value) == (expected.op, expected.value)


def test_paths_and_positions():
    text = "states where state.items[0][\"k\"] = 1"
    c = step(text).cond
    assert c.field.name == "state"
    assert c.field.path == (PathKey(PAtom("items")), PathIndex(0), PathKey(PBin(b"k")))
    assert text[c.field.start:c.field.end] == 'state.items[0]["k"]'
    c = step("calls where arg[2].id = 1").cond
    assert c.field.name == "args" and c.field.path == (PathIndex(2), PathKey(PAtom("id")))


def test_boolean_precedence():
    c = step("calls where arg[0] = 1 or arg[0] = 2 and not arg[1] = 3").cond
    assert isinstance(c, Or) and isinstance(c.right, And) and isinstance(c.right.right, Not)
    c = step("calls where (arg[0] = 1 or arg[0] = 2) and arg[1] = 3").cond
    assert isinstance(c, And) and isinstance(c.left, Or)


def test_clauses_window_node_process():
    q = parse("calls MyApp.Cart.add/2 of MyApp.Cart where arg[1] > 100 on app@host, \"b@h-1.x\" last 30s")
    s = q.source.step
    assert s.process.name == "Elixir.MyApp.Cart"
    assert q.nodes == ("app@host", "b@h-1.x")
    assert q.window.last_ns == 30_000_000_000
    q = parse("events of <0.12.0> from 2s to 3500ms")
    assert q.source.step.process.pid == "<0.12.0>"
    assert (q.window.start.offset_ns, q.window.end.offset_ns) == (2_000_000_000, 3_500_000_000)
    q = parse('events from "2026-11-21T20:00:00Z"')
    assert q.window.start.wall_ns == 1_795_291_200_000_000_000
    q = parse("calls where arg[0] = 1 where arg[1] = 2")  # two wheres are ANDed
    assert isinstance(q.source.step.cond, And)


# --------------------------------------------------------------------------- sources

def test_sequences():
    q = parse("sequence call MyApp.Cart.add where arg[1] > 5 then exception within 500ms same process")
    src = q.source
    assert isinstance(src, SequenceSource)
    assert [s.kinds for s in src.steps] == [("call",), ("exception",)]
    assert src.steps[0].cond is not None and src.within_ns == 500_000_000 and src.scope == "process"
    q = parse("sequence state then send then exception same node within 1s on a@b")
    assert len(q.source.steps) == 3 and q.source.scope == "node" and q.nodes == ("a@b",)


@pytest.mark.parametrize("text, mode, within", [
    ("calls without return", "return", None),
    ("calls MyApp.Repo.all without return within 5s", "return", 5_000_000_000),
    ("sends never received", "receive", None),
    ("sends without receive within 100ms", "receive", 100_000_000),
    ("calls MyApp.Cart.checkout without send within 1s same process", "generic", 1_000_000_000),
])
def test_absences(text, mode, within):
    src = parse(text).source
    assert isinstance(src, AbsenceSource)
    assert (src.mode, src.within_ns) == (mode, within)


# --------------------------------------------------------------------------- stages

def test_stages():
    q = parse("exceptions in MyApp.Cart | count by function")
    assert q.stages == (CountStage(("function",), q.stages[0].start),)
    q = parse("calls MyApp.Repo.* | stats p50(duration), p99(duration), count by function, node")
    st = q.stages[0]
    assert isinstance(st, StatsStage) and [a.name for a in st.aggs] == ["p50(duration)", "p99(duration)", "count"]
    assert st.by == ("function", "node")
    q = parse("calls | rate per min by process | sort rate desc | limit 5")
    assert isinstance(q.stages[0], RateStage) and q.stages[0].per_ns == 60_000_000_000
    assert q.stages[1] == SortStage("rate", True, q.stages[1].start, q.stages[1].end)
    assert isinstance(q.stages[2], LimitStage) and q.stages[2].count == 5
    q = parse("calls limit 3")
    assert q.stages[0].count == 3
    q = parse("calls # a comment\n | count")
    assert isinstance(q.stages[0], CountStage)


# --------------------------------------------------------------------------- errors

@pytest.mark.parametrize("text, at, message, suggestion", [
    ("calls where fucntion = add", "fucntion", "unknown field 'fucntion'", "did you mean 'function'?"),
    ("sequence call X then exception within 500", "500", "expected a time limit like 500ms",
     "500ms"),
    ("calls last soon", "soon", "expected a window length like 500ms", "500ms"),
    ("cals MyApp", "cals", "unknown event kind 'cals'", "did you mean 'calls'?"),
    ("calls | cuont", "cuont", "unknown stage 'cuont'", "did you mean 'count'?"),
    ("calls | stats p99(time)", "time", "p99() takes 'duration'", "p99(duration)"),
    ("calls | stats median(duration)", "median", "unknown aggregate", "did you mean 'p50'?"),
    ("calls | count by fuction", "fuction", "cannot group by", "did you mean 'function'?"),
    ("calls where arg[1] > ok", "ok", "'ok' is not a value", ":ok"),
    ("calls where arg = 1", "=", "'arg' needs an index", "arg[0]"),
    ("calls where return = {:error, _", "", "expected '}' to close a tuple", "add '}'"),
    ("calls where arg[0] > {:a, _}", "arg[0] > {:a, _}", "cannot order against a pattern with _", None),
    ('calls where arg[0] = "open', '"open', "unterminated string", 'close it with "'),
    ("calls where arg[0] = 5xs", "xs", "unknown duration unit 'xs'", "ms"),
    ("calls where msg ~ :x", "msg", "unknown field 'msg'", "did you mean 'message'?"),
    ("calls ets: lookup", "ets", "Erlang-style module 'ets:'", ":ets.function/arity"),
    ("calls where arg[0] = 1 && arg[1] = 2", "&", "unexpected character '&'", "write 'and'"),
    ("calls where module > X", "module > X", "'module' cannot be ordered", None),
    ("", "", "the query is empty", "calls MyApp.Cart.add/2"),
    ("sequence call X", "", "a sequence needs at least two steps", "then"),
    ("sends MyApp.Cart.add", "MyApp.Cart.add", "a function target does not apply to sends", "of MyApp.Server"),
    ("calls where message ~ :x", "message", "calls have no field 'message'", "sends"),
    ("exceptions where duration > 1s", "duration", "'duration' is known for calls", None),
    ("calls | count | count", "count", "only one of count / rate / stats", None),
    ("calls | sort size", "size", "cannot sort events by 'size'", None),
    ("calls where kind = cal", "kind = cal", "unknown kind 'cal'", "did you mean 'call'?"),
    ("calls never received", "never", "'never received' applies to sends", "sends never received"),
    ("calls of MyApp.*", "MyApp.*", "a process name cannot be a wildcard", None),
    ("calls where arg[0] = 1 then", "then", "unexpected word 'then'", None),
    ("calls without return where arg[0] = 1", "return where arg[0] = 1",
     "the return of this pattern cannot be narrowed", "before 'without'"),
])
def test_errors(text, at, message, suggestion):
    with pytest.raises(QuerySyntaxError) as info:
        q = parse(text)
        # plan-time checks (fields on the wrong kind …) need the store-free validator
        from elixir_scope.store.query.compile import validate_step
        src = q.source
        steps = src.steps if isinstance(src, SequenceSource) else [src.step]
        for s in steps:
            validate_step(s, text)
    err = info.value
    assert message in err.message, str(err)
    if suggestion is not None:
        assert suggestion in (err.suggestion or ""), str(err)
    # the caret points at the offending text
    expected_pos = text.rfind(at) if at else len(text)
    if at and text.count(at) > 1 and "where" in text:
        expected_pos = text.find(at, text.find("where") if "where" in text else 0)
    assert err.position == expected_pos, str(err)
    assert "^" in err.excerpt and f"column {err.column}" in str(err)


def test_error_excerpt_multiline():
    with pytest.raises(QuerySyntaxError) as info:
        parse("calls MyApp.Cart\n  where fucntion = add")
    err = info.value
    assert (err.line, err.column) == (2, 9)
    assert err.excerpt.splitlines() == ["    where fucntion = add", "          ^^^^^^^^"]


@pytest.mark.parametrize("text, module, function, arity", [
    ("calls rabbit_channel:handle_cast/2", "rabbit_channel", "handle_cast", 2),
    ("calls ets:lookup", "ets", "lookup", None),
    ("calls gen_server:call/* where arg[1] = :ping", "gen_server", "call", None),
])
def test_erlang_style_targets(text, module, function, arity):
    """Recordings print MFAs as Erlang does for Erlang nodes; queries accept that form too."""
    target = parse(text).source.step.target
    assert (target.module, target.function, target.arity) == (module, function, arity)
