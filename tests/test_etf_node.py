"""Exact round trips through real nodes.

1. Property: a Python value sent to the node and returned unchanged (``erlang:hd([X])``) is
   equal to itself; and the node's own ``term_to_binary(X)`` decodes to the same value.
2. Terms *made on the node* (maps, bignums, bitstrings, funs, exports, improper lists, new
   pids/refs/ports, latin-1 and unicode atoms, compressed terms) decode to what we expect,
   on OTP 25 and on OTP 28.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from support.nodes import start_node
from test_dist_helpers import eval_erl

from elixir_scope.instrument.dist import Node
from elixir_scope.instrument.etf import (
    Atom,
    BitBinary,
    Charlist,
    Export,
    Fun,
    ImproperList,
    Pid,
    Port,
    Ref,
    decode,
    encode,
)

NODE = Atom("x@somewhere")

# true/false decode to bool (the documented mapping), so Atom("true") is not generated
atoms = st.text(min_size=0, max_size=20).filter(lambda s: s not in ("true", "false")).map(Atom)
scalars = st.one_of(
    atoms,
    st.booleans(),
    st.integers(min_value=-(2**300), max_value=2**300),
    st.integers(min_value=-300, max_value=300),
    st.floats(allow_nan=False, allow_infinity=False),
    st.binary(max_size=40),
    st.builds(BitBinary, st.binary(min_size=1, max_size=8), st.integers(1, 7)),
    st.builds(Pid, st.just(NODE), st.integers(0, 2**15 - 1), st.integers(0, 2**13 - 1), st.integers(1, 2**32 - 1)),
    st.builds(Ref, st.just(NODE), st.integers(1, 2**32 - 1),
              st.tuples(st.integers(0, 2**18 - 1), st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1))),
    st.builds(Port, st.just(NODE), st.integers(0, 2**32 - 1), st.integers(1, 2**32 - 1)),
    st.builds(Export, atoms, atoms, st.integers(0, 255)),
)
keys = st.one_of(atoms, st.integers(-1000, 1000), st.binary(max_size=8), st.tuples(atoms, st.integers(0, 9)))


def containers(children):
    return st.one_of(
        st.lists(children, max_size=6),
        st.lists(children, max_size=6).map(tuple),
        st.dictionaries(keys, children, max_size=5),
        st.lists(st.integers(0, 255), max_size=10),  # becomes STRING_EXT
        st.builds(ImproperList, st.lists(children, min_size=1, max_size=4), scalars),
    )


terms = st.recursive(scalars, containers, max_leaves=25)


@pytest.fixture(scope="module", params=["erl", "otp28"])
def target(request):
    node = start_node(request.param)
    yield node
    node.stop()


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=terms)
async def test_python_value_survives_the_node(target, value):
    async with Node() as node:
        conn = await node.connect(target.name, cookie=target.cookie)
        assert await conn.rpc("erlang", "hd", [[value]]) == value
        raw = await conn.rpc("erlang", "term_to_binary", [value])
        assert decode(raw) == value
        # and the node agrees our encoding is the same term as its own
        assert await conn.rpc("erlang", "binary_to_term", [encode(value)]) == value


@settings(max_examples=60, deadline=None)
@given(value=terms)
def test_local_round_trip(value):
    assert decode(encode(value)) == value


# -- terms made on the node --------------------------------------------------------------------
CASES = [
    ("#{a => 1, <<\"k\">> => [1,2], {t} => #{}}.", {Atom("a"): 1, b"k": [1, 2], (Atom("t"),): {}}),
    ("1 bsl 100.", 2**100),
    ("-(1 bsl 3000).", -(2**3000)),
    ("<<1:1, 0:2>>.", BitBinary(b"\x80", 3)),
    ("<<255, 7:3>>.", BitBinary(b"\xff\xe0", 3)),
    ("[a, b | c].", ImproperList([Atom("a"), Atom("b")], Atom("c"))),
    ("\"abc\".", Charlist.from_text("abc")),
    ("[1000, 2000].", [1000, 2000]),
    ("{}.", ()),
    ("list_to_tuple(lists:seq(1, 300)).", tuple(range(1, 301))),
    ("3.25.", 3.25),
    ("fun erlang:self/0.", Export(Atom("erlang"), Atom("self"), 0)),
    ("'ü'.", Atom("ü")),
    ("list_to_atom([16#1F600]).", Atom("\U0001F600")),
    ("[true, false, undefined, nil].", [True, False, Atom("undefined"), Atom("nil")]),
    ("<<\"héllo\"/utf8>>.", "héllo".encode()),
    ("#{[1] => a}.", None),  # checked separately: list key
]


@pytest.fixture(scope="module", params=["erl", "otp28"])
def any_target(request):
    node = start_node(request.param)
    yield node
    node.stop()


async def term_from_node(conn, expr: str, opts: str = "[]"):
    raw = await eval_erl(conn, f"term_to_binary(begin {expr[:-1]} end, {opts}).")
    return decode(raw)


@pytest.mark.parametrize("expr,expected", [c for c in CASES if c[1] is not None], ids=[c[0] for c in CASES if c[1] is not None])
async def test_node_made_terms(any_target, expr, expected):
    async with Node() as node:
        conn = await node.connect(any_target.name, cookie=any_target.cookie)
        assert await term_from_node(conn, expr) == expected
        # and the distribution encoding of the same term (a reply) agrees
        assert await eval_erl(conn, expr) == expected


async def test_node_made_identities(any_target):
    async with Node() as node:
        conn = await node.connect(any_target.name, cookie=any_target.cookie)
        pid, ref, port = await term_from_node(conn, "{self(), make_ref(), hd(erlang:ports())}.")
        assert isinstance(pid, Pid) and isinstance(ref, Ref) and isinstance(port, Port)
        assert pid.node == ref.node == port.node == Atom(any_target.name)
        assert len(ref.ids) >= 3
        fun = await term_from_node(conn, "fun(X) -> X + 1 end.")
        assert isinstance(fun, Fun) and fun.arity == 1 and fun.module == Atom("erl_eval")
        # a fun goes back byte for byte, and the node can still call it
        assert await conn.rpc("erlang", "apply", [fun, [41]]) == 42
        m = await term_from_node(conn, "#{[1] => a}.")
        ((key, value),) = m.items()
        assert list(key) == [1] and value == Atom("a")
        assert await conn.rpc("erlang", "binary_to_term", [encode(m)]) == m


async def test_compressed_and_latin1(any_target):
    async with Node() as node:
        conn = await node.connect(any_target.name, cookie=any_target.cookie)
        big = await term_from_node(conn, "lists:duplicate(500, {hello, <<\"world\">>}).", "[compressed]")
        assert big == [(Atom("hello"), b"world")] * 500
        raw = await eval_erl(conn, "term_to_binary(lists:duplicate(500, x), [compressed]).")
        assert raw[1] == 80  # really compressed
        # minor_version 0 writes latin-1 atoms (ATOM_EXT) on both releases
        assert await term_from_node(conn, "'ü'.", "[{minor_version, 0}]") == Atom("ü")
