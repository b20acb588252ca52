"""General weaknesses of the diagnosis left over from earlier sessions (tests/fixtures/left_apps):
variants of a message told apart by a map's or struct's tag field rather than a tuple's head — a
callback with clauses for some structs lets another fall into a catch-all that only logs it — are
named at the callback whose clauses miss the variant, or at the function that minted a tag its
consumer never handles; with no fact, one failing call of a function called once is a lead (where
to look first) rather than nothing; a retry that passes a new attempt counter or timestamp still asks
the same thing. Each app runs as a real node; its fixed twin gives no confident culprit.
The rules as pure functions are tested on real terms below."""

from __future__ import annotations

import pytest

from elixir_scope.agents.evidence.handled import same_request
from elixir_scope.agents.evidence.variants import _tags, tag_fields, unhandled_tags
from elixir_scope.agents.observations import _deepest, failure
from elixir_scope.agents.view import Call
from elixir_scope.instrument.etf import Atom
from support.dev_apps import DevApps

APPS = DevApps("left_apps")


@pytest.mark.parametrize("name", APPS.names)
async def test_the_true_culprit_is_named(name, tmp_path, kb_index_dir):
    await APPS.assert_named(name, tmp_path, kb_index_dir)


@pytest.mark.parametrize("name", APPS.names)
async def test_the_fixed_twin_gives_no_confident_culprit(name, tmp_path, kb_index_dir):
    await APPS.assert_silent(name, tmp_path, kb_index_dir)


# ---------------------------------------------------------------- variants told by a tag field
def _a(name: str) -> Atom:
    return Atom(name)


def _ev(tag, **fields) -> tuple:
    m = {_a("kind"): _a(tag) if isinstance(tag, str) else tag}
    m.update({_a(k): v for k, v in fields.items()})
    return (_a("event"), b"order-1", m)


def _struct(mod: str, **fields) -> tuple:
    m = {_a("__struct__"): _a("Elixir." + mod)}
    m.update({_a(k): v for k, v in fields.items()})
    return (_a("scan"), m)


def test_a_map_field_with_few_atom_values_is_a_tag_and_a_flag_is_not():
    tags = _tags(_ev("paid", amount=12, rush=_a("true"), channel=b"web"))
    assert tags[(2, ("k", "kind"))] == ":paid"
    assert tags[(2, ("k", "channel"))] == '"web"'
    assert (2, ("k", "rush")) not in tags and (2, ("k", "amount")) not in tags
    # a struct's kind is its module
    assert _tags(_struct("Parcels.Delivered", parcel=b"PX-1"))[(1, ("k", "__struct__"))] == "Parcels.Delivered"


def test_a_key_with_many_distinct_values_is_data_not_a_tag():
    many = [_tags(_ev("paid", ref=f"r{i}".encode())) for i in range(12)]
    assert (2, ("k", "ref")) not in tag_fields(many) and (2, ("k", "kind")) in tag_fields(many)


def test_the_variant_no_clause_acted_on_is_found():
    calls = [_ev("paid", amount=1), _ev("shipped", amount=2), _ev("refunded", amount=3), _ev("paid", amount=4)]
    acted = [True, True, False, True]
    found = unhandled_tags([_tags(c) for c in calls], acted)
    assert [(i, p) for i, p, _t in found] == [(2, (2, ("k", "kind")))]
    assert found[0][2] in (":paid", ":shipped")


def test_a_field_value_also_seen_acted_on_is_no_variant():
    # the message that did nothing shares its channel with one that was handled: the channel is
    # not why; the kind it alone carries is
    calls = [_ev("paid", channel=b"web"), _ev("paid", channel=b"shop"), _ev("voided", channel=b"web")]
    found = unhandled_tags([_tags(c) for c in calls], [True, True, False])
    assert [p for _i, p, _t in found] == [(2, ("k", "kind"))]
    # each of its tags acted on in another message: a message that changed nothing is no missing clause
    calls.append(_ev("voided", channel=b"shop"))
    assert unhandled_tags([_tags(c) for c in calls], [True, False, True, True]) == []


def test_structs_of_another_kind_are_variants_though_their_fields_differ():
    calls = [_struct("P.InTransit", depot=b"north"), _struct("P.Delivered", signed_by=b"J"),
             _struct("P.Returned", reason=_a("refused"))]
    found = unhandled_tags([_tags(c) for c in calls], [True, True, False])
    assert [(i, p) for i, p, _t in found] == [(2, (1, ("k", "__struct__")))]


def test_no_handled_twin_no_finding():
    # every message did nothing: nothing tells a handled variant from an unhandled one
    calls = [_ev("paid"), _ev("voided")]
    assert unhandled_tags([_tags(c) for c in calls], [False, False]) == []


def test_nested_tuple_tags_still_count():
    calls = [(_a("port"), (_a("data"), (_a("eol"), b"x"))), (_a("port"), (_a("data"), (_a("noeol"), b"y")))]
    found = unhandled_tags([_tags(c) for c in calls], [True, False])
    assert [(i, p, t) for i, p, t in found] == [(1, (1, 1), "eol")]


# ---------------------------------------------------------------- the fallback suspect
def _call(i: int, fun: str, value, depth: int, outcome: str = "return") -> Call:
    return Call(call_id=i, pid=1, module="Elixir.Shop.Cart", function=fun, arity=1, ts=i, args=[i],
                end_id=i + 100, end_ts=i + 1, outcome=outcome, value=value, depth=depth)


def _failed(c: Call) -> bool:
    return c.outcome == "return" and failure(c.value) is not None


def test_one_failing_call_of_a_function_called_once_is_a_lead_only_when_asked():
    calls = [_call(1, "checkout", (_a("error"), _a("no_stock")), 0), _call(2, "total", 12, 1)]
    assert _deepest(None, calls, _failed) is None          # the first pass wants two or more
    first, cs = _deepest(None, calls, _failed, least=1)
    assert first.function == "checkout" and len(cs) == 1


def test_one_failure_among_many_calls_of_a_function_is_no_lead():
    # a lookup that answered :error once in five calls is an ordinary miss, not where to look
    calls = [_call(i, "find", (_a("ok"), i) if i != 3 else _a("error"), 1) for i in range(5)]
    assert _deepest(None, calls, _failed, least=1) is None


def test_two_failing_functions_the_deeper_wins():
    calls = [_call(1, "checkout", (_a("error"), _a("x")), 0), _call(2, "reserve", (_a("error"), _a("x")), 2),
             _call(3, "reserve", (_a("error"), _a("x")), 2)]
    first, cs = _deepest(None, calls, _failed)
    assert first.function == "reserve" and len(cs) == 2


# ---------------------------------------------------------------- a retry with an attempt counter
def test_a_retry_may_change_a_counter_or_a_timestamp_but_not_what_it_asks():
    ask = [b"acct-17", (_a("attempt"), 1), {_a("at"): 1_765_000_000_123}]
    again = [b"acct-17", (_a("attempt"), 2), {_a("at"): 1_765_000_000_480}]
    assert same_request(ask, again) and same_request(ask, list(ask))
    assert not same_request(ask, [b"acct-18", (_a("attempt"), 2), {_a("at"): 1_765_000_000_480}])
    assert not same_request(ask, [b"acct-17", (_a("try"), 2), {_a("at"): 1}])        # another atom
    assert not same_request(ask, [b"acct-17", (_a("attempt"), 2)])                    # another shape
    # numbers only: the next item of a loop, not a retry
    assert not same_request([1], [2]) and same_request([7], [7])
