"""Failures that raise nothing: error returns that callers ignore, messages handled with no
effect, callbacks that run far too often, and state that only grows.

These are the bugs behind "no errors in the logs", "the update never shows up", "CPU is busy
doing nothing" and "memory creeps up after a while": the recording holds them as ordinary
calls, returns and state steps, and only their pattern gives them away.

| kind | what | culprit |
| --- | --- | --- |
| ``ignored_error`` | a function returned ``{:error, _}``/``:error`` and its traced caller returned success | the caller that dropped the error |
| ``no_effect_message`` | every message of one shape a process got was handled without a state change or a send | the function that sent it (application code), else the handler |
| ``hot_callback`` | one callback of a process runs far more often than every other, on a message it sends itself | the application function it calls to reschedule, else the callback |
| ``state_growth`` | a process's state grows at almost every step and never shrinks | the callback that grows it |
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

from elixir_scope.instrument.etf import Atom

from ..findings import Culprit, Finding, StateChange, StateDiff
from ..view import Call, RecordingView, fmt, is_app_module, is_atom, mod_name
from .book import FactBook
from .reasons import source_function


def _culprit(view: RecordingView, c: Call, detail: Any = None) -> Culprit:
    return Culprit(module=mod_name(c.module), function=source_function(c.function, c.arity),
                   detail=fmt(detail, 150) if detail is not None else None, process=view.label(c.pid))


def is_error(v: Any) -> bool:
    if is_atom(v, "error"):
        return True
    return isinstance(v, tuple) and len(v) >= 2 and is_atom(v[0], "error")


def is_success(v: Any) -> bool:
    """What a caller returns when it says it succeeded (``:ok``, ``{:ok, _}``, a reply that is
    not an error); a caller that returns anything but an error went on all the same."""
    if is_atom(v, "ok") or is_atom(v, "true"):
        return True
    if isinstance(v, tuple) and v:
        head = v[0]
        if is_atom(head, "ok") or is_atom(head, "noreply"):
            return True
        if is_atom(head, "reply") and len(v) == 3:
            return not is_error(v[1])
    return False


def ignored_errors(view: RecordingView, book: FactBook) -> None:
    groups: dict[tuple, list[tuple[Call, Call]]] = defaultdict(list)
    for c in view.calls:
        if c.outcome != "return" or not is_error(c.value) or not is_app_module(c.module) or _generated(c.function):
            continue
        p = c.parent
        # the error may travel up through frames that only pass it on (an Enum.each fun, a helper
        # returning it as is) before the frame that drops it
        while p is not None and p.outcome == "return" and is_app_module(p.module) and (
                _generated(p.function) or (is_error(p.value) and fmt(p.value, 300) == fmt(c.value, 300))):
            p = p.parent
        if p is None or p.outcome != "return" or not is_app_module(p.module):
            continue
        if not is_error(p.value) and not _mentions(p.value, c.value):
            groups[(p.module, p.function, p.arity, c.module, c.function, c.arity)].append((p, c))
    for key in sorted(groups):
        pairs = groups[key]
        p, c = pairs[0]
        fix = ("Act on the error where it is returned: match {:error, reason} and return it (or log and "
               "retry); with `with`, make the else branch return the error instead of :ok.")
        ev = []
        for pp, cc in pairs[:4]:
            ev.append(view.end_evidence(cc, f"{cc.mfa} returned {fmt(cc.value, 100)}"))
            ev.append(view.end_evidence(pp, f"… and its caller {pp.mfa} returned {fmt(pp.value, 80)} anyway"))
        book.add(Finding(
            detector="ignored_error",
            title=f"{p.mfa} ignores the error {c.mfa} returns",
            summary=(f"{c.mfa} returned {fmt(c.value, 120)} {len(pairs)} time(s), and each time its caller {p.mfa} "
                     f"went on and returned {fmt(p.value, 80)}: the failure is silently dropped."),
            # a caller that says it succeeded is the clearer case; one that returns a count or a
            # summary may have accounted for the error in it
            severity="high", confidence=(min(0.7, 0.5 + 0.05 * len(pairs)) if is_success(p.value)
                                         else min(0.55, 0.43 + 0.02 * len(pairs))),
            culprit=_culprit(view, p, c.value), evidence=ev, signatures=["return:error_ignored", "return:error"],
            fix_hint=fix), pid=p.pid, ts=c.end_ts)


def _generated(name: str) -> bool:
    return name.startswith("-")


def _mentions(outer: Any, inner: Any) -> bool:
    """The caller passed the error on (inside its own return value)."""
    text = fmt(inner, 200)
    return len(text) > 8 and text in fmt(outer, 2000)


# ------------------------------------------------------------------------ no-effect messages
def _shape(msg: Any) -> str:
    if isinstance(msg, tuple) and len(msg) == 3 and is_atom(msg[0], "$gen_cast"):
        msg = msg[1]
    if isinstance(msg, tuple) and msg:
        head = msg[0]
        kinds = "".join("m" if isinstance(x, dict) else "l" if isinstance(x, list) else "t" if isinstance(x, tuple)
                        else "_" for x in msg[1:])
        return f"{{{fmt(head, 40) if isinstance(head, Atom) else '_'}, … /{len(msg)}{kinds and ' ' + kinds}}}"
    if isinstance(msg, Atom):
        return fmt(msg)
    return type(msg).__name__


def _state_pairs(view: RecordingView) -> dict[int, tuple[Any, Any]]:
    """callback call id → (state before, state after), from the state history."""
    by_pid: dict[int, list] = defaultdict(list)
    for s in view.states:
        by_pid[s.pid].append(s)
    out: dict[int, tuple[Any, Any]] = {}
    for pid, steps in by_pid.items():
        calls = [c for c in view.calls_by_pid.get(pid, []) if c.function.startswith("handle_")]
        for c in calls:
            if c.end_ts is None:
                continue
            before = next((s for s in steps if s.phase == "before" and c.ts <= s.ts <= c.end_ts), None)
            after = next((s for s in steps if s.phase == "after" and c.ts <= s.ts and s.ts >= c.end_ts - 1
                          and (s.ts - c.end_ts) * 1000.0 / view.time_unit < 5.0), None)
            if before is not None and after is not None:
                out[c.call_id] = (before.state, after.state)
    return out


def no_effect_messages(view: RecordingView, book: FactBook) -> None:
    pairs = _state_pairs(view)
    if not pairs:
        return
    sends_by_pid: dict[int, list[int]] = defaultdict(list)
    for m in view.messages:
        if m.sender is not None and m.send_ts is not None:
            sends_by_pid[m.sender].append(m.send_ts)
    groups: dict[tuple, list[Call]] = defaultdict(list)
    effect: set[tuple] = set()
    for c in view.calls:
        if c.call_id not in pairs or c.function not in ("handle_info", "handle_cast") or not c.args:
            continue
        key = (c.pid, c.module, c.function, _shape(c.args[0]))
        before, after = pairs[c.call_id]
        sent = any(c.ts <= t <= (c.end_ts or c.ts) for t in sends_by_pid.get(c.pid, []))
        nested = any(x.parent is c for x in view.calls_by_pid.get(c.pid, []))
        if fmt(before, 4000) == fmt(after, 4000) and not sent and not nested:
            groups[key].append(c)
        else:
            effect.add(key)
    senders = _senders(view)
    for key in sorted(groups, key=str):
        if key in effect or len(groups[key]) < 2:   # once is no pattern (it may have set a timer we cannot see)
            continue
        calls = groups[key]
        c = next((x for x in calls if _crash_notice(x.args[0])), calls[0])
        origin = senders.get(c.call_id)
        culprit = _culprit(view, c, c.args[0])
        who = ""
        # a message sent by the receiving module's own API is the shape its clauses were
        # written for: the handler, not the sender, decides what it does
        if origin is not None and origin.pid != c.pid and origin.module != c.module:
            culprit = _culprit(view, origin, c.args[0])
            who = f" It was sent by {origin.mfa} in {view.label(origin.pid)}."
        book.add(Finding(
            detector="no_effect_message",
            title=f"{view.label(c.pid)} ignores {key[3]} messages",
            summary=(f"{view.label(c.pid)} handled {len(calls)} message(s) shaped {key[3]} in {c.mfa} and not one "
                     f"changed its state or made it send anything (e.g. {fmt(c.args[0], 100)}): the message is "
                     f"swallowed, most likely by a catch-all clause, so whatever it should have done never happens.{who}"),
            severity="medium", confidence=min(0.6, 0.4 + 0.05 * len(calls)) + (0.1 if _crash_notice(c.args[0]) else 0.0),
            culprit=culprit,
            evidence=[view.call_evidence(x, f"{x.mfa} got {fmt(x.args[0], 80)}: no state change, nothing sent")
                      for x in calls[:5]],
            signatures=["message:no_effect", "callback:unhandled_message"],
            fix_hint=("Make the message and the clause agree (tag, arity, field names); log or crash on "
                      "unexpected messages instead of a silent catch-all.")),
            pid=c.pid, ts=c.ts)


def _crash_notice(msg: Any) -> bool:
    """A monitor's ``{:DOWN, ref, :process, pid, reason}`` or a trapped ``{:EXIT, pid, reason}``
    with an abnormal reason: the one message whose whole point is to be acted on."""
    if isinstance(msg, tuple) and len(msg) in (3, 5) and (is_atom(msg[0], "DOWN") or is_atom(msg[0], "EXIT")):
        reason = msg[-1]
        return not any(is_atom(reason, r) for r in ("normal", "shutdown", "noproc"))
    return False


def _senders(view: RecordingView) -> dict[int, Call]:
    """callback call id → the application call that sent the message it handles (computed
    once per view: the message received last before the callback that carries its argument)."""
    cached = getattr(view, "_es_senders", None)
    if cached is not None:
        return cached
    import bisect

    out: dict[int, Call] = {}
    by_receiver: dict[int, list] = defaultdict(list)
    # sends the store could not pair with their receive (addressed by a registered name): found
    # again by the message itself
    loose: dict[str, list] = defaultdict(list)
    for m in view.messages:
        if m.receiver is not None and m.receive_ts is not None and m.sender is not None:
            by_receiver[m.receiver].append(m)
        elif m.sender is not None and m.send_ts is not None and m.receive_id is None:
            loose[fmt(m.msg, 300)].append(m)
    for pid, msgs in by_receiver.items():
        msgs.sort(key=lambda m: m.receive_ts)
        times = [m.receive_ts for m in msgs]
        texts: dict[int, str] = {}
        for c in view.calls_by_pid.get(pid, []):
            if c.function not in ("handle_info", "handle_cast") or not c.args:
                continue
            text = fmt(c.args[0], 300)
            i = bisect.bisect_right(times, c.ts)
            for j in range(i - 1, max(i - 40, 0) - 1, -1):
                m = msgs[j]
                t = texts.get(j)
                if t is None:
                    t = texts[j] = fmt(m.msg, 400)
                if text in t:
                    if m.send_ts is not None:
                        frame = view.open_call_at(m.sender, m.send_ts)
                        if frame is not None:
                            out[c.call_id] = frame
                    break
    if loose:
        for c in view.calls:
            if c.call_id in out or c.function not in ("handle_info", "handle_cast") or not c.args:
                continue
            msg = c.args[0]
            if c.function == "handle_cast":
                msg = (Atom("$gen_cast"), msg)
            cands = [m for m in loose.get(fmt(msg, 300), []) if m.send_ts <= c.ts]
            if cands:
                m = cands[-1]
                frame = view.open_call_at(m.sender, m.send_ts)
                if frame is not None:
                    out[c.call_id] = frame
    view._es_senders = out
    return out


# ------------------------------------------------------------------------ rates
HOT_RATE = 20.0       # callbacks per second on one self-scheduled message shape
HOT_SHARE = 0.6       # …and this share of all its callbacks


def hot_callbacks(view: RecordingView, book: FactBook) -> None:
    for pid in sorted(view.calls_by_pid):
        cbs = [c for c in view.calls_by_pid[pid] if c.function in ("handle_info", "handle_cast") and c.args]
        if len(cbs) < 30:
            continue
        shapes = Counter((c.module, c.function, _shape(c.args[0])) for c in cbs)
        (mod, fun, shape), n = sorted(shapes.items(), key=lambda kv: (-kv[1], str(kv[0])))[0]
        hits = [c for c in cbs if (c.module, c.function, _shape(c.args[0])) == (mod, fun, shape)]
        span = (hits[-1].ts - hits[0].ts) / view.time_unit
        if span < 0.25:
            continue  # a burst is not a loop: a hot callback keeps going
        rate = len(hits) / span
        if rate < HOT_RATE or n < HOT_SHARE * len(cbs):
            continue
        # a process that schedules its own work (timer messages: no sender, or itself), not one
        # that is fed by others (that is mailbox pressure, not a hot loop)
        fed = _fed_by_others(view, pid, {h.call_id for h in hits})
        if fed > 0.2 * len(hits):
            continue
        # the helper that reschedules lives in the callback's own module (an API of another module is work, not timing)
        helpers = Counter((x.module, x.function, x.arity) for h in hits for x in view.calls_by_pid[pid]
                          if x.parent is h and x.module == h.module and not _generated(x.function))
        c0 = hits[0]
        culprit = _culprit(view, c0, c0.args[0])
        if helpers:
            (hm, hf, ha), _ = sorted(helpers.items(), key=lambda kv: (-kv[1], str(kv[0])))[0]
            inner = next(x for x in view.calls_by_pid[pid] if (x.module, x.function, x.arity) == (hm, hf, ha))
            culprit = _culprit(view, inner, inner.args[0] if len(inner.args) == 1 else inner.args or None)
        book.add(Finding(
            detector="hot_callback",
            title=f"{view.label(pid)} runs {c0.mfa} on {shape} {rate:.0f} times a second",
            summary=(f"{view.label(pid)} handled {len(hits)} {shape} messages in {span * 1000:.0f} ms ({rate:.0f}/s), "
                     f"{n * 100 // len(cbs)}% of its work: a timer rescheduled far too fast (an interval in the "
                     "wrong unit, or 0) keeps it busy doing the same thing."),
            severity="high", confidence=0.65, culprit=culprit,
            evidence=[view.call_evidence(h, f"{h.mfa} got {fmt(h.args[0], 60)}") for h in hits[:3]],
            signatures=["callback:rate_high", "reductions:high", "timer:leak"],
            fix_hint="Check the interval (milliseconds, not seconds) and reschedule only once per tick."),
            pid=pid, ts=c0.ts)


def _fed_by_others(view: RecordingView, pid: int, call_ids: set[int]) -> int:
    senders = _senders(view)
    return sum(1 for cid in call_ids if cid in senders and senders[cid].pid != pid)


def _ints(term: Any, depth: int = 0) -> list[int]:
    if isinstance(term, bool):
        return []
    if isinstance(term, int):
        return [term] if 5 <= term <= 3_600_000 else []
    if depth > 3:
        return []
    if isinstance(term, (list, tuple)):
        return [i for t in term[:20] for i in _ints(t, depth + 1)]
    if isinstance(term, dict):
        return [i for v in list(term.values())[:20] for i in _ints(v, depth + 1)]
    return []


def rate_changes(view: RecordingView, book: FactBook) -> None:
    """A self-scheduled callback (a periodic timer) whose rate jumps after another callback of
    the same process ran — faster than any interval that callback was given: the old timer
    was not cancelled when a new one was started, so every change adds a timer."""
    senders = _senders(view)
    for pid in sorted(view.calls_by_pid):
        calls = view.calls_by_pid[pid]
        periodic = [c for c in calls if c.function == "handle_info" and c.args and
                    not (c.call_id in senders and senders[c.call_id].pid != pid)]
        if len(periodic) < 8:
            continue
        shape = Counter(_shape(c.args[0]) for c in periodic).most_common(1)[0][0]
        ticks = [c.ts for c in periodic if _shape(c.args[0]) == shape]
        controls = [c for c in calls if c.function in ("handle_call", "handle_cast") and c.end_ts is not None]
        if len(ticks) < 8 or not controls:
            continue
        end = ticks[-1]
        best = None
        for i, k in enumerate(controls):
            nxt = controls[i + 1].ts if i + 1 < len(controls) else end
            after = [t for t in ticks if k.end_ts <= t <= nxt]
            if len(after) < 4:
                continue
            span = (after[-1] - after[0]) / view.time_unit
            if span <= 0:
                continue
            rate = (len(after) - 1) / span
            intervals = _ints(k.args[0] if k.args else None)
            expected = max((1000.0 / i for i in intervals), default=None)
            before = [t for t in ticks if t < k.ts]
            prev_rate = None
            if len(before) >= 3:
                bspan = (before[-1] - before[0]) / view.time_unit
                prev_rate = (len(before) - 1) / bspan if bspan > 0 else None
            ratio = rate / expected if expected else (rate / prev_rate if prev_rate else 0.0)
            if ratio >= 1.6 and (best is None or ratio > best[0]):
                best = (ratio, k, rate, expected, prev_rate, after)
        if best is None:
            continue
        ratio, k, rate, expected, prev_rate, after = best
        culprit = _culprit(view, k, k.args[0] if k.args else None)
        converted = ""
        configured = set(_ints(k.args[0] if k.args else None))
        for x in view.calls_by_pid.get(pid, []):
            # the configured value went through a conversion that changed it (the wrong unit)
            if x.parent is k and x.outcome == "return" and is_app_module(x.module) and not _generated(x.function) \
                    and isinstance(x.value, int) and not isinstance(x.value, bool) \
                    and any(a in configured for a in x.args if isinstance(a, int)) and x.value not in configured:
                culprit = _culprit(view, x, x.args[0] if len(x.args) == 1 else x.args)
                converted = f" {x.mfa} turned {fmt(x.args, 40)} into {x.value}, the interval actually used."
                break
        than = (f"{ratio:.1f}× the {1000.0 / expected:.0f} ms interval it was given" if expected
                else f"{ratio:.1f}× its rate before ({prev_rate:.1f}/s)")
        book.add(Finding(
            detector="rate_change",
            title=f"{view.label(pid)}'s {shape} timer runs {than} after {k.mfa}",
            summary=(f"After {k.mfa} handled {fmt(k.args[0] if k.args else None, 80)}, {view.label(pid)} handled {shape} "
                     f"{rate:.1f} times a second — {than}: the previous timer was not cancelled when the new one "
                     "started, so each change adds one more periodic timer — or the interval it set is not "
                     "the one it was given." + converted),
            severity="high", confidence=0.75, culprit=culprit,
            evidence=[view.call_evidence(k)] + [view.evidence(None, "sample", t, pid, f"{shape} handled") for t in after[:0]]
                     + [view.call_evidence(c) for c in periodic if c.ts in set(after[:4])],
            signatures=["callback:rate_high", "timer:leak"],
            fix_hint=("Keep the timer reference in the state and Process.cancel_timer/1 it before starting a new one "
                      "(or use a single :timer.send_interval and replace it).")),
            pid=pid, ts=k.ts)


# ------------------------------------------------------------------------ gen_statem
_EVENT_TYPES = ("cast", "info", "internal", "timeout", "state_timeout")


def _event_type(arg: Any) -> str | None:
    if isinstance(arg, Atom) and arg.name in _EVENT_TYPES:
        return arg.name
    if isinstance(arg, tuple) and arg and isinstance(arg[0], Atom) and arg[0].name in ("call", "timeout"):
        return arg[0].name
    return None


def _statem_effect(c: Call) -> bool | None:
    """Whether a state function's return did anything: None when it did not return."""
    v = c.value
    if c.outcome != "return":
        return None
    if is_atom(v, "keep_state_and_data") or is_atom(v, "repeat_state_and_data"):
        return False
    if isinstance(v, tuple) and v and isinstance(v[0], Atom):
        tag = v[0].name
        if tag in ("keep_state_and_data", "repeat_state_and_data"):
            # a reply answers the event; a postpone keeps it for the next state (not a drop)
            return any((isinstance(a, tuple) and a and is_atom(a[0], "reply")) or is_atom(a, "postpone")
                       for a in (v[1] if isinstance(v[1], list) else [v[1]]))
        if tag in ("keep_state", "repeat_state"):
            return fmt(v[1], 4000) != fmt(c.args[-1], 4000) if c.args else True
        if tag == "next_state":
            return True
    return True


