"""Turn a parsed spec into a trace pattern with a real match spec, and refuse dangerous ones.

A match spec is Python data ``[(head, guards, body)]`` with ``Atom('$1')`` variables, ready for
``instrument.etf.encode`` and ``erlang:trace_pattern/3`` on the target. Safety rules, as in
recon_trace: no pattern over every module; never the agent itself; no hot stdlib module with
wildcard arguments (every process calls them all the time) unless ``force=True``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..etf import Atom
from .errors import DangerousSpecError, SpecError
from .parser import ParsedSpec, parse

AGENT_MODULE = "elixir_scope_agent"

# Modules nearly every process calls constantly: tracing them unrestricted floods the node.
HOT_MODULES = frozenset({
    "erlang", "lists", "maps", "io", "io_lib", "gen", "gen_server", "gen_statem", "gen_event",
    "proc_lib", "ets", "string", "binary", "unicode", "sys", "code", "application", "supervisor",
    "timer", "erl_eval", "re", "dict", "sets", "orddict", "queue", "file", "prim_file",
    "logger", "Elixir.Enum", "Elixir.Map", "Elixir.List", "Elixir.Kernel", "Elixir.String",
    "Elixir.Keyword", "Elixir.GenServer", "Elixir.Access", "Elixir.Stream", "Elixir.IO",
    "Elixir.Logger", "Elixir.Agent", "Elixir.Process", "Elixir.Task",
})

_GUARD_FUNS = {
    "is_atom", "is_binary", "is_bitstring", "is_boolean", "is_float", "is_function", "is_integer",
    "is_list", "is_map", "is_map_key", "is_number", "is_pid", "is_port", "is_reference",
    "is_tuple", "abs", "element", "hd", "tl", "length", "map_get", "map_size", "node", "round",
    "self", "size", "bit_size", "byte_size", "trunc", "tuple_size", "float", "binary_part",
}
_ELIXIR_ONLY = {"elem", "is_nil"}
_ARITH = {"+": "+", "-": "-", "*": "*", "/": "/", "div": "div", "rem": "rem"}

_UNDERSCORE = Atom("_")


@dataclass(frozen=True)
class TraceSpec:
    """One compiled trace spec: what ``trace_pattern`` needs, plus where it came from."""

    source: str
    syntax: str
    module: str
    function: str | None
    arity: int | None
    match_spec: list
    returns: bool

    @property
    def mfa(self) -> tuple:
        return (Atom(self.module),
                Atom(self.function) if self.function is not None else _UNDERSCORE,
                self.arity if self.arity is not None else _UNDERSCORE)

    def pattern(self) -> tuple:
        """``({M, F, A}, MatchSpec, [local])`` as the agent's ``patterns`` config expects."""
        return (self.mfa, self.match_spec, [Atom("local")])


class _Vars:
    def __init__(self) -> None:
        self.names: dict[str, Atom] = {}

    def bind(self, name: str) -> Atom:
        if name not in self.names:
            self.names[name] = Atom(f"${len(self.names) + 1}")
        return self.names[name]


def _head_term(p: tuple, vs: _Vars) -> Any:
    kind = p[0]
    if kind == "wild":
        return _UNDERSCORE
    if kind == "var":
        return vs.bind(p[1])
    if kind == "lit":
        return p[1]
    if kind == "tuple":
        return tuple(_head_term(x, vs) for x in p[1])
    if kind == "list":
        items = [_head_term(x, vs) for x in p[1]]
        if p[2] is None:
            return items
        from ..etf import ImproperList
        tail = _head_term(p[2], vs)
        if isinstance(tail, list):
            return items + tail
        return ImproperList(items, tail)
    if kind == "map":
        return {_head_term(k, vs): _head_term(v, vs) for k, v in p[1]}
    raise SpecError(f"unsupported pattern {p!r}")


def _const(v: Any) -> Any:
    # Non-atomic constants inside a match-spec condition must be quoted.
    return (Atom("const"), v) if isinstance(v, (tuple, list, dict)) else v


