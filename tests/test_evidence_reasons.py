"""Reading exit and exception reasons (agents/evidence/reasons.py), table-driven: the terms
are decoded from the ETF a real node writes, and the symptom claims the ranking reads."""

from __future__ import annotations

import pytest

from elixir_scope.agents.evidence import reasons as R
from elixir_scope.agents.hypotheses import claims
from elixir_scope.instrument.etf import Atom, Pid, decode, encode

A = Atom
PID = Pid(A("app@host"), 120, 0, 1)
FRAME_ETS = (A("ets"), A("lookup"), [A("price_book"), b"tea"], [(A("error_info"), {})])
FRAME_APP = (A("Elixir.PriceBook.Table"), A("price"), 1, [(A("file"), list(b"lib/t.ex")), (A("line"), 43)])
FRAME_FUN = (A("Elixir.Shop.Cart"), A("-handle_call/3-fun-0-"), 2, [(A("line"), 9)])


def rt(term):
    return decode(encode(term))


@pytest.mark.parametrize("reason, tokens", [
    (A("function_clause"), ["exception:function_clause"]),
    ((A("badmatch"), [b"x"]), ["exception:badmatch"]),
    ((A("badkey"), A("email")), ["exception:key_error"]),
    ({A("__struct__"): A("Elixir.KeyError"), A("key"): A("email")}, ["exception:key_error"]),
    ({A("__struct__"): A("Elixir.ArithmeticError"), A("message"): b"bad"}, ["exception:badarith"]),
    ((A("badarg"), [FRAME_ETS, FRAME_APP]), ["exception:badarg", "exception:badarg:ets"]),
    ((A("case_clause"), 3), ["exception:case_clause"]),
    (A("undef"), ["exception:undef"]),
    ((A("bad_return_value"), A("ok")), ["exception:bad_return"]),
    (A("some_reason"), []),
])
def test_error_tokens(reason, tokens):
    assert R.error_tokens(rt(reason)) == tokens


@pytest.mark.parametrize("reason, why, api", [
    ((A("timeout"), (A("Elixir.GenServer"), A("call"), [A("Elixir.Shop.Stock"), A("count"), 5000])), "timeout", "GenServer.call"),
    ((A("noproc"), (A("Elixir.GenServer"), A("call"), [PID, A("count"), 5000])), "noproc", "GenServer.call"),
    ((A("calling_self"), (A("gen_server"), A("call"), [A("me"), A("x"), 5000])), "calling_self", "gen_server.call"),
    ((A("timeout"), (A("Elixir.Task"), A("await"), [{A("ref"): 1}, 5000])), "timeout", "Task.await"),
    ((A("exit"), (A("noproc"), (A("Elixir.GenServer"), A("call"), [A("x"), A("y"), 5000]))), "noproc", "GenServer.call"),
    (((A("badarg"), [FRAME_ETS]), (A("Elixir.GenServer"), A("call"), [A("Elixir.PriceBook.Quotes"), A("q"), 1000])),
     "crashed", "GenServer.call"),
])
def test_gen_call_failures(reason, why, api):
    gc = R.gen_call(rt(reason))
    assert gc is not None and (gc.why, gc.api) == (why, api)


def test_not_a_gen_call():
    assert R.gen_call(rt((A("badarg"), [FRAME_ETS]))) is None
    assert R.gen_call(rt(A("normal"))) is None


def test_app_frame_and_offending_value():
    reason = rt((A("badarg"), [(A("erlang"), A("binary_to_integer"), [b"500ms"], []), FRAME_APP]))
    frame, value = R.app_frame(reason)
    assert (frame.module, frame.function, frame.line) == ("Elixir.PriceBook.Table", "price/1", 43)
    assert value == b"500ms"
    assert R.app_frame(rt(A("killed"))) == (None, A("killed"))


def test_generated_names_belong_to_their_function():
    assert R.source_function("-handle_call/3-fun-0-", 2) == "handle_call/3"
    assert R.source_function("-parse/1-lc$^0/1-0-", 1) == "parse/1"
    assert R.source_function("handle_info", 2) == "handle_info/2"
    frames = R.stack_frames(rt((A("function_clause"), [FRAME_FUN])))
    assert frames[0].function == "handle_call/3"


@pytest.mark.parametrize("reason, normal", [
    (A("normal"), True), (A("shutdown"), True), ((A("shutdown"), A("closed")), True),
    (A("killed"), False), ((A("badarg"), []), False),
])
def test_normal_exits(reason, normal):
    assert R.is_normal(rt(reason)) is normal


@pytest.mark.parametrize("symptom, expected", [
    ("imports say 10 rows but only 7 show up; there are no errors in the logs", {"quiet"}),
    ("notifications stopped going out and never came back", {"never"}),
    ("checkout hangs and times out after 5 seconds", {"slow"}),
    ("the node's memory keeps climbing for hours", {"gradual"}),
    ("the poller crashes over and over", {"crash"}),
    ("all logged-in users are logged out at the same moment", {"cascade"}),
    ("CPU is busy all the time", {"busy", "cpu"}),
    ("one core is pegged at 100%", {"cpu"}),
    ("the page view counter ends lower than the number of requests", {"wrong"}),
    ("every blip freezes the board, each freeze longer than the one before", {"escalating"}),
    ("since the outage the retry delay keeps getting longer", {"escalating"}),
])
def test_symptom_claims(symptom, expected):
    assert expected <= set(claims(symptom))


def test_a_busy_shop_is_not_a_busy_machine():
    assert "cpu" not in claims("during the outage our support chat was busy")


def test_an_ordinary_slow_symptom_is_not_escalating():
    assert "escalating" not in claims("checkout is slow and takes longer than five seconds")
