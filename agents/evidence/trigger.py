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

Such an exception fact becomes ``trigger_failed`` (before anything is linked to it): reported, with its events, never a hypothesis
(:mod:`~elixir_scope.agents.hypotheses` leaves it out), so a round whose only news is the
trigger's failure decides nothing and the diagnosis rests on the rounds where the bug showed.
Its culprit names the call whose answer the trigger did not expect (where to look), not the
trigger. A failure deeper in the application that the trigger merely called (a crash in a client
function, an exit of a ``GenServer.call``) is left alone: that is the bug showing.
"""

from __future__ import annotations

from typing import Any

from ..findings import Culprit
from ..view import Call, RecordingView, fmt, is_app_module, mod_name
from . import reasons as R
from .book import FactBook

__all__ = ["KIND", "notes", "runs", "trigger_failures"]

KIND = "trigger_failed"
MATCH_FAILURES = ("badmatch", "case_clause", "with_clause", "try_clause")


def _outermost(view: RecordingView) -> list[Call]:
    """The calls the trigger expression made: an rpc worker's application calls with no caller."""
    return [c for c in view.calls if c.pid in view.rpc_workers and c.parent is None and is_app_module(c.module)]


def _match_failure(reason: Any) -> tuple[str, Any] | None:
    core = R.core(reason)
    if isinstance(core, tuple) and len(core) == 2 and R.atom_name(core[0]) in MATCH_FAILURES:
        return R.atom_name(core[0]), core[1]
    return None


def _key(c: Call, reason: Any) -> str:
    core = R.core(reason)
    tag = R.atom_name(core[0]) if isinstance(core, tuple) and core else R.atom_name(core)
    return f"{c.mfa} {tag or fmt(core, 40)}"


def _failing(view: RecordingView, book: FactBook, *kinds: str) -> list[tuple[Any, Call, Any]]:
    """(fact, failing call, reason) for the facts of ``kinds`` raised in the trigger's process."""
    out = []
    for f in book.of_kind(*kinds):
        m = book.meta.get(f.id, {})
        c = m.get("call")
        if c is None or c.pid not in view.rpc_workers or m.get("cls") not in ("error", "throw"):
            continue
        out.append((f, c, m.get("reason")))
    return out


def runs(view: RecordingView, book: FactBook) -> dict:
    """What one round's trigger did (for the rounds after it): whether it ran, and the keys of the
    failures raised in its process (``Mod.fun/arity tag``). JSON-serialisable (a checkpoint)."""
    return {"ran": bool(_outermost(view)), "failed": sorted({_key(c, r) for _f, c, r in _failing(view, book, "exception", KIND)})}


def _answer(view: RecordingView, c: Call, value: Any) -> Call | None:
    """The call inside ``c`` (its own, in its process) that returned ``value``: the answer the
    trigger's match rejected."""
    want = fmt(value, 300)
    best = None
    for d in view.calls_by_pid.get(c.pid, []):
        if d.parent is c and d.outcome == "return" and d.ts >= c.ts and fmt(d.value, 300) == want:
            best = d
    return best


def trigger_failures(view: RecordingView, book: FactBook, earlier: list[dict] | None = None) -> None:
    """Turn the exception facts that are the trigger's own failures into ``trigger_failed``
    facts (see the module's doc). ``earlier``: :func:`runs` of the diagnosis's earlier rounds."""
    before = [r for r in (earlier or []) if r.get("ran")]
    seen_before = {k for r in before for k in r.get("failed", [])}
    for f, c, reason in _failing(view, book, "exception"):
        match = _match_failure(reason)
        own = c.parent is None and is_app_module(c.module)
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
