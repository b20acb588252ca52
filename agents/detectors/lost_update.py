"""Lost updates from read-modify-write races on ETS.

``:ets.lookup`` then ``:ets.insert`` of the same key is not atomic: when two processes both
read the old value before either writes, one increment is lost. Proof: for one table and key,
process A's lookup, then process B's lookup, then both inserts — B's read happened between A's
read and A's write. The app function that wraps the lookup/insert pair is the culprit
(``:ets.update_counter/3`` or a single owner process is the fix).
"""

from __future__ import annotations

from collections import defaultdict

from ..findings import Culprit, Finding, MessageArrow
from ..view import Call, RecordingView, fmt, mod_name

READS = {"lookup", "lookup_element", "member"}
WRITES = {"insert", "insert_new"}

# trace-signature tokens (knowledge/signatures.py VOCABULARY) this detector proves
SIGNATURES = ("ets:read_modify_write", "ets:concurrent_writers")


def _key_of_insert(c: Call):
    if len(c.args) >= 2:
        obj = c.args[1]
        if isinstance(obj, tuple) and obj:
            return obj[0]
        if isinstance(obj, list) and obj and isinstance(obj[0], tuple):
            return obj[0][0]
    return None


def _enclosing(c: Call) -> Call | None:
    """The innermost traced non-ETS call of the same process that contains ``c``."""
    p = c.parent
    while p is not None and p.module == "ets":
        p = p.parent
    return p


def detect(view: RecordingView) -> list[Finding]:
    # per (table, key): the read→write windows of each process
    windows: dict[tuple, list] = defaultdict(list)
    pending: dict[tuple, Call] = {}
    for c in sorted((c for c in view.calls if c.module == "ets"), key=lambda c: c.ts):
        if c.function in READS and len(c.args) >= 2:
            pending[(c.pid, fmt(c.args[0]), fmt(c.args[1]))] = c
        elif c.function in WRITES:
            k = _key_of_insert(c)
            if k is None:
                continue
            key = (c.pid, fmt(c.args[0]), fmt(k))
            read = pending.pop(key, None)
            if read is not None:
                windows[(key[1], key[2])].append((read, c))
    findings = []
    for (table, key), spans in windows.items():
        races = []
        spans.sort(key=lambda rw: rw[0].ts)
        for i, (r1, w1) in enumerate(spans):
            for r2, w2 in spans[i + 1:]:
                if r2.ts >= w1.ts:
                    break
                if r2.pid != r1.pid:
                    races.append(((r1, w1), (r2, w2)))
        if races:
            findings.append(_finding(view, table, key, spans, races))
    return findings


def _finding(view: RecordingView, table: str, key: str, spans, races) -> Finding:
    (r1, w1), (r2, w2) = races[0]
    outer = _enclosing(r1) or _enclosing(r2)
    module = mod_name(outer.module) if outer else "unknown"
    function = f"{outer.function}/{outer.arity}" if outer else None
    v1 = fmt(w1.args[1]) if len(w1.args) > 1 else "?"
    v2 = fmt(w2.args[1]) if len(w2.args) > 1 else "?"
    evidence = [
        view.call_evidence(r1, f"read {key} from {table}"),
        view.call_evidence(r2, f"read {key} from {table} before the first writer wrote"),
        view.call_evidence(w1, f"wrote {v1}"),
        view.call_evidence(w2, f"wrote {v2} — overwriting the other update"),
    ]
    if outer:
        evidence.insert(0, view.call_evidence(outer))
    return Finding(
        detector="lost_update",
        title=f"Lost updates: read-modify-write race on {table} key {key}",
        summary=(
            f"{len(races)} interleaved read-modify-write pairs on ETS table {table}, key {key}: "
            f"{view.label(r2.pid)} read the key while {view.label(r1.pid)} was between its read and its write, "
            f"so both wrote a value computed from the same old one ({v1} then {v2}). Each such race loses an "
            f"update. {len(spans)} read-then-write sequences were recorded, made by {module}"
            + (f".{function}" if function else "") + "."
        ),
        severity="high",
        confidence=0.9,
        culprit=Culprit(module=module, function=function, detail=key, process=f"ets {table}"),
        evidence=evidence,
        causal_chain=evidence[-4:],
        messages=[
            MessageArrow(sender=view.label(r1.pid), receiver=f"ets {table}", message=f"lookup {key}", at_ms=view.at_ms(r1.ts)),
            MessageArrow(sender=view.label(r2.pid), receiver=f"ets {table}", message=f"lookup {key}", at_ms=view.at_ms(r2.ts)),
            MessageArrow(sender=view.label(w1.pid), receiver=f"ets {table}", message=f"insert {v1}", at_ms=view.at_ms(w1.ts)),
            MessageArrow(sender=view.label(w2.pid), receiver=f"ets {table}", message=f"insert {v2}", at_ms=view.at_ms(w2.ts)),
        ],
        signatures=list(SIGNATURES),
        fix_hint=(
            f"Make the update atomic: `:ets.update_counter({table}, {key}, 1, {{{key}, 0}})` for counters, "
            "or serialise writers through the table's owner process."
        ),
    )
