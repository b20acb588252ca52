"""Terms written as Elixir source evaluate back to the exact same term on a real Elixir node.

The check runs on the node: ``Code.eval_string("(SOURCE) === expected", expected: term)``,
with the original term sent over distribution (ETF), so "same" is Erlang's ``=:=`` — not
Python equality, which would confuse ``1`` with ``true`` or ``1`` with ``1.0``.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parent))

from support.nodes import start_node  # noqa: E402

from elixir_scope.instrument.dist import Node  # noqa: E402
from elixir_scope.instrument.elixir_literal import Literal, LiteralError, render  # noqa: E402
from elixir_scope.instrument.etf import Atom, BitBinary, Charlist, Export, ImproperList  # noqa: E402



@pytest.fixture(scope="module")
def elixir_node():
    node = start_node("elixir")
    yield node
    node.stop()


class Evaluator:
    """One connection on a private event loop (hypothesis drives a sync test body)."""

    def __init__(self, node):
        self.loop = asyncio.new_event_loop()
        self.node = Node()
        self.conn = self.loop.run_until_complete(self.node.connect(node.name, cookie=node.cookie))

    def eval(self, source: str, **binding):
        value, _ = self.loop.run_until_complete(
            self.conn.rpc("Elixir.Code", "eval_string",
                          [source.encode(), [(Atom(k), v) for k, v in binding.items()]], timeout=20))
        return value

    def same(self, term) -> bool:
        src = render(term)
        ok = self.eval(f"({src}) === expected", expected=term)
        assert ok is True, f"{src!r} does not evaluate to {term!r}"
        return ok

    def close(self):
        self.loop.run_until_complete(self.node.close())
        self.loop.close()


@pytest.fixture(scope="module")
def ev(elixir_node):
    e = Evaluator(elixir_node)
    yield e
    e.close()


atoms = st.one_of(
    st.sampled_from(["ok", "error", "nil", "true", "false", "when", "foo?", "bar!", "a@b", "_", "Elixir.Foo.Bar",
                     "Elixir.Foo", "Elixir.foo", "Foo", "with space", "é", "+", "->", "", "Elixir.", "a\"b", "#{x}"]),
    st.text(max_size=12),
).map(Atom)
scalars = st.one_of(
    atoms,
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.binary(max_size=12),
    st.text(max_size=12).map(lambda s: s.encode()),
    st.builds(lambda d, b: BitBinary(d, b), st.binary(min_size=1, max_size=3), st.integers(1, 7)),
    st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), min_size=1, max_size=8).map(Charlist.from_text),
    st.builds(lambda m, f, a: Export(Atom(m), Atom(f), a), st.sampled_from(["lists", "Elixir.Enum"]),
              st.sampled_from(["map", "reverse", "+", "is_nil"]), st.integers(0, 3)),
)
hashable = st.one_of(atoms, st.integers(-5, 5), st.text(max_size=4).map(lambda s: s.encode()))


def containers(children):
    return st.one_of(
        st.lists(children, max_size=4).map(tuple),
        st.lists(children, max_size=4),
        st.dictionaries(hashable, children, max_size=4),
        st.lists(st.tuples(atoms, children), max_size=3),  # keyword-shaped lists
        st.builds(lambda items, tail: ImproperList(items, tail), st.lists(children, min_size=1, max_size=3),
                  st.one_of(st.integers(), atoms)),
    )


terms = st.recursive(scalars, containers, max_leaves=20)


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(term=terms)
def test_rendered_terms_evaluate_to_the_same_term(ev, term):
    ev.same(term)


@pytest.mark.parametrize("term", [
    {Atom("users"): {1: {Atom("email"): Atom("nil"), Atom("name"): b"Bob"}}, Atom("version"): 1},
    [(Atom("a"), 1), (Atom("with space"), 2)],
    {b"k": [1, 2], Atom("x"): {}},
    1.0e16, -0.0, 1.5e-7, 123456789.125,
    b"line\nnext \"q\" #{x} \\", b"\xff\x00",
    Charlist.from_text("abc"), [1, 2, 3], [],
    (Atom("update_profile"), 2, {Atom("email"): Atom("nil")}),
])
def test_examples_round_trip(ev, term):
    ev.same(term)


def test_structs_are_written_with_their_module(ev, elixir_node):
    struct = {Atom("__struct__"): Atom("Elixir.Range"), Atom("first"): 1, Atom("last"): 3, Atom("step"): 1}
    src = Literal().render(struct)
    assert src.startswith("%Range{")
    assert ev.eval(f"({src}) === expected", expected=struct) is True
    as_map = Literal(structs=False).render(struct)
    assert as_map.startswith("%{__struct__: Range")
    assert ev.eval(f"({as_map}) === expected", expected=struct) is True


def test_pids_refs_and_funs_become_bound_stand_ins(ev):
    pid, ref, fun = ev.eval("{self(), make_ref(), fn x, y -> x + y end}")
    lit = Literal()
    src = lit.render({Atom("owner"): pid, Atom("monitors"): {ref: pid}, Atom("cb"): fun})
    names = [b.name for b in lit.bindings]
    assert names == ["pid_1", "ref_1", "fun_1"] or sorted(names) == ["fun_1", "pid_1", "ref_1"]
    assert src.count("pid_1") == 2  # one pid, one variable
    code = "\n".join(b.line for b in lit.bindings) + f"\nt = {src}\n" + (
        "is_pid(t.owner) and is_reference(hd(Map.keys(t.monitors))) and is_function(t.cb, 2) "
        "and t.monitors[hd(Map.keys(t.monitors))] == t.owner")
    assert ev.eval(code) is True
    with pytest.raises(LiteralError, match="no literal"):
        render(pid)


def test_truncated_terms_are_refused():
    with pytest.raises(LiteralError, match=r"truncated .* at \{1\}\.users"):
        render((1, {Atom("users"): Atom("$truncated")}))
    with pytest.raises(LiteralError, match="max_term_bytes"):
        render([(Atom("$truncated"), Atom("map"), 12345)])


def test_redacted_values_are_counted():
    lit = Literal()
    assert lit.render({Atom("password"): Atom("[REDACTED]")}) == '%{password: :"[REDACTED]"}'
    assert lit.redacted == 1


def test_agent_truncated_maps_are_refused():
    with pytest.raises(LiteralError, match="entries dropped"):
        render({Atom("a"): 1, Atom("$truncated"): 4})
