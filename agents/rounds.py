"""When a diagnosis takes another round, and what that round looks at: whether the leading
hypothesis is confirmed, the unrecorded nodes its culprit waits on, how much longer the next
capture lasts when nothing was seen, and which application modules the last recording showed
running. Pure functions of the graph's state (or a recording's view); agents/graph.py's
``judge`` and ``refocus`` nodes act on them.

A later round does not throw away a stronger finding of an earlier one (:func:`earlier_stands`):
what a round saw may be gone from the next one's recording (a crashed ``:temporary`` child is
removed from its supervisor; the next round records only its callers failing with ``noproc``).
A later round decides only when its best evidence is at least as strong as the strongest
earlier round's, or when it confirms that round's culprit — the same function, or a function
that culprit called in the later recording (:func:`refines`: a deeper look at the same place).
Otherwise the earlier finding stands and, when no round decides, the report explains it.
"""

from __future__ import annotations

from .state import DiagnosisState
from .view import RecordingView


def decided(state: DiagnosisState) -> tuple[bool, str]:
    """Whether the leading hypothesis is confirmed, and why (or why not)."""
    from .hypotheses import MIN_VERDICT

    hs = state.hypotheses
    if not hs:
        return False, "no fact in the recording supports any explanation"
    top = hs[0]
    if top.evidence_score < MIN_VERDICT:
        # the round's record names the leading hypothesis already: not again here
        return False, f"the leading hypothesis's evidence is too weak ({top.evidence_score:.2f} < {MIN_VERDICT})"
    if len(hs) > 1:
        second = hs[1]
        same = (top.culprit and second.culprit and (top.culprit.module, top.culprit.function)
                == (second.culprit.module, second.culprit.function))
        if not same and top.score - second.score < 0.03 and second.evidence_score >= MIN_VERDICT:
            return False, f"two explanations remain close: {top.title} ({top.score:.2f}) and {second.title} ({second.score:.2f})"
    return True, f"{top.title} is confirmed by {len(top.supporting_events)} event(s)"


# how much weaker a later round's best evidence may be and still count as "as strong" (the same
# fact recorded again scores within the chain and source boosts of itself)
AS_STRONG = 0.05


def _key(c) -> tuple[str, str | None] | None:
    return (c.module, c.function) if c is not None else None


def refines(view: RecordingView, earlier, later) -> bool:
    """Whether culprit ``later`` is ``earlier`` or a deeper function of it: the same function,
    a function of the module ``earlier`` names without one, or a function the recording shows
    running inside a call of ``earlier`` (its callee, at any depth)."""
    from .evidence.reasons import source_function
    from .view import mod_name

    if earlier is None or later is None:
        return False
    if _key(earlier) == _key(later) or (earlier.function is None and earlier.module == later.module):
        return True
    if later.function is None:
        return False
    for c in view.calls:
        if (mod_name(c.module), source_function(c.function, c.arity)) != (later.module, later.function):
            continue
        p = c.parent
        while p is not None:
            if (mod_name(p.module), source_function(p.function, p.arity)) == (earlier.module, earlier.function):
                return True
            p = p.parent
    return False


def earlier_stands(state: DiagnosisState) -> str | None:
    """Why this round must not decide against an earlier one: its best evidence is weaker than
    the strongest earlier round's and names another culprit that is no deeper look at it (None
    when the round may decide: a first round, evidence as strong, the same culprit or a deeper
    function of it — ``state.refines_earlier``, computed on this round's recording)."""
    best = state.best_round
    if not best or best.get("round") == state.round or not best.get("hypotheses") or not state.hypotheses:
        return None
    now, then = state.hypotheses[0], best["hypotheses"][0]
    if now.evidence_score + AS_STRONG >= best["score"] or state.refines_earlier:
        return None
    return (f"round {state.round}'s best, {now.title} ({_where(now)}, evidence {now.evidence_score:.2f}), is weaker "
            f"than round {best['round']}'s {then.title} ({_where(then)}, evidence {best['score']:.2f}) and does not "
            f"confirm it: the earlier finding stands")


def _where(h) -> str:
    return h.culprit.where if h.culprit else "no culprit"