def _guard(e: tuple, vs: _Vars, spec: ParsedSpec, text: str) -> Any:
    kind = e[0]
    if kind == "var":
        if e[1] not in vs.names:
            raise SpecError(f"guard variable {e[1]!r} is not bound in the arguments", text=text,
                            hint="name it in the argument list, e.g. Mod.fun(a, b) when b > 1")
        return vs.names[e[1]]
    if kind == "lit":
        return _const(e[1])
    if kind in ("tuple", "list", "map"):
        return _const(_head_term(e, _Vars()))
    if kind == "op":
        op = _ARITH.get(e[1], e[1])
        return (Atom(op), _guard(e[2], vs, spec, text), _guard(e[3], vs, spec, text))
    if kind == "not":
        return (Atom("not"), _guard(e[1], vs, spec, text))
    if kind == "neg":
        return (Atom("-"), _guard(e[1], vs, spec, text))
    if kind == "in":
        x = _guard(e[1], vs, spec, text)
        if not e[2]:
            return False
        alts = [(Atom("=:="), x, _const(v)) for v in e[2]]
        out = alts[0]
        for a in alts[1:]:
            out = (Atom("orelse"), out, a)
        return out
    if kind == "call":
        name, args = e[1], [_guard(a, vs, spec, text) for a in e[2]]
        if spec.syntax == "elixir" and name in _ELIXIR_ONLY:
            if name == "is_nil" and len(args) == 1:
                return (Atom("=:="), args[0], Atom("nil"))
            if name == "elem" and len(args) == 2:
                idx = e[2][1]
                if idx[0] != "lit" or not isinstance(idx[1], int):
                    raise SpecError("elem/2 in a spec needs a literal index", text=text)
                return (Atom("element"), idx[1] + 1, args[0])
        if name not in _GUARD_FUNS:
            raise SpecError(f"{name}/{len(args)} is not allowed in a guard", text=text,
                            hint="guards may use comparisons, arithmetic, and/or/not and "
                                 "guard BIFs such as is_integer/1, length/1, map_size/1")
        return (Atom(name), *args)
    raise SpecError(f"unsupported guard expression {e!r}", text=text)


def generate(p: ParsedSpec, text: str, *, force: bool = False) -> TraceSpec:
    vs = _Vars()
    head: Any = [_head_term(a, vs) for a in p.args] if p.args is not None else _UNDERSCORE
    guards = [_guard(p.guard, vs, p, text)] if p.guard is not None else []
    returns = "return" in p.actions
    body = [(Atom("exception_trace"),)] if returns else []
    spec = TraceSpec(text, p.syntax, p.module, p.function, p.arity, [(head, guards, body)], returns)
    check_safety(spec, p, force=force)
    return spec


def _restricted(p: ParsedSpec) -> bool:
    """Does the spec narrow the calls beyond module/function/arity?"""
    if p.guard is not None:
        return True
    return any(a[0] not in ("wild", "var") for a in (p.args or []))


def check_safety(spec: TraceSpec, p: ParsedSpec, *, force: bool) -> None:
    if spec.module == AGENT_MODULE:
        raise DangerousSpecError(
            "agent", "tracing the ElixirScope agent itself is never allowed: it would trace its "
            "own work and loop", text=spec.source, hint="pick the module you are debugging")
    if force:
        return
    if spec.module == "_":
        raise DangerousSpecError(
            "everything", "this spec matches every function of every module", text=spec.source,
            hint="name a module, e.g. MyApp.Cart or cart (force=True to insist)")
    if spec.module in HOT_MODULES and not _restricted(p):
        shown = spec.module.removeprefix("Elixir.")
        raise DangerousSpecError(
            "hot_module", f"{shown} is called constantly by the whole node; tracing it with "
            "wildcard arguments can flood the node", text=spec.source,
            hint="restrict the arguments (e.g. :ets.insert(:my_table, _)) or add a guard, "
                 "or pass force=True")


def compile_spec(text: str, *, syntax: str | None = None, force: bool = False) -> TraceSpec:
    """Compile one trace spec string; raises ``SpecError`` (``DangerousSpecError``)."""
    if not isinstance(text, str):
        raise SpecError(f"a trace spec is a string, got {type(text).__name__}")
    return generate(parse(text.strip(), syntax), text.strip(), force=force)
