"""Values that go wrong without an error: a state field set back to an older value, and a
supervised child that is simply not running.

| kind | what | culprit |
| --- | --- | --- |
| ``state_revert`` | a field of a process's state, changed by one callback, is set back to its previous value by a *different* kind of message (a late reply, a stale refresh) | the callback that wrote the old value back, and its message |
| ``child_down`` | the supervision facts show a child with no process (transient or temporary: not restarted) | the child's module |
| ``sum_mismatch`` | a function splits an integer argument into integer parts (shares, chunks, allocations) and the parts do not add up to it: a remainder of integer division or rounding is lost (or counted twice) | the function that returned the parts, and the call |
"""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Any

from elixir_scope.instrument.etf import Atom

from ..findings import Culprit, Finding, StateChange, StateDiff
from ..open_calls import OpenCalls
from ..view import Call, RecordingView, fmt, is_atom, mod_name
from .keytext import key_text
from .book import FactBook
from .common import culprit_of, message_senders, message_shape


def _fields(state: Any, cache: dict | None = None) -> dict[str, str]:
    """Top-level (and one level nested) fields of a map state, printed, for comparison.
    ``cache``: a field's printed value per term while one analysis runs (states rebuilt from
    deltas share the fields a step did not change: printed once, not at every step)."""
    out = {}
    if isinstance(state, dict):
        for k, v in state.items():
            key = key_text(k, 60)
            if isinstance(v, dict) and len(v) <= 50:
                for k2, v2 in v.items():
                    out[f"{key}.{key_text(k2, 60)}"] = _printed(v2, cache)
            else:
                out[key] = _printed(v, cache)
    return out


def _printed(v: Any, cache: dict | None) -> str:
    if cache is None:
        return fmt(v, 200)
    if type(v) in (int, bytes) or isinstance(v, Atom):
        # a scalar field is printed once per value: a state of hundreds of counters, seen at
        # every step, is not printed field by field again at each one
        key = (type(v), v)
        hit = cache.get(key)
        if hit is None:
            hit = cache[key] = fmt(v, 200)
        return hit
    if not isinstance(v, (dict, list, tuple)):
        return fmt(v, 200)
    hit = cache.get(id(v))
    if hit is None or hit[0] is not v:
        hit = cache[id(v)] = (v, fmt(v, 200))
    return hit[1]


