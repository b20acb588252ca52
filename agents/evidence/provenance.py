"""Value provenance: from the values the symptom states to the function that produced them.

A wrong value leaves no crash and no timeout; the user names it ("only 17 reminders", "put back
on 2.9.4", "'JÃ¼rgen MÃ¼ller'"). :mod:`.stated` reads those values and their roles (what came
out — ``seen`` — and what should have — ``expected``); these analyses look for them in the
recorded calls of the application (arguments and results, the state a callback was given):

| kind | what | culprit |
| --- | --- | --- |
| ``value_origin`` | the first call whose result holds a value the symptom says came out, while its arguments (and the state it was given) do not — the deepest such call: its callers only pass it on; a quoted text it only printed from a record it was given is followed to the call that made the record (:mod:`.rendered`) | that function, and the value |
| ``value_lost`` | a call given a value the symptom says should have come out, together with the one that came out, returns the latter and not the former: a choice or a lookup picked the wrong one | that function, both values |
| ``served_for_other_request`` | a callback answers a request with a stated value it did not compute but took from its state, where an earlier call of the same callback had stored it while answering a different request (a cache or memo keyed too coarsely) | that callback, both requests |

Only the application's own functions count (not the stdlib, whose calls are not recorded
anyway), every value a symptom states is looked for in a bounded number of calls, and a call
whose arguments the agent cut proves nothing (the value might be in the part cut off).
"""

from __future__ import annotations

from collections.abc import Callable

from ..findings import Finding
from ..view import Call, RecordingView, fmt, is_app_module
from .book import FactBook
from .pinned import pinned_fact, pinned_part
from .rendered import rendered_record
from .helpers import case_elsewhere, link_inside, names_case, unrecorded_helpers, wrong_part, wrong_part_fact
from .inputs import origins_from_inputs
from .parts import summed_from
from .upstream import combined_from, scaled_part
from .repeats import claims_duplicates, repeated_values
from .common import ancestors as _ancestors, app_returns, culprit_of, message_senders
from .stated import MEASURES, StatedValue, stated_values
from .valuematch import Digest, Digests, as_text_field, digest, held, occurs, significant

MAX_CALLS = 20_000   # app calls looked at per recording
MAX_FACTS = 3        # facts of one kind per recording
MAX_TARGETS = 8      # stated values followed per analysis
MAX_CHECKS = 200     # candidate calls examined closely per value
MAX_CASES = 12       # calls that made a stated value searched for the failing case's helper


class _Seen:
    """A recorded call; its arguments, result and — for a callback — state, request and reply
    digested when a rule first asks about them (most calls are only ever asked whether their
    result holds a value), once, through the recording's :class:`~.valuematch.Digests`."""

    __slots__ = ("call", "callback", "_digests", "_args", "_value", "_state", "_request", "_reply")

    def __init__(self, call: Call, digests: Digests | None = None) -> None:
        self.call = call
        # a callback's last argument is its state: ``state``, ``request`` and ``reply`` are None otherwise
        self.callback = call.function.startswith("handle_") and len(call.args) >= 2
        self._digests = digests if digests is not None else Digests()
        self._args = self._value = self._state = self._request = self._reply = None

    @property
    def args(self) -> Digest:
        if self._args is None:
            self._args = digest(tuple(self.call.args))
        return self._args

    @property
    def value(self) -> Digest:
        if self._value is None:
            self._value = self._digests(self.call.value)
        return self._value

    @property
    def state(self) -> Digest | None:
        """The last argument of a callback (its state), else None."""
        if self._state is None and self.callback:
            self._state = self._digests(self.call.args[-1])
        return self._state

    @property
    def request(self) -> Digest | None:
        """The other arguments of a callback, else None."""
        if self._request is None and self.callback:
            self._request = digest(tuple(self.call.args[:-1]))
        return self._request

    @property
    def reply(self) -> Digest | None:
        """What a callback answered (``{:reply, r, _}``; an empty digest for another result), else None."""
        if self._reply is None and self.callback:
            self._reply = digest(_reply(self.call.value))
        return self._reply


