"""Which compiled specs are refused for safety, as recon_trace does: no pattern over every
module; never the agent itself (not even forced); no hot stdlib module with wildcard
arguments (every process calls them all the time) unless ``force=True``.

A guard that is always true (``when true``, ``when 1 == 1``, ``when x == x``,
``when is_atom(:a) or ...``) does not count as a restriction for the hot-module rule: a guard
restricts only if every ``or`` branch reads an argument, and a comparison restricts only if it
is not of a variable with itself. Repeating a variable (``f(x, x)``) or any non-variable
argument restricts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import DangerousSpecError
from .parser import ParsedSpec

if TYPE_CHECKING:
    from .generate import TraceSpec

__all__ = ["AGENT_MODULE", "HOT_MODULES", "check_safety"]

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


def _restricted(p: ParsedSpec) -> bool:
    """Does the spec narrow the calls beyond module/function/arity?"""
    if p.guard is not None and _guard_restricts(p.guard):
        return True
    args = p.args or []
    names = [a[1] for a in args if a[0] == "var"]
    if len(names) != len(set(names)):  # f(x, x): the two arguments must be equal
        return True
    return any(a[0] not in ("wild", "var") for a in args)


_REFLEXIVE = {"==", "=:=", ">=", "=<", "<="}


def _reads_var(e: Any) -> bool:
    if isinstance(e, tuple) and e:
        if e[0] == "var":
            return True
        return any(_reads_var(x) for x in e[1:])
    if isinstance(e, list):
        return any(_reads_var(x) for x in e)
    return False


def _guard_restricts(e: tuple) -> bool:
    """Whether a guard can be false for some call (conservative: a constant part counts as
    possibly true). ``when true``, ``when 1 == 1``, ``when x == x``, ``when f or true`` do not
    restrict."""
    kind = e[0]
    if kind == "op":
        op, a, b = e[1], e[2], e[3]
        if op in ("or", "orelse"):
            return _guard_restricts(a) and _guard_restricts(b)
        if op in ("and", "andalso"):
            return _guard_restricts(a) or _guard_restricts(b)
        if op in _REFLEXIVE and a == b:
            return False
        return _reads_var(a) or _reads_var(b)
    if kind == "not":
        return _reads_var(e[1])
    return _reads_var(e)


def check_safety(spec: "TraceSpec", p: ParsedSpec, *, force: bool) -> None:
    if spec.module == AGENT_MODULE:
        raise DangerousSpecError(
            "agent", "tracing the ElixirScope agent itself is never allowed: it would trace its "
            "own work and loop", text=spec.source, hint="pick the module you are debugging")
    if force:
        return
    if spec.module == "_":
        raise DangerousSpecError(
            "everything", "this spec matches every function of every module", text=spec.source,
            hint="name a module, e.g. MyApp.Cart or cart (or force it: --force on the command line, "
                 "force=true in start_capture)")
    if spec.module in HOT_MODULES and not _restricted(p):
        shown = spec.module.removeprefix("Elixir.")
        raise DangerousSpecError(
            "hot_module", f"{shown} is called constantly by the whole node; tracing it with "
            "wildcard arguments can flood the node", text=spec.source,
            hint="restrict the arguments (e.g. :ets.insert(:my_table, _)) or add a guard that reads "
                 "an argument, or force it: --force on the command line, force=true in start_capture")