def state_reverts(view: RecordingView, book: FactBook) -> None:
    by_pid = view.state_steps()
    printed: dict = {}
    for pid in sorted(by_pid):
        steps = by_pid[pid]
        if len(steps) < 3:
            continue
        callbacks = [c for c in view.calls_by_pid.get(pid, []) if c.function.startswith("handle_") and c.args]
        # the callback a step belongs to: the last listed that started by then and had not ended 1 unit before
        running = OpenCalls(callbacks, deepest=False, scan_stops=False, grace=1)
        history: dict[str, list[tuple[str, Any, Any]]] = defaultdict(list)   # field → [(value, step, callback)]
        for s in steps:
            cb = running.at(s.ts)
            for f, v in _fields(s.state, printed).items():
                h = history[f]
                if not h or h[-1][0] != v:
                    h.append((v, s, cb))
        found = None
        for f in sorted(history):
            h = history[f]
            for i in range(2, len(h)):
                old, _s0, _c0 = h[i - 2]
                new, s1, c1 = h[i - 1]
                back, s2, c2 = h[i]
                if back != old or c1 is None or c2 is None or c2.call_id == c1.call_id:
                    continue
                if old in ("[]", "%{}", '""', "0", "nil", "0.0"):
                    continue  # emptied or zeroed again: a flush or a reset, what buffers and counters do
                if (c1.function, message_shape(c1.args[0])) == (c2.function, message_shape(c2.args[0])):
                    continue  # the same kind of request setting values back and forth is ordinary
                found = (f, old, new, s1, c1, s2, c2)
                break
            if found:
                break
        if not found:
            continue
        f, old, new, s1, c1, s2, c2 = found
        # a message carrying a reference is a reply to an earlier request: a late reply is the classic
        # way an old value comes back; without one it may be an ordinary toggle (checkout/checkin)
        late = _has_ref(c2.args[0])
        book.add(Finding(
            detector="state_revert",
            title=f"{view.label(pid)}: {f} set back to {old[:40]} by {c2.mfa}",
            summary=(f"{c1.mfa} handling {fmt(c1.args[0], 80)} changed {f} from {old[:60]} to {new[:60]}; then "
                     f"{c2.mfa} handling {fmt(c2.args[0], 80)} set it back to {old[:60]} — an older value written "
                     "over a newer one (a late reply or stale data applied without checking it is still current)."),
            severity="high", confidence=0.7 if late else 0.35, culprit=culprit_of(view, c2, c2.args[0]),
            evidence=[view.call_evidence(c1), view.evidence(s1.event_id, "state", s1.ts, pid, f"{f} = {new[:60]}"),
                      view.call_evidence(c2), view.evidence(s2.event_id, "state", s2.ts, pid, f"{f} = {old[:60]} again")],
            state_diffs=[StateDiff(pid=view.proc(pid).pid if view.proc(pid) else str(pid), process=view.label(pid),
                                   event_id=s2.event_id, caused_by=f"{c2.mfa} {fmt(c2.args[0], 60)}",
                                   changes=[StateChange(path=f"state.{f}", op="changed", before=new[:80], after=old[:80])])],
            signatures=["state:value_overwritten", "message:unmatched"],
            fix_hint=("Apply a reply or refresh only if it is still current: tag requests with a ref or version and "
                      "drop answers that do not match the latest one (or compare timestamps).")),
            pid=pid, ts=s2.ts, reverter=(pid, c2.module, c2.function, message_shape(c2.args[0])))


def link_reverted_messages(view: RecordingView, book: FactBook) -> None:
    """Messages that changed nothing in their receiver because their sender had just set its own
    state back: a callback that reverts a value and passes it on sends the old value again, and
    the receiver, which already holds it, rightly does nothing. The no-effect is the revert's effect."""
    reverts = [(f, book.meta[f.id]["reverter"]) for f in book.of_kind("state_revert") if "reverter" in book.meta[f.id]]
    if not reverts:
        return
    senders = message_senders(view)
    for fact in book.of_kind("no_effect_message"):
        for call_id in book.meta[fact.id].get("calls", ()):
            origin = senders.get(call_id)
            chain, cur = [], origin
            while cur is not None and len(chain) < 50:
                chain.append(cur)
                cur = cur.parent
            cause = next((r for r, (pid, mod, fun, shape) in reverts
                          if any(c.pid == pid and (c.module, c.function) == (mod, fun) and c.args
                                 and message_shape(c.args[0]) == shape for c in chain)), None)
            if cause is not None:
                book.link(fact, cause, "its sender sent it from the callback that set its own state back")
                break