def _calls(view: RecordingView) -> list[_Seen]:
    """The application's returned calls, not the trigger itself (the outermost call of an rpc
    worker: it returns whatever it ran, and nothing calls it); nothing digested yet."""
    digests = Digests()
    out = []
    for c in app_returns(view):
        out.append(_Seen(c, digests))
        if len(out) >= MAX_CALLS:
            break
    return out


def _reply(value: object) -> object:
    """The answer in a ``handle_call`` result (``{:reply, r, state}``), else ``None``."""
    if isinstance(value, tuple) and len(value) >= 3 and getattr(value[0], "name", None) == "reply":
        return value[1]
    return None


def _request(c: Call) -> tuple:
    """What a callback was asked: its arguments without its state and, for ``handle_call/3``,
    without the caller (``from``: a pid and a fresh tag on every call, never the request)."""
    return tuple(c.args[:1]) if c.function == "handle_call" and len(c.args) == 3 else tuple(c.args[:-1])


def _innermost(hits: list[_Seen]) -> list[_Seen]:
    """The hits no other hit lies inside (a caller that only passes a value on is not kept)."""
    outer = set()
    for h in hits:
        outer |= _ancestors(h.call)
    return [h for h in hits if h.call.call_id not in outer]


def _when(v: StatedValue) -> bool:
    """A time of day, or a day without its year, that the symptom does not say came out: when
    something happened ("at 07:58 the screen lists …"), which the clock made, not the bug."""
    return v.role != "seen" and (v.kind == "time" or (v.kind == "date" and v.text.startswith("--")))


def _targets(values: list[StatedValue], calls: list[_Seen]) -> list[StatedValue]:
    """The values to follow: what the symptom says came out, then the other values it states
    that are not expectations."""
    usable = [v for v in values if significant(v) and v.role != "expected" and not _when(v)]
    return ([v for v in usable if v.role == "seen"] + [v for v in usable if v.role != "seen"])[:MAX_TARGETS]


def _grown(v: StatedValue, s: _Seen) -> bool:
    """A count reached by adding to a shorter list the call was given (an accumulation: a store
    that received n items in batches — the count is a list's length in its result), not made
    here by a filter, a query or a split, nor a sum over the list it was given."""
    if v.number is None or v.kind not in ("count", "number") or v.number != v.number.to_integral_value() \
            or v.unit in MEASURES or "." in v.text:
        return False   # a number with decimals, or a measurement (180 degrees), is no count of anything
    if int(v.number) not in s.value.lengths:
        return False   # the number is no list's length in the result (a sum, a field): nothing was accumulated
    return any(0 < n < v.number for n in s.args.lengths)


def _served_by_other_process(view: RecordingView, s: _Seen, v: StatedValue, calls: list[_Seen]) -> bool:
    """``s`` is a client function whose result came back in a reply: a callback of another
    process that ran while it waited returned the value (its origin is there, not here)."""
    c = s.call
    if c.end_ts is None:
        return False
    return any(o.call.pid != c.pid and o.callback and c.ts <= o.call.ts <= c.end_ts and occurs(v, o.value)
               for o in calls)


def _made_part(producer: _Seen, v: StatedValue, calls: list[_Seen]) -> _Seen:
    """For a text value: the deepest call inside ``producer`` that made a part of it — a text of
    its result that is a piece of the value and not in its arguments — when the producer only
    put the value together ("J 782.42 OLD | " <> the title a helper got wrong)."""
    if v.kind != "text":
        return producer
    best, depth = producer, producer.call.depth
    for s in calls:
        c = s.call
        if c.pid != producer.call.pid or c.depth <= depth or producer.call.call_id not in _ancestors(c):
            continue
        if isinstance(c.value, bytes) and len(c.value) >= 3 and not s.args.cut:
            part = c.value.decode("utf-8", "replace")
            if part in v.text and part != v.text and not any(part in t for t in s.args.texts):
                best, depth = s, c.depth
    return best


def _cut(calls: list[_Seen], c: Call) -> bool:
    """Whether the agent cut the arguments of ``c`` (one of ``calls``)."""
    return next((s.args.cut for s in calls if s.call is c), True)


def _explained(book: FactBook) -> set[str]:
    """Values a more precise provenance fact already follows."""
    return {book.meta[f.id].get("value") for f in book.of_kind("value_lost", "served_for_other_request")}


