"""The reproduction's own failures: a trigger that failed in its own code is not the bug.

A diagnosis runs the user's trigger (an rpc worker evaluating the expression) in every round.
The first round may change what the trigger relies on (the record it creates now exists), and a
timing-dependent bug may not happen again; the trigger's own code then fails — a ``{:ok, _}``
match, a ``case`` knowing only the success — and that failure is about the reproduction, not the
application. It is recognised when

- **its own check failed**: the trigger's outermost call (the function the expression called)
  raised a match failure (``badmatch``, ``case_clause``, ``with_clause``, ``try_clause``) on the
  very value one of its own calls had just returned; or
- **it is new in this round**: an earlier round ran the trigger without this failure, and the
  failure is raised in the trigger's process by its outermost call or is a match failure there.

The trigger's code is its own wherever it runs: a trigger that plays its clients in processes
it spawns (``spawn(fn -> {:ok, _} = ... end)``, a ``Task``) runs the anonymous functions
defined in it (``-trigger/0-fun-0-``) outside the rpc's process — the functions the trigger
expression names (or the rpc worker's outermost calls) and the funs defined in them are the
trigger's code in any process, and their outermost call there is the trigger's own.

Such an exception fact becomes ``trigger_failed`` (before anything is linked to it): reported, with its events, never a hypothesis
(:mod:`~elixir_scope.agents.hypotheses` leaves it out), so a round whose only news is the
trigger's failure decides nothing and the diagnosis rests on the rounds where the bug showed.
Its culprit names the call whose answer the trigger did not expect (where to look), not the
trigger. A failure deeper in the application that the trigger merely called (a crash in a client
function, an exit of a ``GenServer.call``) is left alone: that is the bug showing.
"""

from __future__ import annotations

import re
from typing import Any

from ..findings import Culprit
from ..view import Call, RecordingView, fmt, is_app_module, mod_name
from . import reasons as R
from .book import FactBook

__all__ = ["KIND", "notes", "runs", "trigger_failures"]

KIND = "trigger_failed"
MATCH_FAILURES = ("badmatch", "case_clause", "with_clause", "try_clause")
# a remote call in an Elixir expression: `Mod.Sub.fun(` / `Mod.fun` (the first lower-case part),
# or an Erlang one `:mod.fun(`
_REMOTE = re.compile(r"(?<![\w.:])((?:[A-Z]\w*)(?:\.[A-Z]\w*)*|:[a-z]\w*)\.([a-z_]\w*[?!]?)")


def _outermost(view: RecordingView) -> list[Call]:
    """The calls the trigger expression made: an rpc worker's application calls with no caller."""
    return [c for c in view.calls if c.pid in view.rpc_workers and c.parent is None and is_app_module(c.module)]


def trigger_code(view: RecordingView, expr: str | None = None) -> set[tuple[str, str]]:
    """(module as shown, function) of the trigger's functions: the rpc worker's outermost
    application calls, and the remote calls the trigger expression names (``expr``, read only
    as text: the first 2,000 characters)."""
    names = {(mod_name(c.module), c.function) for c in _outermost(view)}
    for m in _REMOTE.finditer((expr or "")[:2000]):
        names.add((m.group(1), m.group(2)))
    return names


def _is_trigger_code(c: Call, names: set[tuple[str, str]]) -> bool:
    """``c`` runs one of the trigger's functions, or a fun defined in one (``-trigger/0-fun-0-``)."""
    if not names:
        return False
    mod, fn = mod_name(c.module), c.function
    return any(mod == m and (fn == f or fn.startswith(f"-{f}/")) for m, f in names)


def _match_failure(reason: Any) -> tuple[str, Any] | None:
    core = R.core(reason)
    if isinstance(core, tuple) and len(core) == 2 and R.atom_name(core[0]) in MATCH_FAILURES:
        return R.atom_name(core[0]), core[1]
    return None


def _key(c: Call, reason: Any) -> str:
    core = R.core(reason)
    tag = R.atom_name(core[0]) if isinstance(core, tuple) and core else R.atom_name(core)
    return f"{c.mfa} {tag or fmt(core, 40)}"