def atoms_from_input(view: RecordingView, book: FactBook) -> None:
    """A function that turns strings it is given into atoms (``String.to_atom`` on input): every
    new string is a new atom, and atoms are never collected — the atom table only grows."""
    from elixir_scope.instrument.etf import Atom

    from ..view import is_app_module

    def norm(text: str) -> str:   # String.to_atom(String.downcase(String.trim(s))) is still s
        return re.sub(r"[^0-9a-z]+", "", text.lower())

    groups: dict[tuple, list] = defaultdict(list)
    for c in view.calls:
        if c.outcome != "return" or not is_app_module(c.module) or c.function.startswith("-") or not c.args:
            continue
        flat = [x for a in c.args for x in (a[:50] if isinstance(a, list) else [a])]
        texts = {norm(a.decode("utf-8", "replace")) for a in flat if isinstance(a, bytes) and 0 < len(a) <= 255}
        texts.discard("")
        if not texts:
            continue
        vals = c.value if isinstance(c.value, (list, tuple)) else [c.value]
        made = [v for v in list(vals)[:50] if isinstance(v, Atom) and norm(v.name) in texts]
        if made:
            groups[(c.module, c.function, c.arity)].append((c, made[0]))
    # a function that only collects what an inner one made is not where the atoms are made
    inner_parents = {id(x.parent) for hits in groups.values() for x, _a in hits if x.parent is not None}
    outer = {k for k, hits in groups.items() if all(id(x) in inner_parents or _encloses(x, groups, k) for x, _a in hits)}
    samples = getattr(view, "resources", []) or []
    grew = len(samples) >= 2 and samples[-1].atom_count > samples[0].atom_count
    for key in sorted(groups):
        if key in outer:
            continue
        hits = groups[key]
        distinct = {a.name for _c, a in hits}
        if len(distinct) < 3:
            continue
        c, a = hits[0]
        more = (f"; the node's atom count grew from {samples[0].atom_count} to {samples[-1].atom_count} meanwhile"
                if grew else "")
        book.add(Finding(
            detector="atoms_from_input",
            title=f"{c.mfa} turns input strings into atoms ({len(distinct)} distinct)",
            summary=(f"{c.mfa} returned {len(distinct)} different atoms made from the strings it was given (e.g. "
                     f"{fmt(a, 60)} from {fmt(c.args, 60)}){more}. Atoms are never garbage collected: with "
                     "user-supplied input the atom table grows until the node crashes."),
            severity="critical", confidence=0.8 if grew else 0.7,
            culprit=culprit_of(view, c, c.args[0] if len(c.args) == 1 else c.args),
            evidence=[view.end_evidence(x, f"{x.mfa}({fmt(x.args, 50)}) returned {fmt(at, 50)}") for x, at in hits[:5]],
            signatures=["vm:atom_count_growing", "exception:system_limit"],
            fix_hint="Map known strings to atoms explicitly (or String.to_existing_atom/1); keep user input as strings."),
            pid=c.pid, ts=c.ts)


def _encloses(c: Call, groups: dict[tuple, list], own: tuple) -> bool:
    """Whether a call of another group runs inside ``c`` (the same process, within its time)."""
    end = c.end_ts if c.end_ts is not None else c.ts
    return any(x.pid == c.pid and c.ts < x.ts <= end
               for k, hits in groups.items() if k != own for x, _a in hits)


def _kind(v: Any) -> str | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, int):
        return "integer"
    if isinstance(v, bytes) and v.strip().lstrip(b"-").isdigit() and len(v) <= 20:
        return "numeric string"
    return None


def type_mismatch(view: RecordingView, book: FactBook) -> None:
    """The same argument of one function arrives as an integer from some callers and as a
    numeric string (``"2"``) from others: a map or Registry key, a comparison or a pattern
    that expects one of them silently misses the other."""
    from ..view import is_app_module

    calls: dict[tuple, list] = defaultdict(list)
    for c in view.calls:
        if is_app_module(c.module) and c.args and not c.function.startswith(("-", "handle_", "init")):
            calls[(c.module, c.function, c.arity)].append(c)
    for key in sorted(calls):
        cs = calls[key]
        if len(cs) < 3:
            continue
        for pos in range(key[2]):
            kinds = defaultdict(list)
            for c in cs:
                if pos < len(c.args):
                    k = _kind(c.args[pos])
                    if k:
                        kinds[k].append(c)
            if len(kinds) != 2:
                continue
            odd_kind = min(kinds, key=lambda k: (len(kinds[k]), k))
            odd = kinds[odd_kind]
            normal = [c for k, v in kinds.items() if k != odd_kind for c in v]
            callers = [c.parent for c in odd if c.parent is not None and is_app_module(c.parent.module)]
            if not callers or len(odd) > len(normal):
                continue
            who = callers[0]
            c0 = odd[0]
            book.add(Finding(
                detector="type_mismatch",
                title=f"{c0.mfa} gets argument {pos + 1} as a {odd_kind} from {who.mfa}",
                summary=(f"{c0.mfa} was called {len(normal)} time(s) with argument {pos + 1} as a "
                         f"{'numeric string' if odd_kind == 'integer' else 'integer'} (e.g. {fmt(normal[0].args[pos], 30)}) "
                         f"and {len(odd)} time(s) as a {odd_kind} ({fmt(c0.args[pos], 30)}), from {who.mfa}: a key, "
                         "pattern or comparison written for one silently misses the other, so those calls go "
                         "nowhere without an error."),
                severity="high", confidence=0.6, culprit=culprit_of(view, who, c0.args[pos]),
                evidence=[view.call_evidence(x, f"{x.mfa} called with {fmt(x.args, 60)}") for x in (odd[:3] + normal[:2])],
                signatures=["data:type_mismatch", "message:no_effect"],
                fix_hint="Convert the id at the boundary where it enters (parse the string once) and keep one type inside."),
                pid=c0.pid, ts=c0.ts)
            break