def statem_events(view: RecordingView, book: FactBook) -> None:
    """Per-state handling of a gen_statem: an event the machine acts on in one state but drops
    (``keep_state_and_data``) in another."""
    groups: dict[tuple, list[tuple[Call, bool]]] = defaultdict(list)
    for c in view.calls:
        if c.arity not in (3, 4) or not c.args or not is_app_module(c.module) or c.function.startswith(("handle_", "-")):
            continue
        etype = _event_type(c.args[0])
        if etype is None:
            continue
        eff = _statem_effect(c)
        if eff is None:
            continue
        state = c.function if c.arity == 3 else fmt(c.args[2], 40)
        groups[(c.module, _shape(c.args[1]), etype)].append((c, eff, state))
    for key in sorted(groups, key=str):
        items = groups[key]
        acted = sorted({st for _c, eff, st in items if eff})
        for state in sorted({st for _c, _e, st in items}):
            dropped = [c for c, eff, st in items if st == state and not eff]
            if not dropped or any(eff for _c, eff, st in items if st == state):
                continue
            c = dropped[0]
            other = f" — in {', '.join(acted)} the same event changes the machine" if acted else ""
            book.add(Finding(
                detector="statem_dropped_event",
                title=f"{mod_name(c.module)} drops {key[1]} in state {state}",
                summary=(f"{mod_name(c.module)} got {len(dropped)} {key[2]} event(s) {fmt(c.args[1], 100)} in state "
                         f"{state} and did nothing with them (kept state and data, no reply){other}. The event is "
                         "swallowed, most likely by a catch-all clause of that state."),
                severity="high", confidence=0.75 if acted else 0.45,
                culprit=_culprit(view, c, c.args[1]),
                evidence=[view.call_evidence(x, f"{x.mfa} in state {state} got {fmt(x.args[1], 60)}") for x in dropped[:3]]
                         + [view.end_evidence(x, f"… and returned {fmt(x.value, 60)}") for x in dropped[:3]],
                signatures=["statem:unhandled_event", "message:no_effect"],
                fix_hint=("Handle the event in every state where it can arrive (match its current shape), and make the "
                          "catch-all clause log or postpone unexpected events instead of dropping them.")),
                pid=c.pid, ts=c.ts)


