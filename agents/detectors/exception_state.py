"""Exceptions, the state that caused them, and the earlier transition that corrupted it.

A GenServer that crashes in ``handle_call`` is often innocent: an *earlier* message put a bad
value into its state (a field turned to ``nil``, a value of the wrong type) and a later,
unrelated request trips over it. Proof: the failing callback (an ``exception`` event, or the
process's ``exit`` with ``{error, stacktrace}``), the state it ran with (the recorded state
history), and — walking that history backwards — the transition that introduced the bad
value and the message that caused it. That earlier callback is the culprit.
"""

from __future__ import annotations

from typing import Any

from elixir_scope.store.state_changes import changes

from ..findings import Culprit, Finding, MessageArrow, StateDiff
from ..view import Atom, Call, RecordingView, StateStep, fmt, is_atom, mod_name

# trace-signature tokens (knowledge/signatures.py VOCABULARY) this detector proves
SIGNATURES = ("state:nil_field", "state:corrupted_by_earlier_message")


def _exception_tokens(reason: str) -> list[str]:
    for needle, token in (("FunctionClauseError", "exception:function_clause"), ("function_clause", "exception:function_clause"),
                          ("MatchError", "exception:badmatch"), ("badmatch", "exception:badmatch"),
                          ("KeyError", "exception:key_error"), ("badkey", "exception:key_error")):
        if needle in reason:
            return [token]
    return []


def _failures(view: RecordingView) -> list[Call]:
    out = []
    for c in view.calls:
        if c.outcome == "exception" and c.function.startswith("handle_"):
            cls = c.value[0] if isinstance(c.value, tuple) and c.value else None
            if cls is not None and (is_atom(cls, "error") or is_atom(cls, "throw")):
                out.append(c)
    return out


def _suspicious(changes) -> list:
    """Changes that plausibly corrupt a state: a value turned nil, a field removed, a type
    change (e.g. a list became an atom)."""
    bad = []
    for ch in changes:
        if ch.op in ("became_nil", "removed"):
            bad.append(ch)
        elif ch.op == "changed" and ch.before is not None and ch.after is not None:
            if _kind(ch.before) != _kind(ch.after):
                bad.append(ch)
    return bad


_MAX_SHAPES = 200   # earlier states of the process a suspicious change is checked against


def _unusual(prev: Any, nxt: Any, rows: list, earlier: list[Any]) -> list:
    """The rows of :func:`_suspicious` whose new shape none of the process's ``earlier`` states
    shows: a state is corrupt when its shape changes in a way its callbacks' other states do
    not (a field missing, nil or of another type where it never was), not when it churns as it
    always does — an entry of a collection (a map keyed by data: ids, names, refs) removed when
    its work is done, a field back to the nil it started with, a number counting."""
    raw = changes(prev, nxt)
    if len(raw) != len(rows):   # the two renderings of one diff: they always pair up
        return rows
    picked = {id(r) for r in _suspicious(rows)}
    out = []
    for ch, row in zip(raw, rows):
        if id(row) not in picked:
            continue
        if ch.kind == "removed":
            if ch.path and not isinstance(ch.path[-1], Atom):
                continue   # an entry of a collection taken out, not a field lost
            if any(_lacks(s, ch.path) for s in earlier):
                continue
        elif any(_shape_at(s, ch.path) == _shape(ch.new) for s in earlier):
            continue
        out.append(row)
    return out


_MISSING = object()


def _value_at(state: Any, path: tuple) -> Any:
    for k in path:
        try:
            state = state[k]
        except (KeyError, IndexError, TypeError):
            return _MISSING
    return state


def _lacks(state: Any, path: tuple) -> bool:
    parent = _value_at(state, path[:-1])
    return isinstance(parent, dict) and path[-1] not in parent


def _shape_at(state: Any, path: tuple) -> str | None:
    v = _value_at(state, path)
    return None if v is _MISSING else _shape(v)


def _shape(v: Any) -> str:
    """The kind of a raw state value, as :func:`_kind` reads its text."""
    if v is None or is_atom(v, "nil"):
        return "nil"
    if isinstance(v, bool) or is_atom(v, "true") or is_atom(v, "false"):
        return str(v).lower() if isinstance(v, bool) else v.name
    if isinstance(v, Atom):
        return "atom"
    if isinstance(v, (int, float)):
        return "number"
    if isinstance(v, (bytes, str)):
        return "string"
    if isinstance(v, dict):
        struct = v.get(Atom("__struct__"))
        return f"map {struct.name}" if isinstance(struct, Atom) else "map"
    return type(v).__name__


def _kind(text: str) -> str:
    if text in ("nil", "true", "false"):
        return text
    if text.startswith('"'):
        return "string"
    if text.startswith("%"):
        return "map"
    if text.startswith("["):
        return "list"
    if text.startswith("{"):
        return "tuple"
    if text.startswith(":"):
        return "atom"
    if text[:1].isdigit() or text[:1] == "-":
        return "number"
    return "other"


def detect(view: RecordingView) -> list[Finding]:
    findings = []
    seen = set()
    for fail in _failures(view):
        history = [s for s in view.states if s.pid == fail.pid and s.ts <= fail.ts]
        if not history:
            continue
        key = (fail.module, fail.function, fail.pid)
        if key in seen:
            continue
        seen.add(key)
        f = _explain(view, fail, history)
        if f:
            findings.append(f)
    return findings


