"""A callee that broke its return contract: the crash is its caller's, the value is the callee's.

A function whose calls return one shape — ``{:ok, v}`` / ``{:error, reason}``, a struct, a
number, a list — returns, in one call, a value outside it: the bare ``false`` of a ``with``
whose ``else`` was forgotten, the ``nil`` of a ``Map.get`` or an ``Enum.find`` that missed, a
bare ``:error``, an ``{:error, _}`` of another size. Its caller then raises on that value
(``CaseClauseError``, ``MatchError``, ``FunctionClauseError``, ``BadMapError``,
``ArithmeticError``, ``Protocol.UndefinedError`` …): the exception names the caller, but the
caller was right to expect what the callee promised everywhere else.

| kind | what | culprit |
| --- | --- | --- |
| ``contract_broken`` | an exception names (in its reason, in the stack trace's arguments of the call that raised, or in the arguments of the function with no matching clause) a value that an application call of the same process, in the same request, returned just before without being given it; that function's other recorded calls (two or more) all returned values of other shapes, of at most two kinds — or its ``@spec`` in the sources (:mod:`elixir_scope.knowledge.source.specs`) does not allow the value's shape | that function, and the value |

The exception (and so its exit and its callers' failed calls) is linked to it (``caused_by``).

A self-recursive function (a walk over a list) counts once per run: its outermost return — the
value its caller got — is the one call, its inner rounds are the same call going on (each returns
what the next one did), neither another call showing its contract nor a maker of their own.

Silent when the callee kept its contract: an ``{:error, reason}`` from a function that otherwise
returns ``{:ok, v}`` is the other half of one contract — a caller that does not match it is the
culprit, and the exception stands as it is; a value whose shape the function returned in other
calls too, or that its spec lists (``| nil``), is the caller's to handle.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

from ..findings import Finding
from ..view import Atom, Call, RecordingView, fmt, is_app_module, mod_name
from . import reasons as R
from .book import FactBook
from .common import ancestors, culprit_of, is_generated
from .received import _offending

#: callbacks answer their behaviour, not a caller's contract
_CALLBACKS = frozenset({"handle_call", "handle_cast", "handle_info", "handle_continue", "init", "terminate",
                        "code_change", "handle_event"})
#: the frames walked up from the crash to find the request it belongs to
_MAX_UP = 8
#: the other calls looked at for a function's contract
_MAX_OTHERS = 200


def shape(v: Any) -> str:
    """A value's shape as a contract speaks of it: ``ok/2`` for ``{:ok, v}``, ``tuple/3``,
    ``nil``, ``bool``, ``atom:error``, ``number``, ``binary``, ``list``, ``map``, ``%Name{}``."""
    if isinstance(v, Atom):
        if v.name == "nil":
            return "nil"
        if v.name in ("true", "false"):
            return "bool"
        return f"atom:{v.name}"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, (int, float)):
        return "number"
    if isinstance(v, (bytes, str)):
        return "binary"
    if isinstance(v, tuple):
        if v and isinstance(v[0], Atom):
            return f"{v[0].name}/{len(v)}"
        return f"tuple/{len(v)}"
    if isinstance(v, list):
        return "list"
    if isinstance(v, dict):
        s = v.get(Atom("__struct__"))
        return f"%{mod_name(s.name)}{{}}" if isinstance(s, Atom) else "map"
    return type(v).__name__


def _fits(sv: str, shapes: set[str]) -> bool:
    """``sv`` is one of ``shapes`` or the other half of an ok/error contract they show."""
    if sv in shapes:
        return True
    halves = {"ok/2": "error/2", "error/2": "ok/2", "ok/3": "error/2", "atom:ok": "error/2"}
    return any(halves.get(s) == sv or halves.get(sv) == s for s in shapes)


def _offending_values(view: RecordingView, inner: Call, frames_last: Call, reason: Any) -> list[Any]:
    """The values the exception says it could not handle: in its reason, as arguments of the
    call that raised (the stack trace of the process's exit), or the arguments of a traced
    function none of whose clauses matched."""
    out: list[Any] = []
    core = R.core(reason)
    bad = _offending(core)
    if bad is not None:
        out.append(bad)
    if isinstance(core, tuple) and len(core) == 3 and R.atom_name(core[0]) == "badkey":
        out.append(core[2])
    if isinstance(core, dict) and R.struct_name(core) in ("KeyError",) and Atom("term") in core:
        out.append(core[Atom("term")])
    if R.atom_name(core) == "function_clause" and frames_last.args:
        out.extend(frames_last.args)
    for ex in view.exits:
        if ex.pid == inner.pid and inner.end_ts is not None and ex.ts >= inner.end_ts:
            # the process died of this exception (not of a later one after it was caught)
            if fmt(R.core(ex.reason), 200) == fmt(core, 200):
                frames = R.stack_frames(ex.reason)
                if frames and frames[0].args:
                    out.extend(frames[0].args)
            break
    return out


def _contains(term: Any, text: str, budget: int = 400) -> bool:
    """``term`` holds a part printed ``text`` (bounded walk)."""
    stack, n = [term], 0
    while stack and n < budget:
        t = stack.pop()
        n += 1
        if fmt(t, 300) == text:
            return True
        if isinstance(t, dict):
            stack.extend(t.values())
        elif isinstance(t, (list, tuple)) and not isinstance(t, Atom):
            stack.extend(t)
    return False


def _request(inner: Call) -> Call:
    """The outermost application call of the request ``inner`` ran in: up to the callback that
    handles it, or the process's outermost traced frame."""
    top, up = inner, 0
    while top.parent is not None and up < _MAX_UP and top.function not in _CALLBACKS:
        top, up = top.parent, up + 1
    return top


def _makers(view: RecordingView, inner: Call, text: str) -> Iterator[Call]:
    """The application calls of ``inner``'s request that returned the value printed ``text``
    before the crash without being given it, deepest first."""
    top = _request(inner)
    skip = ancestors(inner) | {inner.call_id}
    found = []
    for c in view.calls_by_pid.get(inner.pid, []):
        if c.ts < top.ts or c.end_ts is None or inner.end_ts is None or c.end_ts > inner.end_ts:
            continue
        if c.outcome != "return" or c.call_id in skip or not is_app_module(c.module) or is_generated(c.function) \
                or c.function in _CALLBACKS or c.function.startswith("__"):
            continue
        if fmt(c.value, 300) != text or any(_contains(a, text) for a in c.args) or _inner_round(c):
            continue
        found.append(c)
    found.sort(key=lambda c: (-c.depth, -(c.end_ts or 0)))
    yield from found


def _inner_round(c: Call) -> bool:
    """``c`` is a round of a recursion its own function runs (its caller is the same function)."""
    p = c.parent
    return p is not None and (p.module, p.function, p.arity) == (c.module, c.function, c.arity)


def _others(view: RecordingView, c: Call) -> list[Call]:
    """The other recorded calls of ``c``'s function that returned (of a recursive function, the
    outermost call of each run)."""
    key = (c.module, c.function, c.arity)
    out = []
    for o in view.calls:
        if (o.module, o.function, o.arity) == key and o.outcome == "return" and o.call_id != c.call_id \
                and not _inner_round(o):
            out.append(o)
            if len(out) >= _MAX_OTHERS:
                break
    return out


def _norm(s: str) -> str:
    """A struct's shape by its last name segment (a spec may name it through an alias)."""
    return "%" + s[1:].rsplit(".", 1)[-1] if s.startswith("%") else s


def _broken(view: RecordingView, maker: Call, value: Any, specs: dict[str, list[str]] | None
            ) -> tuple[list[Call], list[str] | None] | None:
    """(the other calls that show the contract, the spec's shapes) when ``value`` breaks it."""
    sv = shape(value)
    fn = f"{mod_name(maker.module)}.{R.source_function(maker.function, maker.arity)}"
    spec = (specs or {}).get(fn)
    if spec is not None and _fits(_norm(sv), {_norm(s) for s in spec}):
        return None   # the spec promises this shape too: the caller must handle it
    if spec is not None and "any" in spec:
        spec = None   # a type the spec does not spell out may be this value: only the calls can tell
    others = _others(view, maker)
    shapes = Counter(shape(o.value) for o in others)
    if _fits(sv, set(shapes)):
        return None   # it returns this shape in other calls too: part of what callers must handle
    if spec is None and (len(others) < 2 or len(shapes) > 2):
        return None   # too few calls, or no single contract to break
    return others, spec


def broken_contracts(view: RecordingView, book: FactBook, specs: dict[str, list[str]] | None = None) -> None:
    """``contract_broken`` facts; ``specs``: ``Module.fun/arity`` → the return shapes its
    ``@spec`` allows (the sources'; ``any`` for an open one)."""
    for exc in book.of_kind("exception"):
        if exc.caused_by is not None:
            continue
        meta = book.meta.get(exc.id, {})
        inner, reason = meta.get("call"), meta.get("reason")
        if inner is None or inner.end_ts is None:
            continue
        deepest = _deepest_raising(view, inner)
        done = False
        for value in _offending_values(view, inner, deepest, reason):
            text = fmt(value, 300)
            for maker in _makers(view, inner, text):
                hit = _broken(view, maker, value, specs)
                if hit is None:
                    continue
                _add(view, book, exc, inner, reason, maker, value, *hit)
                done = True
                break
            if done:
                break


def _deepest_raising(view: RecordingView, inner: Call) -> Call:
    """The deepest traced call that raised inside ``inner`` (the function with no matching
    clause is traced as a call that raised at once), else ``inner``."""
    deepest = inner
    for c in view.children(inner):
        if c.outcome == "exception" and c.depth > deepest.depth:
            deepest = c
    return deepest


def _add(view: RecordingView, book: FactBook, exc: Finding, inner: Call, reason: Any, maker: Call, value: Any,
         others: list[Call], spec: list[str] | None) -> None:
    sv = shape(value)
    kinds = Counter(shape(o.value) for o in others)
    seen = ", ".join(f"{k} ×{n}" for k, n in kinds.most_common(3))
    promised = (f"its other {len(others)} recorded call{'s' if len(others) != 1 else ''} returned {seen}"
                if others else "")
    if spec is not None:
        promised = (promised + "; " if promised else "") + f"its @spec returns {' | '.join(spec)}"
    caller = inner.mfa
    core = R.core(reason)
    evidence = [view.call_evidence(maker, f"{maker.mfa} called with {fmt(maker.args, 100)}"),
                view.end_evidence(maker, f"{maker.mfa} returned {fmt(value, 80)} (shape {sv})")]
    for o in others[:3]:
        evidence.append(view.end_evidence(o, f"{maker.mfa} returned {fmt(o.value, 80)} to another call"))
    evidence.append(view.end_evidence(inner, f"{caller} raised {fmt(core, 100)}"))
    fact = book.add(Finding(
        detector="contract_broken",
        title=f"{maker.mfa} returned {fmt(value, 40)} where its contract is {' / '.join(sorted(kinds)) or ' | '.join(spec or [])}; "
              f"{caller} crashed on it",
        summary=(f"{maker.mfa} (called with {fmt(maker.args, 100)}) returned {fmt(value, 80)}, a value of shape {sv}; "
                 f"{promised}. Its caller {caller} raised {fmt(core, 100)} on that value: the caller relied on the "
                 f"contract {maker.mfa} keeps everywhere else, so the value was made wrong where it was returned."),
        severity="high", confidence=0.8 if (spec is not None or len(kinds) == 1) else 0.72,
        culprit=culprit_of(view, maker, value),
        evidence=evidence,
        signatures=["return:off_contract", "exception:error"],
        fix_hint=(f"Make {maker.mfa} return its contract's shape in every case: give the `with` its `else` "
                  "(`else false -> {:error, :insufficient}`), turn a miss (`Map.get`, `Enum.find` → nil, "
                  "`Map.fetch` → :error) into `{:error, reason}`, or state the extra shape in its @spec so "
                  "callers handle it.")),
        pid=maker.pid, ts=maker.end_ts, call=maker)
    book.link(exc, fact, "the value it crashed on came from a callee that broke its return contract")
