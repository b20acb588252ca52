"""Reading exception and exit reasons as the BEAM writes them.

Reasons arrive in many shapes — raw Erlang (``function_clause``, ``{badmatch, V}``), Elixir
exception structs (``%KeyError{}``), exits from ``gen:call`` (``{timeout, {GenServer, call,
[Target, Request, Timeout]}}``), a crashed process's ``{Reason, Stacktrace}`` — and nested
inside each other. This module names them: which signature tokens a reason shows, which other
process it blames (a call's target), the application frame a stack trace points at, and the
function a compiler-generated name (``-handle_call/3-fun-0-``) belongs to.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from elixir_scope.instrument.etf import Atom

from ..view import fmt, is_app_module

NORMAL = ("normal", "shutdown")

# raw Erlang error reasons and Elixir exception structs → the token they show
_ERROR_TOKENS = {
    "function_clause": "exception:function_clause", "FunctionClauseError": "exception:function_clause",
    "badmatch": "exception:badmatch", "MatchError": "exception:badmatch",
    "badkey": "exception:key_error", "KeyError": "exception:key_error", "badmap": "exception:key_error",
    "BadMapError": "exception:key_error",
    "badarg": "exception:badarg", "ArgumentError": "exception:badarg",
    "badarith": "exception:badarith", "ArithmeticError": "exception:badarith",
    "undef": "exception:undef", "UndefinedFunctionError": "exception:undef",
    "case_clause": "exception:case_clause", "CaseClauseError": "exception:case_clause",
    "try_clause": "exception:case_clause", "TryClauseError": "exception:case_clause",
    "with_clause": "exception:case_clause", "WithClauseError": "exception:case_clause",
    "if_clause": "exception:case_clause", "CondClauseError": "exception:case_clause",
    "bad_return_value": "exception:bad_return",
    "system_limit": "exception:system_limit", "SystemLimitError": "exception:system_limit",
    "noconnection": "exit:noconnection",   # linked to a process on a node that went away
}


def atom_name(term: Any) -> str | None:
    return term.name if isinstance(term, Atom) else None


def is_normal(reason: Any) -> bool:
    """``:normal``, ``:shutdown`` and ``{:shutdown, _}``: how OTP ends processes on purpose."""
    if isinstance(reason, tuple) and reason and atom_name(reason[0]) == "shutdown":
        return True
    return atom_name(reason) in NORMAL


def struct_name(term: Any) -> str | None:
    """``KeyError`` for ``%KeyError{}`` (a map with ``__struct__``)."""
    if isinstance(term, dict):
        for k, v in term.items():
            if atom_name(k) == "__struct__" and isinstance(v, Atom):
                return v.name.removeprefix("Elixir.")
    return None


@dataclass(frozen=True)
class GenCall:
    """A failed ``gen:call`` (GenServer.call, :gen_statem.call, Agent, Task.await …)."""

    why: str            # timeout | noproc | calling_self | normal | nodedown | crashed | other
    target: Any         # as addressed: a pid, a name, {name, node}, {:via, ...}
    request: Any
    api: str            # "GenServer.call", "Task.await", …
    inner: Any = None   # the target's own exit reason when it crashed during the call


def gen_call(reason: Any) -> GenCall | None:
    """``{Why, {Mod, Fun, Args}}`` as ``gen:call``/``Task.await`` exit with it, also wrapped
    in ``{:exit, _}`` or ``{_, Stacktrace}``."""
    if isinstance(reason, tuple) and len(reason) == 2:
        head, body = reason
        if atom_name(head) == "exit":
            return gen_call(body)
        if isinstance(body, tuple) and len(body) == 3 and isinstance(body[0], Atom) and isinstance(body[1], Atom):
            mod, fun, args = body[0].name.removeprefix("Elixir."), body[1].name, body[2]
            api = f"{mod}.{fun}"
            if fun not in ("call", "await", "get_state", "multi_call", "get", "update", "get_and_update", "yield") \
                    or not isinstance(args, list):
                return None
            target = args[0] if args else None
            request = args[1] if len(args) > 1 else None
            if api == "Task.await":
                target, request = (args[0] if args else None), None
            why = atom_name(head)
            if why in ("timeout", "noproc", "calling_self", "normal", "killed", "shutdown"):
                return GenCall(why, target, request, api)
            if isinstance(head, tuple) and head and atom_name(head[0]) in ("nodedown",):
                return GenCall("nodedown", target, request, api)
            if isinstance(head, tuple) and head and atom_name(head[0]) == "shutdown":
                return GenCall("shutdown", target, request, api)
            return GenCall("crashed", target, request, api, inner=head)
        if isinstance(body, list) and body and all(isinstance(f, tuple) for f in body[:1]):
            return gen_call(head)  # {Reason, Stacktrace}
    return None


def core(reason: Any) -> Any:
    """The reason without its stack trace (``{Reason, [Frames]}`` → Reason) and without an
    ``{:exit, _}`` wrapper."""
    if isinstance(reason, tuple) and len(reason) == 2:
        if isinstance(reason[1], list) and reason[1] and isinstance(reason[1][0], tuple) \
                and len(reason[1][0]) == 4:
            return reason[0]
        if atom_name(reason[0]) in ("EXIT", "exit"):
            return core(reason[1])
    return reason


def error_tokens(reason: Any) -> list[str]:
    """Signature tokens of an error reason (class error, or a crashed process's reason)."""
    r = core(reason)
    names = [atom_name(r), struct_name(r)]
    if isinstance(r, tuple) and r:
        names.append(atom_name(r[0]))
    out = []
    for n in names:
        if n and n in _ERROR_TOKENS:
            out.append(_ERROR_TOKENS[n])
    if "exception:badarg" in out and _mentions_ets(reason):
        out.append("exception:badarg:ets")
    return list(dict.fromkeys(out))


def _mentions_ets(reason: Any) -> bool:
    if isinstance(reason, tuple) and len(reason) == 2 and isinstance(reason[1], list):
        for f in reason[1][:2]:
            if isinstance(f, tuple) and f and atom_name(f[0]) == "ets":
                return True
    text = fmt(reason, 400)
    return ":ets." in text or "ets:" in text


def call_tokens(gc: GenCall) -> list[str]:
    if gc.why == "timeout":
        return ["exception:timeout:Task.await" if gc.api == "Task.await" else "exception:timeout:GenServer.call"]
    if gc.why == "noproc":
        return ["exception:noproc:GenServer.call", "call:noproc"]
    if gc.why == "calling_self":
        return ["exception:calling_self", "call:self"]
    if gc.why == "nodedown":
        return ["exception:noconnection"]
    return ["exit:caused_by_other"]


@dataclass(frozen=True)
class Frame:
    module: str
    function: str       # name/arity, compiler-generated names mapped to their function
    args: Any           # the argument list when the frame has it, else None
    line: int | None


_GENERATED = re.compile(r"^-(.+)/(\d+)-(?:fun|inlined|lc|lbc|after)[-$].*$")


def source_function(name: str, arity: int | str) -> str:
    """``-handle_call/3-fun-0-`` → ``handle_call/3``; other names → ``name/arity``."""
    m = _GENERATED.match(name)
    if m:
        return f"{m.group(1)}/{m.group(2)}"
    return f"{name}/{arity}"


def stack_frames(reason: Any) -> list[Frame]:
    """Frames of a ``{Reason, Stacktrace}`` (or ``{:EXIT, {Reason, Stacktrace}}``) reason."""
    r = reason
    for _ in range(3):
        if isinstance(r, tuple) and len(r) == 2 and isinstance(r[1], list) and r[1] \
                and isinstance(r[1][0], tuple) and len(r[1][0]) == 4:
            break
        if isinstance(r, tuple) and len(r) == 2:
            r = r[1] if atom_name(r[0]) in ("EXIT", "exit") else r[0]
        else:
            return []
    else:
        return []
    if not (isinstance(r, tuple) and len(r) == 2 and isinstance(r[1], list)):
        return []
    out = []
    for f in r[1]:
        if not (isinstance(f, tuple) and len(f) == 4 and isinstance(f[0], Atom) and isinstance(f[1], Atom)):
            continue
        args = f[2] if isinstance(f[2], list) else None
        arity = len(f[2]) if isinstance(f[2], list) else f[2]
        line = None
        if isinstance(f[3], list):
            for item in f[3]:
                if isinstance(item, tuple) and len(item) == 2 and atom_name(item[0]) == "line":
                    line = item[1] if isinstance(item[1], int) else None
        out.append(Frame(f[0].name, source_function(f[1].name, arity), args, line))
    return out


def app_frame(reason: Any) -> tuple[Frame | None, Any]:
    """The first application frame of a crash's stack trace, and the offending value: the
    argument of the library call above it (``String.to_integer("500ms")``) or the reason."""
    frames = stack_frames(reason)
    value = core(reason)
    for i, f in enumerate(frames):
        if i == 0 and f.args:
            value = f.args[0] if len(f.args) == 1 else f.args
        if is_app_module(f.module):
            return f, value
    return None, value
