"""The last-resort lead: when no fact, no hypothesis and none of the recording's failures, empty
answers, exceptions or slow paths (agents/observations.py ``lead``) names anything, which of the
application functions the reproduction ran an experienced engineer would open first.

Every application function the recording holds a call of (not the trigger's own outermost call,
not generated functions; the first :data:`MAX_CALLS` calls, at most :data:`MAX_FUNCTIONS`
functions) is scored by general evidence that it made what the symptom complains about — never
by any app's names:

``score = words + 1.5·flows + 0.25·min(depth, 4) + computes + stated``

- **words** (at most 3): each word of the symptom (read as the planner's source candidates read
  it: ``knowledge.source.vocabulary.read_symptom`` — domain words loosely, a shared prefix of five
  letters; condition words as the same word up to inflection) counts once, where it meets best: a
  word of the function's name 1.0, of its module's name 0.5, of its body's identifiers, atoms and
  strings 0.5 (from the sources, when given: agents/lead_source.py), the body's at most 1.0 in all
  (a long dispatching body mentions everything; a name is the function's own claim);
- **flows** (1 or 0): one of its returns (not a bare atom, boolean, empty value or -1/0/1, nor a
  failure such as ``{:error, :timeout}``: that is the symptom, not a value made) is the
  trigger's result or a part of it — the function made what the reproduction got back; not when
  that return holds what another such call, made while it ran, returned (:func:`passed_on`: it
  passed the value on — the API function and the callback above the helper that made it);
- **depth**: how deep its calls ran below their process's first call, up to 4: deeper code is more
  specific than the API functions and callbacks that passed its result on;
- **computes** (+1, or −0.5): its body has arithmetic or comparison operators or calls into
  ``Enum``, the calendar or the number modules (a helper that computes); an OTP callback
  (``handle_*``, ``init``, ``terminate``) that does neither scores −0.5 (it dispatches);
- **stated** (1.5 or 0.75): a number the symptom states (agents/evidence/stated.py; not an
  identifier or a date, which say which case, not what was made) is in one of its returns (1.5)
  or only in its arguments (0.75).

A function needs evidence from the symptom itself (a word or a stated value) and a score of at
least :data:`MIN_SCORE`; the best becomes the report's suspect with detector ``lead``, confidence
``0.15 + 0.10·min(1, score/6)`` (0.15–0.25) and ``weak`` set — where to look first, never a
verdict. The weights are round numbers chosen once: a word in a name outweighs one in a body,
producing the answer outweighs a word, and no single part decides alone.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from elixir_scope.instrument.etf import Atom
from elixir_scope.knowledge.source.candidates import STOPWORDS, similar, words as name_words
from elixir_scope.knowledge.source.vocabulary import SymptomWords, read_symptom, same_word

from .evidence.common import culprit_of, is_empty
from .evidence.reasons import source_function
from .evidence.stated import stated_values
from .evidence.valuematch import digest, held, occurs
from .findings import Finding
from .lead_source import Body, read_bodies
from .observations import _app_calls, failure
from .view import Call, RecordingView, fmt, mod_name

MAX_CALLS = 50_000        # calls looked at
MAX_FUNCTIONS = 500       # functions scored
MAX_RETURNS = 20          # distinct returns of one function compared with the trigger's result
MAX_PARTS = 5_000         # parts of the trigger's result kept
MIN_SCORE = 1.5

W_NAME, W_MODULE, W_BODY, MAX_BODY, MAX_WORDS = 1.0, 0.5, 0.5, 1.0, 3.0
W_FLOW, W_DEPTH, MAX_DEPTH = 1.5, 0.25, 4
W_COMPUTES, W_DISPATCH = 1.0, -0.5
W_STATED_RETURN, W_STATED_ARGS = 1.5, 0.75

_CALLBACKS = ("handle_call", "handle_cast", "handle_info", "handle_continue", "handle_event", "init",
              "terminate", "code_change")


@dataclass
class Scored:
    """One function's score and the reasons it is made of."""

    mfa: str
    module: str                 # as the sources name it: ``MyApp.Cart``
    function: str               # ``name/arity``
    calls: list[Call]
    score: float = 0.0
    from_symptom: bool = False  # a word or a stated value met it
    reasons: list[str] = field(default_factory=list)
    best: Call | None = None    # the call to show: one whose return flowed, else the first