# ------------------------------------------------------------------------ state growth
def _size(term: Any, budget: int = 20000) -> int:
    """A term's size in elements, counting what the agent cut off (``{'$truncated', What,
    OriginalBytes}``) by its original size, so a state past the size limit still shows growth."""
    stack, n = [term], 0
    while stack and n < budget:
        t = stack.pop()
        n += 1
        if isinstance(t, tuple) and len(t) == 3 and is_atom(t[0], "$truncated") and isinstance(t[2], int):
            n += t[2] // 16
            continue
        if isinstance(t, (list, tuple)):
            stack.extend(t)
        elif isinstance(t, dict):
            for k, v in t.items():
                if is_atom(k, "$truncated") and isinstance(v, int):
                    n += 8 * v   # entries the agent elided: count them, or a capped state looks flat
                    continue
                stack.append(k)
                stack.append(v)
        elif isinstance(t, (bytes, str)):
            n += len(t) // 64
    return n


def _unique_key_builder(view: RecordingView, pid: int, growing: list[Call]):
    """A helper called once by every growing callback whose result is new every time (a key
    built from something unique per request): (an example call, how many distinct results)."""
    children: dict[tuple, list[Call]] = defaultdict(list)
    ids = {c.call_id for c in growing}
    for x in view.calls_by_pid.get(pid, []):
        if x.parent is not None and x.parent.call_id in ids and is_app_module(x.module) and x.outcome == "return" \
                and not _generated(x.function):
            children[(x.module, x.function, x.arity)].append(x)
    best = None
    for key in sorted(children, key=str):
        xs = children[key]
        if len(xs) < max(10, 0.8 * len(growing)):
            continue
        vals = {fmt(x.value, 300) for x in xs}
        small = all(len(fmt(x.value, 300)) < 200 for x in xs[:20])
        if small and len(vals) >= 0.95 * len(xs) and (best is None or len(vals) > best[1]):
            best = (xs[0], len(vals))
    return best