def value_origins(view: RecordingView, book: FactBook, values: list[StatedValue],
                  calls: list[_Seen] | None = None, callees: dict[str, list[str]] | None = None) -> None:
    """``callees``: the sources' static calls (caller → callees, ``Mod.f/arity``), to say which
    helper to look at when the call that made a value delegated to one the capture missed."""
    calls = _calls(view) if calls is None else calls
    done = _explained(book)
    n = 0
    made: list[tuple[Finding, StatedValue, _Seen]] = []
    targets = _targets(values, calls)
    if any(v.role == "seen" for v in targets):
        # the user said what came out: the other values are the context (what went in, what is right)
        targets = [v for v in targets if v.role == "seen"]
    for v in targets:
        if v.text in done or (v.kind == "identifier" and v.role != "seen"):
            continue   # an identifier the user only names a case by was made with its record, not computed wrong
        hits = [s for s in calls if occurs(v, s.value) and not s.args.cut and not held(v, s.args) and not _grown(v, s)
                and not as_text_field(v, s.args)]
        # a process's outermost function that is no callback returns to nobody (a spawned body)
        hits = sorted((h for h in _innermost(hits) if h.call.parent is not None or h.callback),
                      key=lambda h: (h.call.ts, h.call.call_id))
        first = next((h for h in hits[:MAX_CHECKS] if not _served_by_other_process(view, h, v, calls)), None)
        if first is None:
            if v.role == "seen" and _made_inline(view, book, v):
                n += 1
            continue
        # the failing case's own call, when other cases came to the same number (rightly, maybe)
        if not names_case(first, v, values, calls):
            first = next((h for h in hits[:MAX_CASES] if names_case(h, v, values, calls)
                          and not _served_by_other_process(view, h, v, calls)), first)
        elsewhere = case_elsewhere(first, v, values, calls)
        first = _made_part(first, v, calls)
        printer = None
        rendered = rendered_record(first.call, v, [s.call for s in calls], cut=lambda c: _cut(calls, c))
        if rendered is not None:
            # the call only printed a record it was given: the text is wrong where the record was made
            printer, first = first, next(s for s in calls if s.call is rendered[0])
        summed = summed_from(first, v, calls)
        adder = summed[2] if summed else None
        scaled = None
        if summed:
            first = summed[0]
            scaled = scaled_part(first, calls, values, v)
            if scaled:
                first = scaled[0][0]
        else:
            # the first call for the failing case, when other cases made the same number
            part = next((p for p in (wrong_part(h, v, values, calls) for h in [first] + hits[:MAX_CASES])
                         if p is not None), None)
            if part is not None:
                # a helper inside it returned the part that accounts for the whole error
                fact = wrong_part_fact(view, book, v, part)
                made.append((fact, v, part[0]))
                n += 1
                if n >= MAX_FACTS:
                    break
                continue
            pin = next((p for p in (pinned_part(book, h, v, values, calls) for h in [first] + hits[:MAX_CASES])
                        if p is not None), None)
            if pin is not None:
                # a helper inside it returned a whole number where a fraction was needed, or its boundary value
                fact = pinned_fact(view, book, v, pin)
                made.append((fact, v, pin["helper"]))
                n += 1
                if n >= MAX_FACTS:
                    break
                continue
            upstream = combined_from(first, v, values, calls)
            if upstream is not None:
                fact = _upstream_fact(view, book, v, upstream)
                _link_repeats(book, fact, fact_call(upstream))
                made.append((fact, v, upstream["producers"][0]))
                n += 1
                if n >= MAX_FACTS:
                    break
                continue
        c = first.call
        unseen = [] if summed else unrecorded_helpers(view, first, calls, callees)
        same = [h for h in hits if (h.call.module, h.call.function, h.call.arity) == (c.module, c.function, c.arity)]
        same = same or [first]
        conf = 0.72 if v.role == "seen" else 0.35
        fact = book.add(Finding(
            detector="value_origin",
            title=(f"{c.mfa} made the parts {adder.mfa} added up to {v.text}" if adder is not None
                   else f"{c.mfa} made the record {printer.call.mfa} printed as {v.text}" if printer is not None
                   else f"{c.mfa} is where {v.text} first came out"),
            summary=(f"The symptom states {v.describe()}. " + (
                f"{printer.call.mfa} printed it from a record it was given, every number and most words of it fields "
                f"of {fmt(rendered[1], 80)}: it only displayed the value. {c.mfa}({fmt(c.args, 80)}) made that "
                f"record (its result holds it, its arguments do not): the value is wrong where it was computed."
                if printer is not None else 
                f"{adder.mfa} returned it ({fmt(adder.value, 40)}) as the sum of {summed[1]} calls of "
                f"{summed[0].call.mfa}, each {fmt(scaled[1], 12)} times (or plus) what a call of {c.mfa} returned — a "
                f"rate the symptom states, applied right —, so the numbers were wrong where {c.mfa} made them "
                f"({c.mfa}({fmt(c.args, 60)}) → {fmt(c.value, 40)})." if adder is not None and scaled else
                f"{adder.mfa} returned it ({fmt(adder.value, 40)}) as the sum of {summed[1]} calls of {c.mfa}, "
                f"each returning a number its arguments do not hold ({c.mfa}({fmt(c.args, 60)}) → {fmt(c.value, 40)}): "
                f"the parts were wrong before they were added." if adder is not None and summed else
                f"The first recorded call whose result holds it while its "
                f"arguments{' and the state it was given' if first.callback else ''} do not is "
                f"{c.mfa}({fmt(c.args, 80)}) → {fmt(c.value, 80)}; the functions that called it only passed the "
                f"value on ({len(same)} such call(s) of {c.mfa}).")),
            severity="high", confidence=conf, culprit=culprit_of(view, c, v.text),
            evidence=[view.call_evidence(h.call, f"{h.call.mfa}({fmt(h.call.args, 60)})") for h in same[:2]]
            + ([view.end_evidence(c, f"returned {fmt(c.value, 80)}, the record printed as {v.text}"),
                view.end_evidence(printer.call, f"returned {fmt(printer.call.value, 80)}")] if printer is not None else
               [view.end_evidence(adder if adder is not None else c,
                                  f"returned {fmt((adder or c).value, 80)}, which holds {v.text}")]),
            signatures=["data:value_origin"],
            **({"weak": (f"{v.text} came out of a call for another case: {elsewhere[1].text}, the case the symptom "
                         f"names, was handled by {elsewhere[0].call.mfa}({fmt(elsewhere[0].call.args[:1], 50)}) in the "
                         "same process and did not come to it here — the other case may have come to it rightly")}
               if elsewhere else {"weak": (f"{c.mfa} delegates its work to {', '.join(unseen)} (the sources), whose "
                                           "calls the capture did not record: the value may have been made there — "
                                           f"look at {unseen[0]} first; another round records it")}
               if unseen else {}),
            fix_hint=(f"Check how {c.mfa} computes its result from its arguments: the value the user sees wrong is "
                      "made here, not in the functions that pass it on.")),
            pid=c.pid, ts=c.ts, value=v.text)
        _link_repeats(book, fact, c)
        link_inside(book, fact, first, calls)
        made.append((fact, v, first))
        n += 1
        if n >= MAX_FACTS:
            break
    _link_derived(book, made)


