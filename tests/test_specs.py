"""Trace spec compiler: table-driven (input string -> expected term or error), and every
compiled match spec validated by the BEAM itself (erlang:match_spec_test/3)."""

from __future__ import annotations

import pytest
from elixir_scope.instrument.dist import Node
from elixir_scope.instrument.etf import Atom, Charlist, ImproperList
from elixir_scope.instrument.specs import DangerousSpecError, SpecError, compile_spec

A = Atom
W = A("_")
RET = [(A("exception_trace"),)]
V1, V2 = A("$1"), A("$2")

# input -> (mfa, match_spec)
VALID = [
    ("MyApp.Cart.add/2", ((A("Elixir.MyApp.Cart"), A("add"), 2), [(W, [], [])])),
    ("MyApp.Cart", ((A("Elixir.MyApp.Cart"), W, W), [(W, [], [])])),
    ("MyApp.Cart.add", ((A("Elixir.MyApp.Cart"), A("add"), W), [(W, [], [])])),
    ("MyApp.Cart.add/2 :: return", ((A("Elixir.MyApp.Cart"), A("add"), 2), [(W, [], RET)])),
    ("MyApp.Cart.add(item, price) when price > 100 :: return",
     ((A("Elixir.MyApp.Cart"), A("add"), 2), [([V1, V2], [(A(">"), V2, 100)], RET)])),
    (":ets.insert(:my_table, _)", ((A("ets"), A("insert"), 2), [([A("my_table"), W], [], [])])),
    ("M.f(x, x)", ((A("Elixir.M"), A("f"), 2), [([V1, V1], [], [])])),
    ("M.f({:ok, v}, \"text\", nil)", ((A("Elixir.M"), A("f"), 3),
                                      [([(A("ok"), V1), b"text", A("nil")], [], [])])),
    ("M.f(%{user: u}) when is_binary(u) and byte_size(u) > 3",
     ((A("Elixir.M"), A("f"), 1),
      [([{A("user"): V1}], [(A("andalso"), (A("is_binary"), V1), (A(">"), (A("byte_size"), V1), 3))], [])])),
    ("M.f(x) when x in [1, :a]", ((A("Elixir.M"), A("f"), 1),
                                  [([V1], [(A("orelse"), (A("=:="), V1, 1), (A("=:="), V1, A("a")))], [])])),
    ("M.f(t) when elem(t, 0) == :ok", ((A("Elixir.M"), A("f"), 1),
                                       [([V1], [(A("=="), (A("element"), 1, V1), A("ok"))], [])])),
    ("M.f(x) when x != {1, 2}", ((A("Elixir.M"), A("f"), 1),
                                 [([V1], [(A("/="), V1, (A("const"), (1, 2)))], [])])),
    ("M.f(x) when not is_nil(x) and -x < 0", ((A("Elixir.M"), A("f"), 1),
        [([V1], [(A("andalso"), (A("not"), (A("=:="), V1, A("nil"))), (A("<"), (A("-"), V1), 0))], [])])),
    # an Elixir alias in a pattern or a guard is the module atom it stands for
    ("Registry.dispatch(MyApp.Bus, _, _)", ((A("Elixir.Registry"), A("dispatch"), 3),
                                            [([A("Elixir.MyApp.Bus"), W, W], [], [])])),
    ("GenServer.call(name, _, _) when name == MyApp.Cart", ((A("Elixir.GenServer"), A("call"), 3),
        [([V1, W, W], [(A("=="), V1, A("Elixir.MyApp.Cart"))], [])])),
    ("cart:add/2", ((A("cart"), A("add"), 2), [(W, [], [])])),
    ("cart", ((A("cart"), W, W), [(W, [], [])])),
    ("cart:add(X, Y) when Y > 100 -> return",
     ((A("cart"), A("add"), 2), [([V1, V2], [(A(">"), V2, 100)], RET)])),
    ("cart:add(X, _) when X > 1, X < 5; X == 9",
     ((A("cart"), A("add"), 2),
      [([V1, W], [(A("orelse"), (A("andalso"), (A(">"), V1, 1), (A("<"), V1, 5)), (A("=="), V1, 9))], [])])),
    ("cart:add([H|T], #{a := 1})", ((A("cart"), A("add"), 2),
                                     [([ImproperList([V1], V2), {A("a"): 1}], [], [])])),
    ("cart:f(\"ab\", <<\"cd\">>, 'Q')", ((A("cart"), A("f"), 3),
                                        [([Charlist([97, 98]), b"cd", A("Q")], [], [])])),
    ("'Elixir.Foo':bar/1", ((A("Elixir.Foo"), A("bar"), 1), [(W, [], [])])),
    ("lists:seq(A, B) when B - A > 10 -> return",
     ((A("lists"), A("seq"), 2), [([V1, V2], [(A(">"), (A("-"), V2, V1), 10)], RET)])),
]

