"""Turn a parsed spec into a trace pattern with a real match spec, and refuse dangerous ones.

A match spec is Python data ``[(head, guards, body)]`` with ``Atom('$1')`` variables, ready for
``instrument.etf.encode`` and ``erlang:trace_pattern/3`` on the target. The safety rules live
in ``safety.py``.

Literal atoms that mean something in a match spec (``:_``, ``:"$1"``, ``:"$_"``, ``:"$$"``)
are matched *literally*: in the head such an atom becomes a fresh variable plus a guard
``{'=:=', '$N', {const, Atom}}``; inside guards it is quoted with ``const``. A guard that is
always true (``when true``, ``when 1 == 1``, ``when x == x``, ``when is_atom(:a) or ...``) does
not count as a restriction for the hot-module rule (``safety.py``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ..etf import Atom
from .errors import SpecError
from .parser import ParsedSpec, parse
from .safety import AGENT_MODULE, HOT_MODULES, check_safety

__all__ = ["TraceSpec", "compile_spec", "generate", "AGENT_MODULE", "HOT_MODULES", "MAX_SPEC_CHARS"]

# A trace spec is one line: this bounds the work of parsing it and the match spec sent.
MAX_SPEC_CHARS = 4_000

_GUARD_FUNS = {
    "is_atom", "is_binary", "is_bitstring", "is_boolean", "is_float", "is_function", "is_integer",
    "is_list", "is_map", "is_map_key", "is_number", "is_pid", "is_port", "is_reference",
    "is_tuple", "abs", "element", "hd", "tl", "length", "map_get", "map_size", "node", "round",
    "self", "size", "bit_size", "byte_size", "trunc", "tuple_size", "float", "binary_part",
}
_ELIXIR_ONLY = {"elem", "is_nil"}
_ARITH = {"+": "+", "-": "-", "*": "*", "/": "/", "div": "div", "rem": "rem"}

_UNDERSCORE = Atom("_")
_CONST = Atom("const")
_EXACT = Atom("=:=")
# Atoms a match spec reads as wildcard or variables: '_', '$1', '$_', '$$'.
_MS_SPECIAL = re.compile(r"_\Z|\$(\d+|_|\$)\Z")


def _special(v: Any) -> bool:
    return isinstance(v, Atom) and _MS_SPECIAL.match(v.name) is not None


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
        self.literal_guards: list[tuple] = []

    def bind(self, name: str) -> Atom:
        if name not in self.names:
            self.names[name] = Atom(f"${len(self.names) + 1}")
        return self.names[name]

    def literal(self, value: Atom) -> Atom:
        """A head position that must equal the atom ``value`` literally (not as a wildcard)."""
        var = self.bind(f"\x00literal{len(self.literal_guards)}")  # no spec variable has this name
        self.literal_guards.append((_EXACT, var, (_CONST, value)))
        return var


def _head_term(p: tuple, vs: _Vars) -> Any:
    kind = p[0]
    if kind == "wild":
        return _UNDERSCORE
    if kind == "var":
        return vs.bind(p[1])
    if kind == "lit":
        return vs.literal(p[1]) if _special(p[1]) else _literal_term(p[1])
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
        out = {}
        for k, v in p[1]:
            if k[0] == "lit" and _special(k[1]):
                raise SpecError(f"the atom {k[1].name!r} cannot be a map key in a trace spec pattern "
                                "(match specs read it as a variable)",
                                hint="match the map with a variable and test the key in a guard, "
                                     "e.g. f(m) when is_map_key(:_, m)")
            out[_head_term(k, vs)] = _head_term(v, vs)
        return out
    raise SpecError(f"unsupported pattern {p!r}")


def _literal_term(v: Any) -> Any:
    """A literal value as a match-spec head term: special atoms nested in it are refused
    (they cannot be quoted in a head)."""
    if isinstance(v, (tuple, list)) and any(_special(x) or isinstance(x, (tuple, list, dict)) for x in v):
        for x in v:
            _literal_term(x)
    elif isinstance(v, dict):
        for k, x in v.items():
            _literal_term(k)
            _literal_term(x)
    elif _special(v):
        raise SpecError(f"the atom {v.name!r} inside a literal cannot be matched literally in a trace spec",
                        hint="write the literal as a pattern (tuple/list syntax) so the atom can be tested in a guard")
    return v


def _const(v: Any) -> Any:
    # Non-atomic constants, and atoms a match spec would read as variables ('$1', '_'),
    # must be quoted inside a condition.
    return (_CONST, v) if isinstance(v, (tuple, list, dict)) or _special(v) else v


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
    guards = vs.literal_guards + guards
    returns = "return" in p.actions
    body = [(Atom("exception_trace"),)] if returns else []
    spec = TraceSpec(text, p.syntax, p.module, p.function, p.arity, [(head, guards, body)], returns)
    check_safety(spec, p, force=force)
    return spec


def compile_spec(text: str, *, syntax: str | None = None, force: bool = False) -> TraceSpec:
    """Compile one trace spec string; raises ``SpecError`` (``DangerousSpecError``)."""
    if not isinstance(text, str):
        raise SpecError(f"a trace spec is a string, got {type(text).__name__}")
    text = text.strip()
    if len(text) > MAX_SPEC_CHARS:
        raise SpecError(f"a trace spec of {len(text)} characters is too long (at most {MAX_SPEC_CHARS})",
                        hint="trace a function by name and narrow it with a short guard")
    try:
        return generate(parse(text, syntax), text, force=force)
    except SpecError:
        raise
    except RecursionError:
        raise SpecError("the trace spec is nested too deeply", text=text,
                        hint="use a flatter pattern (match specs are meant to be small)") from None
    except (ValueError, OverflowError, ArithmeticError, TypeError) as exc:
        raise SpecError(f"a value in the trace spec is out of range or malformed ({exc})", text=text,
                        hint="use smaller numbers and plain literals") from None