def _int_parts(v: Any) -> list[int] | None:
    """The integer parts of a returned collection: a list (or ``{:ok, list}``) of integers,
    or of tuples/maps that each hold exactly one integer (``{member, cents}``)."""
    if isinstance(v, tuple) and len(v) == 2 and isinstance(v[1], list) and is_atom(v[0], "ok"):
        v = v[1]
    if isinstance(v, dict):
        v = list(v.values())
    if not isinstance(v, list) or not 2 <= len(v) <= 10_000:
        return None
    out = []
    for x in v:
        if isinstance(x, dict):
            x = tuple(x.values())
        if isinstance(x, tuple):
            ints = [y for y in x if isinstance(y, int) and not isinstance(y, bool)]
            if len(ints) != 1:
                return None
            x = ints[0]
        if not isinstance(x, int) or isinstance(x, bool):
            return None
        out.append(x)
    return out


def sum_mismatch(view: RecordingView, book: FactBook) -> None:
    """Conservation of a quantity: a function called with an integer ``N`` returns ``k >= 2``
    integer parts whose sum misses ``N`` by less than ``k`` (the signature of a remainder lost
    to ``div``/``round``/``trunc``), while the parts are near-equal (a split). Splitting money,
    stock, pages or batches this way loses (or adds) a few units on every uneven split and
    nothing fails."""
    from ..view import is_app_module

    by_fn: dict[tuple, list] = defaultdict(list)
    for c in view.calls:
        if c.outcome != "return" or not c.args or not is_app_module(c.module) or c.function.startswith("-"):
            continue
        parts = _int_parts(c.value)
        if parts is None:
            continue
        total = sum(parts)
        for pos, a in enumerate(c.args):
            if isinstance(a, bool) or not isinstance(a, int) or a < 2 * len(parts):
                continue
            if max(parts) - min(parts) > max(1, a // (len(parts) * 10)):
                continue        # not a split into (near-)equal shares
            if total == a:
                by_fn[(c.module, c.function, c.arity, pos)].append((c, parts, 0))
            elif abs(a - total) < len(parts):
                by_fn[(c.module, c.function, c.arity, pos)].append((c, parts, a - total))
    # a caller that only passes on parts computed elsewhere (in its own process or, through a
    # call, in another) is not where they went wrong: of the calls that returned the same
    # parts of the same whole, the first to return computed them
    first: dict[tuple, tuple[int, int]] = {}
    for (_m, _f, _a, pos), rows in by_fn.items():
        for c, parts, _lost in rows:
            k = (c.args[pos], tuple(parts))
            at = (c.end_ts if c.end_ts is not None else c.ts, c.call_id)
            if k not in first or at < first[k]:
                first[k] = at
    origins = {(at[1], k[1]) for k, at in first.items()}
    for key in sorted(by_fn):
        rows = [r for r in by_fn[key] if (r[0].call_id, tuple(r[1])) in origins]
        bad = [r for r in rows if r[2] != 0]
        if not bad:
            continue
        c0, parts0, lost0 = bad[0]
        exact = len(rows) - len(bad)
        pos = key[3]
        units = sum(r[2] for r in bad)
        book.add(Finding(
            detector="sum_mismatch",
            title=f"{c0.mfa} splits {c0.args[pos]} into parts that add up to {sum(parts0)}",
            summary=(f"{c0.mfa} was called {len(rows)} time(s) with an integer (argument {pos + 1}) it "
                     f"returns in near-equal parts; in {len(bad)} call(s) the parts do not add up to it "
                     f"({fmt(c0.args[pos], 20)} → {len(parts0)} parts summing to {sum(parts0)}, "
                     f"{'lost' if lost0 > 0 else 'added'} {abs(lost0)}); {abs(units)} unit(s) "
                     f"{'lost' if units > 0 else 'added'} in all"
                     + (f", while {exact} split(s) that divide evenly add up" if exact else "")
                     + ": the remainder of an integer division or a rounding is dropped, silently."),
            severity="high", confidence=0.55 + (0.1 if exact else 0.0),
            culprit=culprit_of(view, c0, c0.args),
            evidence=[view.call_evidence(c, f"{c.mfa}({fmt(c.args, 50)}) returned {len(p)} parts summing to "
                                            f"{sum(p)} (argument {fmt(c.args[pos], 20)})")
                      for c, p, _ in (bad[:3] + [r for r in rows if r[2] == 0][:1])],
            signatures=["data:sum_mismatch"],
            fix_hint="Distribute the remainder (rem/2) over the first parts, or compute the last part as the total "
                     "minus the others, so the parts always add up to the whole."),
            pid=c0.pid, ts=c0.ts)


def _has_ref(term: Any, depth: int = 0) -> bool:
    from elixir_scope.instrument.etf.terms import Ref

    if isinstance(term, Ref):
        return True
    if depth < 3 and isinstance(term, (tuple, list)):
        return any(_has_ref(t, depth + 1) for t in term[:10])
    return False


def children_down(view: RecordingView, book: FactBook) -> None:
    sups = getattr(view, "supervisors", {}) or {}
    seen: set[tuple] = set()
    for phase in ("end", "start"):
        for sup in sups.get(phase, []):
            for ch in sup.children:
                if ch.pid is not None or ch.restart not in ("transient", "temporary"):
                    continue
                key = (sup.pid, ch.id)
                if key in seen:
                    continue
                seen.add(key)
                module = ch.id if ch.id[:1].isupper() else None
                book.add(Finding(
                    detector="child_down",
                    title=f"{ch.id} is not running under {sup.name or sup.pid} (restart :{ch.restart})",
                    summary=(f"At the {phase} of the recording {sup.name or sup.pid} lists the child {ch.id} with no process: "
                             f"as a :{ch.restart} child it is not restarted after it ends "
                             + ("normally" if ch.restart == "transient" else "for any reason")
                             + ", so whatever it does silently stops (its messages go nowhere)."),
                    severity="high", confidence=0.65,
                    culprit=Culprit(module=mod_name("Elixir." + module) if module else (sup.name or sup.pid),
                                    detail=f":{ch.restart}", process=ch.id),
                    evidence=[view.evidence(sup.event_id, "mark", sup.ts, sup.proc,
                                            f"supervision facts: {ch.id} restart :{ch.restart}, no process")],
                    signatures=["exit:not_restarted"],
                    fix_hint=("Make the child :permanent if it must always run, or make it stop only when its work "
                              "is really over (don't return {:stop, :normal, _} while work can still arrive).")),
                    pid=sup.proc, ts=sup.ts)