# input -> (error type, fragment of the message, position or None)
INVALID = [
    ("", SpecError, "empty trace spec", 0),
    ("Foo.bar(x", SpecError, "expected ')'", 9),
    ("Foo.bar/x", SpecError, "expected an arity", 8),
    ("MyApp.Cart.add(x) when y > 1", SpecError, "'y' is not bound", None),
    ("Foo.bar(x) when foo(x)", SpecError, "foo/1 is not allowed in a guard", None),
    ("cart:add(X) :: return", SpecError, "after '->'", 12),
    ("Foo.bar(x) :: stack", SpecError, "unknown action 'stack'", 14),
    ("Foo.bar/1 when x > 1", SpecError, "needs an argument list", 10),
    ("Foo.bar(x) when x =< 1", SpecError, "not a elixir comparison", 18),
    ("Foo.bar(x) $", SpecError, "unexpected character", 11),
    ("Foo.bar(x) when _ > 1", SpecError, "'_' cannot be used in a guard", None),
]

DANGEROUS = [
    ("_", "everything"),
    ("'_'", "everything"),
    (":ets.insert/2", "hot_module"),
    ("lists", "hot_module"),
    ("Enum.map/2", "hot_module"),
    ("gen_server:call(P, M)", "hot_module"),
    (":elixir_scope_agent", "agent"),
    ("elixir_scope_agent:loop/1", "agent"),
]


@pytest.mark.parametrize("text,expected", VALID, ids=[v[0] for v in VALID])
def test_valid_specs_compile_to_expected_terms(text, expected):
    spec = compile_spec(text)
    assert (spec.mfa, spec.match_spec) == expected
    assert spec.pattern()[2] == [A("local")]


@pytest.mark.parametrize("text,etype,fragment,pos", INVALID, ids=[v[0] or "empty" for v in INVALID])
def test_invalid_specs_fail_with_position_and_hint(text, etype, fragment, pos):
    with pytest.raises(etype) as ei:
        compile_spec(text)
    assert fragment in str(ei.value)
    if pos is not None:
        assert ei.value.pos == pos
    assert ei.value.hint or ei.value.message


@pytest.mark.parametrize("text,code", DANGEROUS, ids=[d[0] for d in DANGEROUS])
def test_dangerous_specs_are_refused_with_a_named_error(text, code):
    with pytest.raises(DangerousSpecError) as ei:
        compile_spec(text)
    assert ei.value.code == code
    if code == "agent":
        with pytest.raises(DangerousSpecError):
            compile_spec(text, force=True)  # never, even forced
    else:
        assert compile_spec(text, force=True).module


def test_restricted_hot_module_is_allowed():
    assert compile_spec(":ets.insert(:my_table, _)").function == "insert"
    assert compile_spec("lists:seq(A, B) when B > 100").function == "seq"


def test_syntax_can_be_forced():
    with pytest.raises(SpecError):
        compile_spec("MyApp.Cart.add/2", syntax="erlang")
    with pytest.raises(SpecError):
        compile_spec("nope", syntax="klingon")


# -- the BEAM validates every compiled match spec -------------------------------------------
CALL_SAMPLES = {
    "MyApp.Cart.add(item, price) when price > 100 :: return": ([b"x", 150], True),
    "cart:add(X, Y) when Y > 100 -> return": ([1, 50], False),
    "M.f(%{user: u}) when is_binary(u) and byte_size(u) > 3": ([{A("user"): b"alice"}], True),
    "M.f(x) when x in [1, :a]": ([A("a")], True),
    "M.f(t) when elem(t, 0) == :ok": ([(A("ok"), 1)], True),
    "M.f(x) when x != {1, 2}": ([(1, 2)], False),
    "cart:add(X, _) when X > 1, X < 5; X == 9": ([9, 0], True),
    "cart:add([H|T], #{a := 1})": ([[1, 2], {A("a"): 1}], True),
    "M.f(x, x)": ([3, 4], False),
}


@pytest.fixture(scope="module")
def erl_for_specs(erl_node_module):
    return erl_node_module


@pytest.mark.parametrize("text", [v[0] for v in VALID])
async def test_beam_accepts_every_compiled_match_spec(erl_for_specs, text):
    spec = compile_spec(text, force=True)
    async with Node() as node:
        conn = await node.connect(erl_for_specs.name, cookie=erl_for_specs.cookie)
        args, matches = CALL_SAMPLES.get(text, ([1, 2], None))
        res = await conn.rpc("erlang", "match_spec_test", [args, spec.match_spec, A("trace")])
        assert isinstance(res, tuple) and res[0] == A("ok"), res
        assert res[3] == [], f"warnings from the BEAM: {res[3]}"
        if matches is not None:
            assert (res[1] is not False) == matches, (text, args, res)


def test_a_leading_elixir_in_an_alias_is_the_prefix_not_part_of_the_name():
    from elixir_scope.instrument.specs import compile_spec

    assert compile_spec("Elixir.MyApp.Cart.add/2").module == compile_spec("MyApp.Cart.add/2").module == "Elixir.MyApp.Cart"