def fact_call(upstream: dict) -> Call:
    return upstream["producers"][0].call


def _upstream_fact(view: RecordingView, book: FactBook, v: StatedValue, up: dict) -> Finding:
    """The value is a correct combination of a list its maker was given (:mod:`.upstream`): the
    call that produced the list is where to look; with a stated number it lost, the culprit."""
    comb, prods, lost = up["combiner"].call, up["producers"], up["lost"]
    c = prods[0].call
    many = f"{len(prods)} calls of {c.mfa}, one per element" if len(prods) > 1 else f"{c.mfa}"
    gone = ", ".join(o.text for o in lost[:4])
    conf = (0.72 if v.role == "seen" else 0.45) if lost else 0.45
    return book.add(Finding(
        detector="value_origin",
        title=(f"{c.mfa} made the inputs {comb.mfa} combined into {v.text}"
               + (f": it was given {gone} and did not return {'it' if len(lost) == 1 else 'them'}" if lost else "")),
        summary=(f"The symptom states {v.describe()}. {comb.mfa} returned it as {up['how']} over the list it was "
                 f"given — right arithmetic on wrong inputs. That list was made earlier in the same process by {many} "
                 f"({c.mfa}({fmt(c.args, 60)}) → {fmt(c.value, 60)})"
                 + (f", which was given {gone} — numbers the symptom states — and did not return "
                    f"{'it' if len(lost) == 1 else 'them'}: the wrong element kept, a field read wrong, a part converted "
                    "wrong." if lost else
                    ": the inputs were wrong before they were combined (the recording does not show which of them).")),
        severity="high", confidence=conf, culprit=culprit_of(view, c, v.text),
        evidence=[view.call_evidence(p.call, f"{p.call.mfa}({fmt(p.call.args, 60)})") for p in prods[:2]]
        + [view.end_evidence(c, f"returned {fmt(c.value, 80)}"),
           view.end_evidence(comb, f"returned {fmt(comb.value, 60)}: {up['how']} of what it was given")],
        signatures=["data:value_origin"],
        **({} if lost else {"weak": (f"{comb.mfa} only combined its inputs; which of {c.mfa}'s results is wrong is "
                                     "not shown: state the values that should have gone in, or compare its results "
                                     "with its arguments")}),
        fix_hint=(f"Check how {c.mfa} makes each element from its arguments (which element it keeps, how it reads "
                  f"and converts a field): {comb.mfa} only combines what it gets.")),
        pid=c.pid, ts=c.ts, value=v.text)


