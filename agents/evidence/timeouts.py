"""The GenServer timeout in a callback's return value (``{:noreply, state, 1000}``): it fires
only when no other message arrives first, and any callback that returns *without* it cancels it.

| kind | what | culprit |
| --- | --- | --- |
| ``timeout_cancelled`` | a process arms the timeout in some returns; another callback, run before it fired, returns without one, and the timeout never fires afterwards | that callback and the message it handled |
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from ..findings import Finding
from ..view import Call, RecordingView, fmt, is_atom
from .book import FactBook
from .common import culprit_of, message_shape

CALLBACKS = ("init", "handle_call", "handle_cast", "handle_info", "handle_continue")


def _timeout(c: Call) -> tuple[bool, int | None] | None:
    """Whether ``c``'s return is a gen_server return, and the timeout it arms (None: none)."""
    v = c.value
    if c.outcome != "return" or not isinstance(v, tuple) or not v:
        return None
    n = {"reply": 3, "noreply": 2, "ok": 2}
    tag = next((t for t in n if is_atom(v[0], t)), None)
    if tag is None or c.function == "init" and tag != "ok" or c.function != "init" and tag == "ok":
        return None
    if len(v) == n[tag]:
        return True, None
    if len(v) == n[tag] + 1:
        last = v[-1]
        if isinstance(last, int) and not isinstance(last, bool) and last >= 0:
            return True, last
        return True, None   # :hibernate, {:continue, _}: no timeout armed
    return None


def cancelled_timeouts(view: RecordingView, book: FactBook) -> None:
    end = max((c.end_ts or c.ts for c in view.calls), default=None)
    if end is None:
        return
    for pid, calls in sorted(view.calls_by_pid.items()):
        cbs = [c for c in calls if c.function in CALLBACKS and (c.parent is None or c.parent.function not in CALLBACKS)]
        armed: tuple[Call, int] | None = None
        cancels: dict[tuple, list[tuple[Call, Call, int]]] = defaultdict(list)
        fired_after: dict[int, bool] = {}
        for c in cbs:
            r = _timeout(c)
            if r is None:
                continue
            if armed is not None:
                prev, t = armed
                waited = (c.ts - (prev.end_ts or prev.ts)) * 1000 // view.time_unit
                is_timeout = c.function == "handle_info" and c.args and is_atom(c.args[0], "timeout")
                if is_timeout:
                    for k in cancels:
                        for x in cancels[k]:
                            fired_after.setdefault(x[1].call_id, True)
                elif waited < t and r[1] is None and c.function != "init":
                    cancels[(c.function, message_shape(c.args[0]) if c.args else "")].append((prev, c, t))
            armed = (c, r[1]) if r[1] is not None else None
        for key, rows in sorted(cancels.items(), key=lambda kv: str(kv[0])):
            # the timeout never fired after one of these cancellations, though time enough passed
            silent = [(p, c, t) for p, c, t in rows if not fired_after.get(c.call_id)
                      and (end - (c.end_ts or c.ts)) * 1000 // view.time_unit > t]
            if not silent:
                continue
            prev, c, t = silent[0]
            msg: Any = c.args[0] if c.args else None
            book.add(Finding(
                detector="timeout_cancelled",
                title=f"{c.mfa} on {key[1]} cancels {view.label(pid)}'s {t} ms timeout",
                summary=(f"{prev.mfa} returned with a {t} ms timeout, but {c.mfa} handled {fmt(msg, 80)} before it "
                         f"fired and returned without one ({fmt(c.value, 80)}): a GenServer timeout is cancelled by "
                         f"any message, and {len(rows)} such message(s) kept {view.label(pid)} from ever timing out."),
                severity="high", confidence=0.7, culprit=culprit_of(view, c, msg),
                evidence=[view.call_evidence(prev, f"{prev.mfa} armed a {t} ms timeout"),
                          view.call_evidence(c, f"{c.mfa}({fmt(msg, 50)}) returned without a timeout")],
                signatures=["callback:timeout_cancelled", "message:no_effect"],
                fix_hint="Return the remaining timeout from every callback (or use Process.send_after/:erlang.start_timer "
                         "for an idle deadline that other messages do not reset)."),
                pid=pid, ts=c.ts)