def _trivial(v: Any) -> bool:
    return (isinstance(v, (Atom, bool)) or v is None or (isinstance(v, int) and v in (-1, 0, 1))
            or is_empty(v) or v in (b"", ""))


def _unwrap(v: Any) -> Any:
    if isinstance(v, tuple) and len(v) == 2 and isinstance(v[0], Atom) and v[0].name == "ok":
        return v[1]
    return v


def _parts(term: Any, out: set[str], budget: list[int]) -> None:
    """The renderings of ``term`` and of every sub-term (bounded by ``budget``)."""
    stack = [term]
    while stack and budget[0] > 0:
        t = stack.pop()
        budget[0] -= 1
        if not _trivial(t):
            out.add(fmt(t, 200))
        if isinstance(t, (list, tuple)):
            stack.extend(t[:200])
        elif isinstance(t, dict):
            stack.extend(list(t.values())[:200])


def trigger_parts(view: RecordingView) -> set[str]:
    """What the reproduction got back: the results of the rpc workers' outermost calls, whole and in
    parts (rendered, so equal terms meet)."""
    out: set[str] = set()
    budget = [MAX_PARTS]
    for c in view.calls[:MAX_CALLS]:
        if c.pid in view.rpc_workers and c.parent is None and c.outcome == "return":
            _parts(c.value, out, budget)
    return out


def passed_on(c: Call, others: list[Call]) -> Call | None:
    """Another call whose value reached the reproduction, made while ``c`` ran (in any process: the
    callback its ``GenServer.call`` was answered by) and held in what ``c`` returned: ``c`` passed
    that value on; the innermost such call, or None."""
    if c.end_ts is None:
        return None
    mine: set[str] = set()
    _parts(c.value, mine, [MAX_PARTS])
    inside = [x for x in others if x is not c and x.end_ts is not None and c.ts <= x.ts and x.end_ts <= c.end_ts
              and fmt(_unwrap(x.value), 200) in mine]
    return max(inside, key=lambda x: (x.ts, -x.end_ts)) if inside else None


def _word_hits(said: SymptomWords, names: list[str]) -> set[str]:
    hits = {w for w in said.domain if any(similar(w, x) for x in names)}
    hits |= {w for w in said.conditions if any(same_word(w, x) for x in names)}
    return hits


def app_functions(view: RecordingView) -> dict[tuple[str, str], list[Call]]:
    """(module, ``name/arity``) → the recorded calls of each application function (see the
    module's doc for which calls count)."""
    by: dict[tuple[str, str], list[Call]] = defaultdict(list)
    for c in _app_calls(view)[:MAX_CALLS]:
        key = (mod_name(c.module), source_function(c.function, c.arity))
        if key in by or len(by) < MAX_FUNCTIONS:
            by[key].append(c)
    return by