def _made_inline(view: RecordingView, book: FactBook, v: StatedValue) -> bool:
    """No recorded call returned the value the user saw, but a process received it in a message
    (a cast or plain message, into a state that did not hold it): the sender made it — the
    first function up the sender's stack that was not given it (past client functions such as
    ``Board.show(key, value)`` that only pass it on), by its own code or by a function the
    capture did not trace. Said as a weak ``value_origin``: where to look, not a verdict."""
    senders = message_senders(view)
    for c in sorted((c for c in view.calls if c.function in ("handle_cast", "handle_info") and c.outcome == "return"
                     and len(c.args) >= 2 and c.call_id in senders), key=lambda c: (c.ts, c.call_id))[:MAX_CHECKS]:
        msg = digest(c.args[0])
        if msg.cut or not occurs(v, msg) or held(v, digest(c.args[-1])):
            continue
        m = senders[c.call_id]
        while m is not None and held(v, digest(tuple(m.args))):
            m = m.parent
        if m is None or not is_app_module(m.module) or (m.pid in view.rpc_workers and m.parent is None):
            return False   # the value came with the request that started it all (the trigger's own)
        if m.function.startswith("handle_") and len(m.args) >= 2 and held(v, digest(m.args[-1])):
            return False   # it was already in the sender's state: kept, not made there
        book.add(Finding(
            detector="value_origin",
            title=f"{m.mfa} made {v.text} and sent it on to {view.label(c.pid)}",
            summary=(f"The symptom says {v.describe()} came out. No recorded call returned it; {view.label(c.pid)} "
                     f"received it in {fmt(c.args[0], 80)} from {m.mfa}({fmt(m.args, 80)}), which was not given it: "
                     f"it was computed inside {m.mfa}, by its own code or by a function it calls that the capture "
                     "did not trace. The process that holds or shows the value only received it."),
            severity="medium", confidence=0.5, culprit=culprit_of(view, m, v.text),
            evidence=[view.call_evidence(m, f"{m.mfa}({fmt(m.args, 60)})"),
                      view.call_evidence(c, f"{c.mfa} received {fmt(c.args[0], 60)}")],
            signatures=["data:value_origin"],
            weak=(f"the value was made inside {m.mfa} where no traced call returned it: record the functions it "
                  "calls with their results (a helper module not in the capture) to see which one made it"),
            fix_hint=(f"Read {m.mfa} and the functions it calls: the value the user sees is computed there "
                      "before it is sent; the receiving process only keeps or shows it.")),
            pid=m.pid, ts=m.ts, value=v.text)
        return True
    return False