def out_of_sight(state: DiagnosisState) -> list[str]:
    """The nodes not recorded that the leading culprit's process called without an answer: what
    holds it up is there, out of sight."""
    top = state.hypotheses[0] if state.hypotheses else None
    if top is None or top.culprit is None or not top.culprit.process:
        return []
    return list(dict.fromkeys(node for node, caller in state.unrecorded if caller == top.culprit.process))


def unseen_producers(state: DiagnosisState) -> list[str]:
    """The modules of the functions the leading culprit calls (the sources' static calls) whose
    returns this round did not record, when the leading explanation is a crash in that culprit
    (an ``exception`` at its first cause): the value it crashed on may have come from one of
    them, made outside its contract (``contract_broken``, agents/evidence/contracts.py) — a
    thing only their recorded returns can tell. The next round records them whole, with their
    returns (``refocus``: :func:`~.planner.callee_modules`)."""
    top = state.hypotheses[0] if state.hypotheses else None
    if top is None or top.culprit is None or not top.culprit.function or state.plan is None:
        return []
    origin = next((f for f in state.findings if f.id == top.origin_fact), None)
    if origin is None or origin.detector != "exception":
        return []
    recorded = {p.spec.split(" ")[0] for p in state.plan.specs if p.spec.endswith(":: return")}
    callees = (state.source_summary or {}).get("callees") or {}
    out: list[str] = []
    for callee in callees.get(f"{top.culprit.module}.{top.culprit.function}", []):
        module = callee.rpartition(".")[0]
        if module and module != top.culprit.module and module not in recorded and callee not in recorded \
                and module not in out:
            out.append(module)
    return out[:6]


#: the leading facts whose culprit may have passed on a value a recursive callee made
_VALUE_FACTS = ("exception", "contract_broken")


def unseen_loops(state: DiagnosisState) -> list[str]:
    """The self-recursive functions of the sources (``tail_loops``, recorded calls only: a
    traced return keeps a frame per round) that the leading culprit calls, directly or through
    one more function of the sources, when the leading explanation is a value the culprit
    crashed on or returned off its contract (an ``exception`` or ``contract_broken`` at its
    first cause): the value may have been made by the recursive function, whose result only its
    returns show. The next round records their returns (``loops_returned``); the agent's stack
    guard (docs/capture.md) bounds what a loop that never returns could cost, and
    :mod:`.evidence.contracts` counts only the outermost return of each recursive run."""
    top = state.hypotheses[0] if state.hypotheses else None
    if top is None or top.culprit is None or not top.culprit.function or state.plan is None:
        return []
    origin = next((f for f in state.findings if f.id == top.origin_fact), None)
    if origin is None or origin.detector not in _VALUE_FACTS:
        return []
    loops = set(state.tail_loops) - set(state.loops_returned)
    if not loops:
        return []
    callees = (state.source_summary or {}).get("callees") or {}
    first = callees.get(f"{top.culprit.module}.{top.culprit.function}", [])
    reach = list(dict.fromkeys(first + [c for f in first[:12] if f not in loops for c in callees.get(f, [])]))
    return [c for c in reach if c in loops][:4]


def weak(state: DiagnosisState) -> bool:
    """Nothing decisive was seen: no hypothesis, or the best one's evidence under the bar."""
    from .hypotheses import MIN_VERDICT

    return not state.hypotheses or state.hypotheses[0].evidence_score < MIN_VERDICT


def next_round_reason(state: DiagnosisState) -> str:
    if weak(state):
        return f"nothing relevant was seen: record {wider(state.seconds):g} s instead of {state.seconds:g} s, with every module that appeared"
    names = ", ".join(h.title for h in state.hypotheses[:2])
    return f"refocus on {names}: record what their signatures need, with the modules that appeared"


def wider(seconds: float) -> float:
    return round(min(seconds * 3.0, 60.0), 1)


def modules_seen(view: RecordingView) -> set[str]:
    """Application modules the recording shows running: callbacks, initial calls, registered
    module names, stack frames of exits."""
    from .evidence.reasons import stack_frames
    from .view import is_app_module

    out = set()
    for c in view.calls:
        if is_app_module(c.module):
            out.add(c.module.removeprefix("Elixir."))
    for p in view.procs.values():
        if p.init_module and is_app_module(p.init_module):
            out.add(p.init_module.removeprefix("Elixir."))
    for e in view.exits:
        for f in stack_frames(e.reason):
            if is_app_module(f.module):
                out.add(f.module.removeprefix("Elixir."))
    return out
