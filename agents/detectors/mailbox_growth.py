"""Mailbox overload: a process receives faster than it handles.

Proof from two sides: the samples taken while recording show the process's
``message_queue_len`` growing steadily, and the recording shows why — its callbacks take
longer on average than the interval between arriving messages (``receive`` events vs the
callback calls that consume them). The dominant message shape and the slow callback are the
culprit.
"""

from __future__ import annotations

from collections import Counter

from ..findings import Culprit, Evidence, Finding
from ..view import RecordingView, fmt, mod_name

MIN_GROWTH = 50        # messages more at the end than at the start
MIN_RISING = 0.6       # share of sample steps that rose

# trace-signature tokens (knowledge/signatures.py VOCABULARY) this detector proves
SIGNATURES = ("mailbox:growing", "message:rate_high", "callback:slow")


def _shape(msg) -> str:
    """A message's shape: its tag and arity, e.g. ``{:"$gen_cast", {:work, _}}``."""
    if isinstance(msg, tuple) and msg:
        inner = msg[1] if len(msg) == 2 and getattr(msg[0], "name", "") in ("$gen_cast", "$gen_call") else None
        head = fmt(msg[0], 40)
        if inner is not None:
            if isinstance(inner, tuple) and inner:
                return f"{{{head}, {{{fmt(inner[0], 40)}, …}}}}"
            return f"{{{head}, {fmt(inner, 40)}}}"
        return f"{{{head}, …}}"
    return fmt(msg, 40)


def _unwrap(msg):
    """The request inside a ``$gen_cast`` / ``$gen_call`` envelope, else the message."""
    if isinstance(msg, tuple) and len(msg) in (2, 3) and getattr(msg[0], "name", "") in ("$gen_cast", "$gen_call"):
        return msg[-1]
    return msg


def detect(view: RecordingView) -> list[Finding]:
    if len(view.samples) < 3:
        return []
    pids = set()
    for s in view.samples:
        pids.update(s.queues)
    findings = []
    for pid in sorted(pids):
        if pid < 0 and not (view.proc(pid) and view.proc(pid).name):
            # sampled but never seen in the recording: not traced at all (the tracer itself is one)
            continue
        series = [(s.ts, s.queues.get(pid, 0)) for s in view.samples]
        first, last = series[0][1], series[-1][1]
        peak = max(q for _, q in series)
        rises = sum(1 for (_, a), (_, b) in zip(series, series[1:]) if b > a)
        if last - first < MIN_GROWTH or rises < MIN_RISING * (len(series) - 1):
            continue
        findings.append(_finding(view, pid, series, peak))
    return findings


def _finding(view: RecordingView, pid: int, series, peak: int) -> Finding:
    t0, q0 = series[0]
    t1, q1 = series[-1]
    secs = max((t1 - t0) / view.time_unit, 1e-9)
    growth = (q1 - q0) / secs
    received = [m for m in view.messages if m.receiver == pid and m.receive_ts is not None]
    shapes = Counter(_shape(m.msg) for m in received)
    shape, n_shape = shapes.most_common(1)[0] if shapes else ("?", 0)
    example_msg = next((_unwrap(m.msg) for m in received if _shape(m.msg) == shape), None)
    callbacks = [c for c in view.calls_by_pid.get(pid, []) if c.function.startswith("handle_")]
    durations = Counter()
    counts = Counter()
    for c in callbacks:
        d = c.duration(view.time_unit)
        if d is not None:
            durations[(c.module, c.function, c.arity)] += d
            counts[(c.module, c.function, c.arity)] += 1
    slow = max(durations, key=lambda k: durations[k] / counts[k], default=None)
    module = mod_name(slow[0]) if slow else mod_name(view.module_of_pid.get(pid, "?"))
    function = f"{slow[1]}/{slow[2]}" if slow else None
    mean = durations[slow] / counts[slow] if slow else None
    recv_rate = len(received) / secs if received else None
    evidence: list[Evidence] = [
        view.evidence(None, "sample", t0, pid, f"message_queue_len {q0}"),
        view.evidence(None, "sample", t1, pid, f"message_queue_len {q1} (peak {peak})"),
    ]
    for m in received[:3]:
        evidence.append(view.evidence(m.receive_id, "receive", m.receive_ts, pid, f"received {fmt(m.msg)}"))
    example = next((c for c in callbacks if slow and (c.module, c.function, c.arity) == slow), None)
    if example is not None:
        evidence.append(view.call_evidence(example))
        if example.end_id:
            evidence.append(view.end_evidence(example, f"{example.mfa} took {example.duration(view.time_unit):.1f} ms"))
    rate_text = f"; it received ~{recv_rate:.0f} msg/s" if recv_rate else ""
    handle_text = f" while {module}.{function} takes {mean:.1f} ms per message (at most {1000 / mean:.0f}/s)" if mean else ""
    return Finding(
        detector="mailbox_growth",
        title=f"Mailbox of {view.label(pid)} grows without bound",
        summary=(
            f"The mailbox of {view.label(pid)} grew from {q0} to {q1} messages in {secs:.1f} s "
            f"(+{growth:.0f}/s){rate_text}{handle_text}. Most messages are {shape} ({n_shape} seen). "
            "The producer is faster than this consumer: memory grows, latency grows, and calls to it time out."
        ),
        severity="high",
        confidence=0.9 if received else 0.75,
        culprit=Culprit(module=module, function=function,
                        detail=fmt(example_msg) if example_msg is not None else shape, process=view.label(pid)),
        evidence=evidence,
        causal_chain=evidence[:2],
        signatures=list(SIGNATURES),
        fix_hint=(
            "Apply back-pressure: make the producer call instead of cast (so it waits), batch the work, "
            "shed load when the queue is long (`Process.info(self(), :message_queue_len)`), or spread the "
            "work over a pool of workers."
        ),
    )
