"""Trace specs that try to be clever: literal `:_` / `:"$1"` atoms must match literally
(checked by the node's own `erlang:match_spec_test/3` on OTP 25 and the OTP 28 runtime),
always-true guards must not get a hot module past the safety rule, and parser blow-ups end
as `SpecError`. The CLI offers `--force` where the refusal suggests it."""

from __future__ import annotations

import json

import pytest

from support.nodes import start_node

from elixir_scope.cli import main
from elixir_scope.instrument.dist import Node
from elixir_scope.instrument.etf import Atom
from elixir_scope.instrument.specs import DangerousSpecError, SpecError, compile_spec


@pytest.fixture(scope="module", params=["erl", "otp28"])
def target(request):
    node = start_node(request.param)
    yield node
    node.stop()


async def _matches(conn, spec: str, args: list) -> bool:
    ms = compile_spec(spec).match_spec
    ok, result, _flags, _warnings = await conn.rpc("erlang", "match_spec_test", [args, ms, Atom("trace")])
    assert ok == Atom("ok"), result
    return result is True


@pytest.mark.parametrize("spec,hit,miss", [
    ("MyApp.f(:_, x)", [Atom("_"), 1], [Atom("other"), 1]),
    ('MyApp.f(:"$1")', [Atom("$1")], [Atom("anything")]),
    ('MyApp.f({:_, :"$_"})', [(Atom("_"), Atom("$_"))], [(Atom("a"), Atom("b"))]),
    ("my_mod:f('$$', X) when X =:= '_'", [Atom("$$"), Atom("_")], [Atom("$$"), Atom("x")]),
    ("MyApp.f(x) when x in [:_, :\"$2\"]", [Atom("$2")], [Atom("zzz")]),
    ("MyApp.f(x, x)", [1, 1], [1, 2]),
])
async def test_literal_match_spec_atoms_match_literally_on_the_node(target, spec, hit, miss):
    async with Node() as node:
        conn = await node.connect(target.name, cookie=target.cookie)
        assert await _matches(conn, spec, hit)
        assert not await _matches(conn, spec, miss)


@pytest.mark.parametrize("spec", [
    "Enum.map(a, b) when true", "Enum.map(a, b) when 1 == 1", "Enum.map(a, b) when a == a",
    "Enum.map(a, b) when is_list(a) or true", "Enum.map(a, b) when not false",
    "lists:map(F, L) when true", "lists:map(F, L) when F =:= F orelse L > 1",
    "ets:insert(T, O) when is_atom(a)",
])
def test_always_true_guards_do_not_bypass_the_hot_module_rule(spec):
    with pytest.raises(DangerousSpecError, match="--force"):
        compile_spec(spec)
    assert compile_spec(spec, force=True).module


@pytest.mark.parametrize("spec", [
    "Enum.map(a, b) when is_list(a)", "Enum.map(a, a)", "ets:insert(T, O) when T =:= my_table",
    "Enum.map(a, b) when is_list(a) and true",
])
def test_guards_that_read_an_argument_restrict(spec):
    compile_spec(spec)


@pytest.mark.parametrize("text", [
    "MyApp.f(" + "{" * 3000 + ")", "MyApp.f(" + "[" * 3000, "MyApp.f(x) when " + "not " * 3000 + "x",
    "MyApp.f(" + "9" * 5000 + ")", "x" * 10_000, "MyApp.f(%{:_ => 1})", "MyApp.f(1.0e999)",
])
def test_parser_blowups_are_spec_errors(text):
    with pytest.raises(SpecError):
        compile_spec(text)


def test_cli_record_force(capsys, tmp_path):
    node = start_node("erl")
    try:
        argv = ["--node", node.name, "--cookie", node.cookie, "--store", str(tmp_path / "f.db")]
        assert main(["record", "lists:seq/2", *argv]) != 0
        err = capsys.readouterr().err
        assert "flood" in err and "--force" in err
        code = main(["record", "lists:seq/2", "--force", "--max-seconds", "1", "--max-events", "20",
                     *argv, "--json"])
        out = capsys.readouterr()
        assert code == 0, out.err
        assert json.loads(out.out)["end_reason"] in ("max_seconds", "max_events")
    finally:
        node.stop()