def state_growth(view: RecordingView, book: FactBook) -> None:
    by_pid = view.state_steps()
    for pid in sorted(by_pid):
        steps = by_pid[pid]
        if len(steps) < 15:
            continue
        sizes = [_size(s.state) for s in steps]
        ups = sum(1 for a, b in zip(sizes, sizes[1:]) if b > a)
        downs = sum(1 for a, b in zip(sizes, sizes[1:]) if b < a)
        if sizes[-1] < 2 * max(sizes[0], 1) or sizes[-1] - sizes[0] < 20 or ups < 0.6 * (len(sizes) - 1) or downs > 0.1 * len(sizes):
            continue
        growers = Counter()
        example: dict[tuple, tuple] = {}
        for prev, nxt in zip(steps, steps[1:]):
            if _size(nxt.state) > _size(prev.state):
                cb = next((c for c in reversed(view.calls_by_pid.get(pid, [])) if c.function.startswith("handle_")
                           and c.ts <= nxt.ts), None)
                if cb is not None:
                    k = (cb.module, cb.function, cb.arity)
                    growers[k] += 1
                    example.setdefault(k, (cb, prev, nxt))
        if not growers:
            continue
        k, _ = sorted(growers.items(), key=lambda kv: (-kv[1], str(kv[0])))[0]
        cb, prev, nxt = example[k]
        changes = [ch for ch in view.state_changes(prev.state, nxt.state) if ch.op in ("grown", "added")][:5]
        where = f" ({', '.join(ch.path for ch in changes)})" if changes else ""
        growing = [c for c in view.calls_by_pid.get(pid, []) if (c.module, c.function, c.arity) == k]
        keyer = _unique_key_builder(view, pid, growing)
        culprit = _culprit(view, cb, cb.args[0] if cb.args else None)
        if keyer is not None:
            kc, n_distinct = keyer
            culprit = _culprit(view, kc, kc.value)
            where += (f"; every call of {kc.mfa} inside it returned a different value ({n_distinct} of {len(growing)}), "
                      f"e.g. {fmt(kc.value, 80)}: entries keyed that way are never found again, so nothing is reused "
                      "and nothing is evicted")
        book.add(Finding(
            detector="state_growth",
            title=f"{view.label(pid)}'s state grows without bound",
            summary=(f"The state of {view.label(pid)} grew from {sizes[0]} to {sizes[-1]} terms over {len(steps)} steps and "
                     f"never shrank; {cb.mfa} grows it{where}, and nothing removes entries."),
            severity="high", confidence=round(min(0.7, 0.4 + len(steps) / 100), 3),
            culprit=culprit,
            evidence=[view.evidence(s.event_id, "state", s.ts, pid, f"state size {z}") for s, z in
                      list(zip(steps, sizes))[:: max(1, len(steps) // 4)][:5]] + [view.call_evidence(cb)],
            state_diffs=[StateDiff(pid=view.proc(pid).pid if view.proc(pid) else str(pid), process=view.label(pid),
                                   event_id=nxt.event_id, caused_by=cb.mfa, changes=[
                                       StateChange(path=ch.path, op=ch.op, before=ch.before, after=ch.after) for ch in changes])],
            signatures=["state:growing", "memory:process_heap_growing"],
            fix_hint="Bound what the state keeps: evict old entries (by age or count), or move it to ETS with a cleanup."),
            pid=pid, ts=steps[0].ts)