def score_functions(view: RecordingView, symptom: str, bodies: dict[tuple[str, str], Body] | None = None
                    ) -> list[Scored]:
    """Every application function of the recording, scored (see the module's doc), best first."""
    said = read_symptom(symptom or "", STOPWORDS)
    stated = [v for v in stated_values(symptom or "") if v.number is not None]
    flowed_into = trigger_parts(view)
    bodies = bodies or {}
    out: list[Scored] = []
    flows: dict[str, Call] = {}
    for (module, fa), calls in app_functions(view).items():
        name = fa.rpartition("/")[0]
        s = Scored(mfa=f"{module}.{fa}", module=module, function=fa, calls=calls, best=calls[0])
        # words: each symptom word once, where it meets best
        short = module.split(".", 1)[-1] if "." in module else module
        in_name = _word_hits(said, name_words(name))
        in_module = _word_hits(said, name_words(short)) - in_name
        body = bodies.get((module, fa))
        in_body = (_word_hits(said, [w for w in body.words if len(w) >= 3]) - in_name - in_module) if body else set()
        words = min(MAX_WORDS, W_NAME * len(in_name) + W_MODULE * len(in_module) + min(MAX_BODY, W_BODY * len(in_body)))
        if words:
            s.from_symptom = True
            s.reasons.append("the symptom's " + "; ".join(
                f"{', '.join(repr(w) for w in sorted(ws))} in its {where}"
                for ws, where in ((in_name, "name"), (in_module, "module's name"), (in_body, "code")) if ws))
        # flows: a return of it is what the reproduction got back, or part of it
        seen: set[str] = set()
        flow = None
        for c in calls:
            if c.outcome != "return":
                continue
            v = _unwrap(c.value)
            if _trivial(v) or failure(c.value) is not None:
                continue
            key = fmt(v, 200)
            if key in seen:
                continue
            seen.add(key)
            if key in flowed_into:
                flow = c
                break
            if len(seen) >= MAX_RETURNS:
                break
        if flow is not None:
            s.best = flow
            s.reasons.append(f"it returned {fmt(flow.value, 60)}, which the reproduction got back")
            flows[s.mfa] = flow
        depth = min(MAX_DEPTH, min(c.depth for c in calls))
        if depth:
            s.reasons.append(f"it ran {depth} call(s) deep")
        computes = 0.0
        if body is not None and body.computes:
            computes = W_COMPUTES
            s.reasons.append("its code computes (" + ", ".join(
                x for x in (f"{body.operators} arithmetic or comparison operator(s)" if body.operators else "",
                            f"{body.computing_calls} call(s) into Enum, calendar or number modules"
                            if body.computing_calls else "") if x) + ")")
        elif name.startswith(_CALLBACKS):
            computes = W_DISPATCH
        stated_part = 0.0
        if stated:
            for c in calls[:MAX_RETURNS]:
                if c.outcome == "return":
                    dv = digest(c.value)
                    hit = next((v for v in stated if occurs(v, dv)), None)
                    if hit is not None:
                        stated_part = W_STATED_RETURN
                        s.best = c
                        s.reasons.append(f"it returned {hit.text!r}, a value the symptom states")
                        break
            if not stated_part:
                for c in calls[:MAX_RETURNS]:
                    da = digest(c.args)
                    hit = next((v for v in stated if held(v, da)), None)
                    if hit is not None:
                        stated_part = W_STATED_ARGS
                        s.reasons.append(f"it was given {hit.text!r}, a value the symptom states")
                        break
            if stated_part:
                s.from_symptom = True
        s.score = round(words + W_DEPTH * depth + computes + stated_part, 3)
        out.append(s)
    # the data path: the flow counts for the function that made the value, not for those that
    # passed it on (a call whose returned value holds what a call made during it returned)
    for s in out:
        flow = flows.get(s.mfa)
        if flow is None:
            continue
        inner = passed_on(flow, [f for m, f in flows.items() if m != s.mfa])
        if inner is None:
            s.score = round(s.score + W_FLOW, 3)
        else:
            s.reasons.append(f"it passed on what {inner.mfa} returned")
    out.sort(key=lambda x: (-x.score, -min(c.depth for c in x.calls), x.mfa))
    return out


def ranked(view: RecordingView, symptom: str, source_path: str | None = None,
           source_summary: dict | None = None) -> list[Scored]:
    """:func:`score_functions` with the bodies read from the sources (when given)."""
    wanted = set(app_functions(view))
    return score_functions(view, symptom, read_bodies(source_path, source_summary, wanted))


def confidence(score: float) -> float:
    return round(0.15 + 0.10 * min(1.0, score / 6.0), 2)


def word_lead(view: RecordingView, symptom: str, source_path: str | None = None,
              source_summary: dict | None = None) -> Finding | None:
    """The best-scored function as a weak suspect (see the module's doc), or None."""
    try:
        top = next((s for s in ranked(view, symptom, source_path, source_summary)
                    if s.from_symptom and s.score >= MIN_SCORE), None)
        if top is None:
            return None
        c = top.best or top.calls[0]
        ev = [view.call_evidence(c)] + ([view.end_evidence(c)] if c.end_id is not None else [])
        return Finding(
            detector="lead", title=f"{top.mfa} is where the reproduction's work meets the symptom's words",
            summary=(f"No fact in the recording explains the symptom. Of the application functions the reproduction "
                     f"ran, {top.mfa} ({len(top.calls)} call(s), e.g. {fmt(c.args, 80)} → {fmt(c.value, 60)}) fits it "
                     f"best (score {top.score:.2f}): " + "; ".join(top.reasons) + "."),
            severity="low", confidence=confidence(top.score), culprit=culprit_of(view, c, c.args),
            evidence=ev, weak="a lead from the calls the reproduction made and the symptom's words, not a fact")
    except Exception:   # a lead is a courtesy: none rather than a failed report
        return None


__all__ = ["Scored", "score_functions", "ranked", "word_lead", "trigger_parts", "app_functions", "confidence",
           "MIN_SCORE"]