def _explain(view: RecordingView, fail: Call, history: list[StateStep]) -> Finding | None:
    state_then = history[-1].state
    # walk backwards over transitions (before → after pairs in order of recording)
    corrupting = None
    diff_changes = []
    steps = sorted(history, key=lambda s: (s.ts, s.event_id))
    pairs = list(zip(steps, steps[1:]))
    for i in range(len(pairs) - 1, -1, -1):
        prev, nxt = pairs[i]
        rows = view.state_changes(prev.state, nxt.state)
        bad = _suspicious(rows) and _unusual(prev.state, nxt.state, rows,
                                             [s.state for s in steps[max(0, i + 1 - _MAX_SHAPES):i + 1]])
        if bad:
            corrupting, diff_changes = nxt, bad
            break
    reason = fmt(fail.value, 200)
    request = fail.args[0] if fail.args else None
    chain_up, p = [], fail.parent
    while p is not None and len(chain_up) < 8:
        chain_up.append(p.mfa)
        p = p.parent
    stack = f" (traced stack: {' <- '.join([fail.mfa, *chain_up])})" if chain_up else ""
    evidence = [
        view.call_evidence(fail, f"{fail.mfa} called with {fmt(request)}"),
        view.end_evidence(fail, f"{fail.mfa} raised {reason}"),
    ]
    chain = []
    diffs = []
    culprit_call = None
    if corrupting is not None:
        culprit_call = _callback_of(view, corrupting)
        ev = view.evidence(corrupting.event_id, "state", corrupting.ts, corrupting.pid,
                           "state changed: " + "; ".join(f"{c.path} {c.before} → {c.after}" for c in diff_changes))
        chain = []
        if culprit_call:
            chain.append(view.call_evidence(culprit_call, f"{culprit_call.mfa} handled {fmt(culprit_call.args[0] if culprit_call.args else None)}"))
        chain += [ev, evidence[0], evidence[1]]
        evidence.insert(0, ev)
        if culprit_call:
            evidence.insert(0, chain[0])
        diffs.append(StateDiff(pid=view.proc(corrupting.pid).pid if view.proc(corrupting.pid) else str(corrupting.pid),
                               process=view.label(corrupting.pid), event_id=corrupting.event_id,
                               caused_by=(f"{culprit_call.mfa} {fmt(culprit_call.args[0] if culprit_call.args else None, 60)}"
                                          if culprit_call else corrupting.callback),
                               changes=diff_changes))
    else:
        chain = evidence[:]
    if culprit_call is not None:
        msg = culprit_call.args[0] if culprit_call.args else None
        culprit = Culprit(module=mod_name(culprit_call.module), function=f"{culprit_call.function}/{culprit_call.arity}",
                          detail=fmt(msg), process=view.label(fail.pid))
        bad_path = diff_changes[0].path
        summary = (
            f"{fail.mfa} crashed with {reason} while handling {fmt(request)}{stack}. The state it ran with had "
            f"{bad_path} = {diff_changes[0].after}; that value was put there earlier, at "
            f"+{view.at_ms(corrupting.ts):.1f} ms, by {culprit_call.mfa} handling {fmt(msg)}. The crash is the "
            "symptom; the earlier message is the cause."
        )
        title = f"{fail.mfa} crashes on state corrupted by {culprit_call.mfa}"
        conf = 0.9
    else:
        culprit = Culprit(module=mod_name(fail.module), function=f"{fail.function}/{fail.arity}",
                          detail=fmt(request), process=view.label(fail.pid))
        summary = (f"{fail.mfa} crashed with {reason} while handling {fmt(request)}{stack}, with state "
                   f"{fmt(state_then, 200)}. No earlier transition introduced a suspicious value, so the "
                   "request itself is the likely trigger.")
        title = f"{fail.mfa} raises {reason[:60]}"
        conf = 0.7
    return Finding(
        detector="exception_state",
        title=title,
        summary=summary,
        severity="high",
        confidence=conf,
        culprit=culprit,
        evidence=evidence,
        causal_chain=chain,
        state_diffs=diffs,
        messages=[MessageArrow(sender="caller", receiver=view.label(fail.pid), message=fmt(request, 50),
                               at_ms=view.at_ms(fail.ts), kind="call")],
        signatures=list(SIGNATURES) + _exception_tokens(reason),
        fix_hint=(
            "Validate at the boundary: reject the bad value in the callback that accepted it (pattern-match "
            "or guard on the message, return {:error, reason}), and keep the state's invariants in one place "
            "(a struct with enforced keys and a constructor)."
        ),
    )


def _callback_of(view: RecordingView, step: StateStep) -> Call | None:
    """The callback invocation whose return produced this state."""
    best = None
    for c in view.calls_by_pid.get(step.pid, []):
        if c.function.startswith(("handle_", "init")) and c.running_at(step.ts):
            best = c
    if best is None:
        for c in view.calls_by_pid.get(step.pid, []):
            if c.function.startswith(("handle_", "init")) and c.ts <= step.ts:
                best = c
    return best