def _link_derived(book: FactBook, made: list[tuple[Finding, StatedValue, _Seen]]) -> None:
    """A stated value computed from another stated value that came out wrong earlier (a badge
    from a distance the user also calls wrong, a total from a wrong amount) is its effect: the
    call that made it was given the earlier value — in its arguments or the state it was given —
    after the call that made that one had returned."""
    for fact, v, s in made:
        for other, ov, os_ in made:
            if other is fact or ov.role != "seen" or v.role != "seen" or os_.call.end_ts is None \
                    or os_.call.end_ts > s.call.ts:
                continue
            if held(ov, s.args) or (s.callback and held(ov, s.state)):
                book.link(fact, other, f"it was computed from {ov.text}, which had already come out wrong")
                break


def _link_repeats(book: FactBook, fact: Finding, c: Call) -> None:
    """A wrong value made by a call that was handed a duplicated identifier (a balance loaded on a
    card whose code several buyers got) is an effect of the duplicate."""
    reps = book.of_kind("repeated_value")
    if not reps:
        return
    args, p = [fmt(c.args, 400)], c.parent
    while p is not None and len(args) < 20:
        args.append(fmt(p.args, 400))
        p = p.parent
    for rep in reps:
        if any(book.meta[rep.id]["value"] in a for a in args):
            book.link(fact, rep, "it was computed for an identifier that several callers were given")
            return


def values_lost(view: RecordingView, book: FactBook, values: list[StatedValue],
                calls: list[_Seen] | None = None) -> None:
    expected = [v for v in values if v.role == "expected" and significant(v)]
    if not expected:
        return
    calls = _calls(view) if calls is None else calls
    came_out = [v for v in _targets(values, calls) if v.kind in {e.kind for e in expected}]
    n = 0
    for e in expected:
        for v in came_out:
            if v.text == e.text:
                continue
            hits = [s for s in calls if occurs(v, s.value) and not s.value.cut and not occurs(e, s.value)
                    and not s.args.cut and occurs(e, s.args) and occurs(v, s.args)]
            hits = _innermost(hits)
            if not hits:
                continue
            first = min(hits, key=lambda h: (h.call.ts, h.call.call_id))
            c = first.call
            book.add(Finding(
                detector="value_lost",
                title=f"{c.mfa} was given {e.text} and returned {v.text}",
                summary=(f"The symptom expects {e.describe()} and saw {v.describe()}. {c.mfa} was given both "
                         f"({fmt(c.args, 100)}) and returned {fmt(c.value, 80)}: it kept {v.text} and dropped {e.text} "
                         f"({len(hits)} such call(s)) — the choice, comparison or lookup inside it picked the wrong one."),
                severity="high", confidence=0.78, culprit=culprit_of(view, c, f"{v.text} instead of {e.text}"),
                evidence=[view.call_evidence(c, f"{c.mfa}({fmt(c.args, 80)})"),
                          view.end_evidence(c, f"returned {fmt(c.value, 60)} (not {e.text})")],
                signatures=["data:value_lost"],
                fix_hint=(f"Look at how {c.mfa} chooses among its inputs: compare the values by what they mean "
                          "(Version.compare/2, Date.compare/2, Decimal.compare/2, the right key) rather than as terms "
                          "or text, and check which argument wins.")),
                pid=c.pid, ts=c.ts, value=v.text)
            n += 1
            if n >= MAX_FACTS:
                return