def _failing(view: RecordingView, book: FactBook, *kinds: str,
             names: set[tuple[str, str]] | None = None) -> list[tuple[Any, Call, Any]]:
    """(fact, failing call, reason) for the facts of ``kinds`` raised in the trigger's process,
    or by the trigger's code (``names``: :func:`trigger_code`) in a process it started."""
    names = trigger_code(view) if names is None else names
    out = []
    for f in book.of_kind(*kinds):
        m = book.meta.get(f.id, {})
        c = m.get("call")
        if c is None or m.get("cls") not in ("error", "throw"):
            continue
        if c.pid not in view.rpc_workers and not _is_trigger_code(c, names):
            continue
        out.append((f, c, m.get("reason")))
    return out


def runs(view: RecordingView, book: FactBook, expr: str | None = None) -> dict:
    """What one round's trigger did (for the rounds after it): whether it ran, and the keys of the
    failures raised in its process or by its code (``Mod.fun/arity tag``). JSON-serialisable (a
    checkpoint). ``expr``: the trigger expression."""
    failed = _failing(view, book, "exception", KIND, names=trigger_code(view, expr))
    return {"ran": bool(_outermost(view)), "failed": sorted({_key(c, r) for _f, c, r in failed})}


def _answer(view: RecordingView, c: Call, value: Any) -> Call | None:
    """The call inside ``c`` (its own, in its process) that returned ``value``: the answer the
    trigger's match rejected."""
    want = fmt(value, 300)
    best = None
    for d in view.calls_by_pid.get(c.pid, []):
        if d.parent is c and d.outcome == "return" and d.ts >= c.ts and fmt(d.value, 300) == want:
            best = d
    return best


def trigger_failures(view: RecordingView, book: FactBook, earlier: list[dict] | None = None,
                     expr: str | None = None) -> None:
    """Turn the exception facts that are the trigger's own failures into ``trigger_failed``
    facts (see the module's doc). ``earlier``: :func:`runs` of the diagnosis's earlier rounds;
    ``expr``: the trigger expression (the functions it names are the trigger's code)."""
    before = [r for r in (earlier or []) if r.get("ran")]
    seen_before = {k for r in before for k in r.get("failed", [])}
    names = trigger_code(view, expr)
    for f, c, reason in _failing(view, book, "exception", names=names):
        match = _match_failure(reason)
        # the trigger's outermost call: in the rpc's process, or its code's in a process it started
        own = c.parent is None and is_app_module(c.module) and (c.pid in view.rpc_workers or _is_trigger_code(c, names))
        answered = _answer(view, c, match[1]) if (match and own) else None
        new = bool(before) and (own or match is not None) and _key(c, reason) not in seen_before
        if answered is None and not new:
            continue
        got = fmt(match[1], 100) if match else fmt(R.core(reason), 100)
        if answered is not None:
            why = (f"the trigger's own check failed: {c.mfa} expected another answer than {got} from "
                   f"{answered.mfa} — the reproduction's assumption, not the application's bug")
            where = Culprit(module=mod_name(answered.module), function=R.source_function(answered.function, answered.arity),
                            detail=got, process=view.label(answered.pid))
            f.evidence.insert(1, view.end_evidence(answered, f"{answered.mfa} returned {got}"))
        else:
            why = (f"the trigger failed in its own code ({c.mfa}: {got}) in this round only — an earlier round ran it "
                   f"without this failure: that round changed what the trigger relies on, or the bug is timing "
                   f"dependent and did not happen again")
            where = f.culprit
        book.rekind(f, KIND)
        f.title = f"the trigger failed: {f.title}"
        f.signatures = ["trigger:failed"]
        f.severity = "low"
        f.confidence = min(f.confidence, 0.2)
        f.weak = why
        f.culprit = where
        f.fix_hint = ("Make the reproduction repeatable: a trigger that creates what it then uses should accept "
                      "what an earlier run left (an `{:error, :exists}` or the record itself), or use new names "
                      "each run; then diagnose again.")
        book.meta[f.id]["trigger_note"] = why


def notes(book: FactBook, round_no: int) -> list[str]:
    """A gap note per trigger failure: the round's evidence does not rest on it."""
    return [f"round {round_no}: {book.meta[f.id]['trigger_note']}; this round's evidence does not rest on it"
            for f in book.facts if f.detector == KIND and "trigger_note" in book.meta.get(f.id, {})]