def served_for_other_requests(view: RecordingView, book: FactBook, values: list[StatedValue],
                              calls: list[_Seen] | None = None) -> None:
    calls = _calls(view) if calls is None else calls
    callbacks = [s for s in calls if s.callback]
    by_pid: dict[int, list[_Seen]] = {}
    for s in calls:
        by_pid.setdefault(s.call.pid, []).append(s)
    n = 0
    for v in _targets(values, calls):
        checked = 0
        for s in callbacks:
            c = s.call
            if not s.callback or not occurs(v, s.reply) or occurs(v, s.request) or not occurs(v, s.state) or s.state.cut:
                continue
            if v.kind == "text" and not any(v.text in t and t in s.state.texts for t in s.reply.texts):
                continue   # the text it answered holds the value but is not one the state kept: composed here
            checked += 1
            if checked > MAX_CHECKS:
                break
            end = c.end_ts if c.end_ts is not None else c.ts
            inside = [o for o in by_pid[c.pid] if c.ts <= o.call.ts <= end and o.call.call_id != c.call_id
                      and c.call_id in _ancestors(o.call) and occurs(v, o.value)]
            if inside or _worked_on(c, by_pid[c.pid], s.state):
                continue   # computed again, not served from the state
            stored = next((o for o in callbacks if o.call.pid == c.pid and o.call.ts < c.ts
                           and (o.call.module, o.call.function) == (c.module, c.function)
                           and occurs(v, o.value) and not held(v, o.args) and not o.args.cut), None)
            if stored is None or _request(stored.call) == _request(c) or _grown(v, stored):
                continue   # the same request answered again (a cache hit), or a store that accumulated the value
            book.add(Finding(
                detector="served_for_other_request",
                title=f"{c.mfa} answered {fmt(c.args[0], 50)} with what it computed for {fmt(stored.call.args[0], 50)}",
                summary=(f"The symptom states {v.describe()}. {c.mfa} answered {fmt(c.args[0], 80)} with "
                         f"{fmt(c.value, 80)} without computing it: it took it from its state, where it had stored it "
                         f"while answering {fmt(stored.call.args[0], 80)}. The two requests differ, the answer does not: "
                         "whatever keys the stored value leaves out of the request that made it."),
                severity="high", confidence=0.8,
                culprit=culprit_of(view, c, c.args[0]),
                evidence=[view.call_evidence(stored.call, f"{stored.call.mfa}({fmt(stored.call.args[0], 60)}) computed it"),
                          view.end_evidence(stored.call, f"returned {fmt(stored.call.value, 80)}"),
                          view.call_evidence(c, f"{c.mfa}({fmt(c.args[0], 60)})"),
                          view.end_evidence(c, f"answered {fmt(c.value, 80)} from its state")],
                signatures=["data:served_for_other_request"],
                fix_hint=("Key what is stored by everything the answer depends on (every argument of the request "
                          "that changes it: the market, the currency, the user), or do not share it between requests.")),
                pid=c.pid, ts=c.ts, value=v.text)
            n += 1
            break
        if n >= MAX_FACTS:
            return


def _worked_on(c: Call, same_pid: list[_Seen], state: Digest) -> bool:
    """The callback ``c`` handed a value of its request that its state does not hold to an
    application function it called: it computed its answer from this request (a helper that
    happened to return the same part as for an earlier request), it did not serve a stored one."""
    req = digest(_request(c))
    numbers = req.numbers - state.numbers
    texts = {t for t in req.texts if len(t) >= 3 and t not in state.texts}
    if not numbers and not texts:
        return False
    end = c.end_ts if c.end_ts is not None else c.ts
    for o in same_pid:
        if o.call.call_id == c.call_id or not (c.ts <= o.call.ts <= end) or not is_app_module(o.call.module) \
                or c.call_id not in _ancestors(o.call):
            continue
        if (o.args.numbers & numbers) or any(t in texts for t in o.args.texts):
            return True
    return False


def analyses(symptom: str, callees: dict[str, list[str]] | None = None) -> list[Callable[[RecordingView, FactBook], None]]:
    """The provenance analyses for ``symptom`` (none when it states no concrete value and speaks
    of no duplicate identifiers); ``callees`` as :func:`value_origins`."""
    values = stated_values(symptom)
    steps: list[Callable[[RecordingView, FactBook], None]] = []
    if claims_duplicates(symptom):
        steps.append(repeated_values)
    if not values:
        return steps
    cache: dict[int, list[_Seen]] = {}

    def seen(view: RecordingView) -> list[_Seen]:
        if id(view) not in cache:
            cache.clear()
            cache[id(view)] = _calls(view)
        return cache[id(view)]

    def origins(view: RecordingView, book: FactBook) -> None:
        value_origins(view, book, values, seen(view), callees)

    def lost(view: RecordingView, book: FactBook) -> None:
        values_lost(view, book, values, seen(view))

    def served(view: RecordingView, book: FactBook) -> None:
        served_for_other_requests(view, book, values, seen(view))

    def from_inputs(view: RecordingView, book: FactBook) -> None:
        origins_from_inputs(view, book, values, seen(view))

    return steps + [lost, served, origins, from_inputs]
