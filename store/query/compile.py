"""From a step of the syntax tree to parameterised SQL over the store schema.

Plan: everything that is a column filter goes to SQL, driven by the schema's indexes —
kinds and functions through the block index (store/blocks.py), processes by `(node_id, pid)`,
time through the time blocks (store/timeblocks.py), the recording as its id range. Names (modules, functions, registered names, pids, nodes) are resolved
first against the recording's interned tables, so SQL only sees integer sets. What SQL cannot
answer — patterns over decoded payloads, durations — is left as a *residual* condition that
`evaluate.py` applies to the survivors. Values never enter the SQL text: every value is a `?`
parameter.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..blocks import kind_source
from .context import QueryContext
from .errors import QuerySyntaxError
from .fields import MFA_KINDS, text_matches
from .nodes import And, Compare, Cond, Not, Or, PAtom, PBin, PNum, Step, TimeWindow
from .terms import has_wildcard
from .vocab import (
    FLAG_FIELD_KINDS, KIND_WORDS, METADATA_FIELDS, PAYLOAD_FIELD_KINDS, STORE_KINDS, closest,
)

KIND_CODE = {name: i + 1 for i, name in enumerate(STORE_KINDS)}

#: ids of state events whose state differs from the process's previous state row. Rows are
#: compared by their stored bytes: a `full` row with the previous row's bytes (the same
#: encoder wrote both), a `delta` row by not being the empty delta (store/states.py).
CHANGED_SQL = (
    "SELECT event_id FROM (SELECT event_id, encoding, data, "
    "LAG(data) OVER (PARTITION BY node_id, pid ORDER BY id) AS prev, "
    "LAG(encoding) OVER (PARTITION BY node_id, pid ORDER BY id) AS prev_enc "
    "FROM states WHERE recording_id = ?) "
    "WHERE CASE WHEN encoding = 'delta' THEN data != X'836A' "
    "ELSE prev IS NULL OR prev_enc != 'full' OR data != prev END"
)
MAX_SQL_KEYS = 20_000


RECORDING_TERM = "e.recording_id = ? AND e.id BETWEEN ? AND ?"
"""A plan's first WHERE term (binding the recording id and its id range)."""


@dataclass(slots=True)
class StepPlan:
    """SQL for one step: `where` (joined with AND) + `params`, and the Python residual."""
    where: list[str] = field(default_factory=list)
    params: list[Any] = field(default_factory=list)
    residual: Cond | None = None
    empty: bool = False           # provably no event matches (unknown function, process …)
    needs_pairing: bool = False   # the step reads `return`/`exception`/`duration` of calls
    function_keys: set[tuple[int, int]] | None = None  # the step's functions, when restricted
    kind_codes: tuple[int, ...] = ()  # the step's kinds (empty: every kind)
    ts_lo: int | None = None  # the time window in node ts (one-node recordings; None: open)
    ts_hi: int | None = None
    filtered: bool = False  # a condition beyond the recording and its id range
    notes: list[str] = field(default_factory=list)

    def sql(self) -> str:
        return " AND ".join(self.where) if self.where else "1"


def _fail(text: str, msg: str, start: int, end: int, hint: str | None) -> QuerySyntaxError:
    return QuerySyntaxError(msg, text, start, end, hint)


def _names(kinds: tuple[str, ...]) -> str:
    plural = {"call": "calls", "return": "returns", "exception": "exceptions", "send": "sends",
              "send_dead": "dead_sends", "receive": "receives", "exit": "exits", "state": "states"}
    return ", ".join(plural.get(k, k) for k in kinds)


def validate_step(step: Step, text: str) -> None:
    """Plan-time checks with positions: fields that this kind of event does not carry,
    orderings with wildcards, targets on kinds that have no function."""
    kinds = step.kinds or STORE_KINDS
    if step.target is not None and step.kinds and not set(step.kinds) & {"call", "return", "exception", "state"}:
        raise _fail(text, f"a function target does not apply to {_names(step.kinds)}",
                    step.target.start, step.target.end,
                    "targets select calls, returns, exceptions and states; to pick processes use "
                    "'of MyApp.Server'")

    def walk(c: Cond) -> None:
        if isinstance(c, (And, Or)):
            walk(c.left)
            walk(c.right)
            return
        if isinstance(c, Not):
            walk(c.operand)
            return
        name = c.field.name
        if name in PAYLOAD_FIELD_KINDS or name in FLAG_FIELD_KINDS:
            has = PAYLOAD_FIELD_KINDS.get(name) or FLAG_FIELD_KINDS[name]
            if not set(kinds) & set(has):
                shown = "arg[N]" if name == "args" and c.field.path else name
                raise _fail(text, f"{_names(step.kinds)} have no field '{shown}'", c.field.start,
                            c.field.end, f"'{shown}' exists on {_names(has)}")
        if name == "duration" and step.kinds != ("call",):
            raise _fail(text, "'duration' is known for calls (call → return)", c.field.start,
                        c.field.end, "select calls, e.g. 'calls MyApp.Repo.all where duration > 100ms'")
        if name == "kind":
            for v in (c.value if c.op == "in" else (c.value,)):  # type: ignore[union-attr]
                word = getattr(v, "name", None)
                if word not in KIND_WORDS and word not in STORE_KINDS:
                    raise _fail(text, f"unknown kind {word!r}", c.start, c.end,
                                f"did you mean '{closest(str(word), STORE_KINDS)}'?"
                                if closest(str(word), STORE_KINDS) else "kinds: " + ", ".join(STORE_KINDS))
        if c.op in ("<", "<=", ">", ">="):
            if name in METADATA_FIELDS and name != "arity":
                raise _fail(text, f"'{name}' cannot be ordered", c.start, c.end,
                            "use =, != , ~ or in")
            if not isinstance(c.value, tuple) and has_wildcard(c.value):
                raise _fail(text, "cannot order against a pattern with _", c.start, c.end,
                            "compare with a literal, or use = to match the pattern")

    if step.cond is not None:
        walk(step.cond)


def needs_pairing(cond: Cond | None, kinds: tuple[str, ...]) -> bool:
    if cond is None or kinds != ("call",):
        return False  # pairing serves `calls` steps only (docs: return/exception of a call)
    if isinstance(cond, (And, Or)):
        return needs_pairing(cond.left, kinds) or needs_pairing(cond.right, kinds)
    if isinstance(cond, Not):
        return needs_pairing(cond.operand, kinds)
    return cond.field.name in ("return", "exception", "class", "reason", "duration")


#: above this share of the recording's events, reading the table in order beats one index
#: probe plus one random table read per candidate (measured on a 1M-event store)
SCAN_SHARE = 0.08


class StepCompiler:
    def __init__(self, qc: QueryContext, text: str) -> None:
        self.qc = qc
        self.text = text

    def source(self, plan: StepPlan) -> str:
        """`events e NOT INDEXED` when the step selects so large a share of the recording
        (counted on the block index alone, store/blocks.py) that a sequential read is cheaper
        than reading the candidates' blocks; `events e` when a condition lists event ids (its
        rowid lookups are the best access); otherwise the events of the step's kinds and
        functions through their blocks."""
        if any("e.id IN (" in w for w in plan.where):
            return "events e"  # a list of event ids (states conditions): rowid lookups already
        return self.source_for(plan.kind_codes, plan.function_keys)

    def source_for(self, kinds: tuple[int, ...], keys: set[tuple[int, int]] | None) -> str:
        if self.large(kinds, keys):
            return "events e NOT INDEXED"
        auxes = None if keys is None else sorted({a for _, a in keys})
        return kind_source(self.qc.rid, kinds, auxes)

    def block_count(self, kinds: tuple[int, ...], keys: set[tuple[int, int]] | None) -> int | None:
        """Events of these kinds (and functions' aux) in the recording, from the block counts;
        None when neither is restricted."""
        got = self._blocks(kinds, keys)
        return None if got is None else got[0]

    def _blocks(self, kinds: tuple[int, ...], keys: set[tuple[int, int]] | None) -> tuple[int, int] | None:
        """(events, rows their blocks span) of these kinds and functions; None if unrestricted."""
        if not kinds and keys is None:
            return None
        where, params = ["recording_id = ?"], [self.qc.rid]
        if kinds:
            where.append(f"kind IN ({','.join('?' * len(kinds))})")
            params += list(kinds)
        if keys is not None:
            auxes = sorted({a for _, a in keys})
            if not auxes:
                return 0, 0
            where.append(f"aux IN ({','.join('?' * len(auxes))})")
            params += auxes
        return self.qc.db.query_one("SELECT coalesce(sum(n), 0), coalesce(sum(last_id - first_id + 1), 0) "
                                    f"FROM block_kinds WHERE {' AND '.join(where)}", params)

    def large(self, kinds: tuple[int, ...], keys: set[tuple[int, int]] | None) -> bool:
        total = self.qc.total_events
        if not total:
            return False
        got = self._blocks(kinds, keys)
        # many matches, or blocks so sparse that reading their ranges reads most of the table
        return got is None or got[0] > SCAN_SHARE * total or got[1] > total // 2

    # -------------------------------------------------------------- key sets
    def function_keys(self, pred) -> set[tuple[int, int]]:
        return {k for k, mfa in self.qc.ctx.functions.items() if pred(mfa)}

    def process_keys(self, pred) -> set[tuple[int, int]]:
        return {k for k, p in self.qc.ctx.processes.items() if pred(p)}

    @staticmethod
    def keyset_sql(keys: set[tuple[int, int]], col: str, negate: bool = False) -> tuple[str, list]:
        if not keys:
            return ("1" if negate else "0"), []
        by_node: dict[int, list[int]] = {}
        for n, i in keys:
            by_node.setdefault(n, []).append(i)
        parts, params = [], []
        for n, idxs in sorted(by_node.items()):
            parts.append(f"(e.node_id = ? AND e.{col} IN ({','.join('?' * len(idxs))}))")
            params += [n, *sorted(idxs)]
        sql = "(" + " OR ".join(parts) + ")"
        return (f"NOT {sql}" if negate else sql), params

    # -------------------------------------------------------------- step
    def compile(self, step: Step, window: TimeWindow, node_ids: list[int] | None) -> StepPlan:
        validate_step(step, self.text)
        plan = StepPlan()
        # the recording's id range bounds every rowid walk (``events`` has no other index)
        plan.where.append(RECORDING_TERM)
        plan.params += [self.qc.rid, *self.qc.id_range]
        base = len(plan.where)
        if step.kinds:
            codes = sorted(KIND_CODE[k] for k in step.kinds)
            plan.kind_codes = tuple(codes)
            plan.where.append(f"e.kind IN ({','.join('?' * len(codes))})")
            plan.params += codes
        if node_ids is not None:
            plan.where.append(f"e.node_id IN ({','.join('?' * len(node_ids))})")
            plan.params += node_ids
        self._window(plan, window)
        if step.target is not None:
            self._target(plan, step)
        if step.process is not None:
            self._process(plan, step)
        plan.needs_pairing = needs_pairing(step.cond, step.kinds)
        if step.cond is not None:
            sql, params, residual = self._split(step.cond)
            if sql:
                plan.where.append(sql)
                plan.params += params
            plan.residual = residual
        plan.filtered = len(plan.where) > base
        return plan

    def _window(self, plan: StepPlan, window: TimeWindow) -> None:
        lo, hi = self.window_bounds(window)
        if lo is None and hi is None:
            return
        parts, params = [], []
        for c in self.qc.clocks.values():
            conds = ["e.node_id = ?"] if not self.qc.single_node else []
            p: list[Any] = [c.id] if not self.qc.single_node else []
            if lo is not None:
                conds.append("e.ts >= ?")
                p.append(c.ts_at_or_after(lo))
                plan.ts_lo = p[-1] if self.qc.single_node else None
            if hi is not None:
                conds.append("e.ts <= ?")
                p.append(c.ts_at_or_before(hi))
                plan.ts_hi = p[-1] if self.qc.single_node else None
            parts.append("(" + " AND ".join(conds) + ")")
            params += p
        plan.where.append("(" + " OR ".join(parts) + ")" if parts else "0")
        plan.params += params

    def window_bounds(self, window: TimeWindow) -> tuple[int | None, int | None]:
        """The window as wall-clock ns bounds (None = open)."""
        qc = self.qc
        lo = hi = None
        if window.last_ns is not None:
            lo = qc.end_wall_ns - window.last_ns
        if window.start is not None:
            lo = (window.start.wall_ns if window.start.wall_ns is not None
                  else qc.start_wall_ns + (window.start.offset_ns or 0))
        if window.end is not None:
            hi = (window.end.wall_ns if window.end.wall_ns is not None
                  else qc.start_wall_ns + (window.end.offset_ns or 0))
        return lo, hi

    def _target(self, plan: StepPlan, step: Step) -> None:
        t = step.target
        assert t is not None

        def pred(mfa) -> bool:
            if t.module is not None:
                if t.module_prefix:
                    if not (mfa.module == t.module or mfa.module.startswith(t.module + ".")):
                        return False
                elif mfa.module != t.module:
                    return False
            if t.function is not None and mfa.function != t.function:
                return False
            return t.arity is None or mfa.arity == t.arity

        keys = self.function_keys(pred)
        plan.function_keys = keys
        if not keys:
            plan.empty = True
            shown = self.text[t.start:t.end]
            known = sorted({str(m).split("/")[0] for m in self.qc.ctx.functions.values()})
            hint = closest(shown, known)
            plan.notes.append(f"no recorded function matches {shown}" +
                              (f"; did you mean {hint}?" if hint else
                               " (was it traced? list functions with the store API)"))
        sql, params = self.keyset_sql(keys, "aux")
        plan.where.append(f"e.kind IN ({','.join(str(k) for k in MFA_KINDS)}) AND {sql}")
        plan.params += params

    def _process(self, plan: StepPlan, step: Step) -> None:
        sel = step.process
        assert sel is not None
        if sel.pid is not None:
            keys = self.process_keys(lambda p: p.pid_text == sel.pid)
        else:
            name = sel.name or ""
            named = {(p.node_id, p.idx) for p in self.qc.recording.resolve_processes(name)}
            keys = named | self.process_keys(
                lambda p: p.initial_call is not None and p.initial_call.module == name)
        if not keys:
            plan.empty = True
            plan.notes.append(f"no recorded process is {self.text[sel.start:sel.end]} (by pid, "
                              "registered name or initial call)")
        sql, params = self.keyset_sql(keys, "pid")
        plan.where.append(sql)
        plan.params += params

    # -------------------------------------------------------------- conditions
    def _split(self, cond: Cond) -> tuple[str | None, list, Cond | None]:
        """(sql, params, residual) with sql AND residual ≡ cond."""
        if isinstance(cond, And):
            ls, lp, lr = self._split(cond.left)
            rs, rp, rr = self._split(cond.right)
            sql = " AND ".join(s for s in (ls, rs) if s) or None
            residual = lr if rr is None else (rr if lr is None else And(lr, rr))
            return sql, lp + rp, residual
        whole = self._sql(cond)
        if whole is not None:
            return whole[0], whole[1], None
        return None, [], cond

    def _sql(self, cond: Cond) -> tuple[str, list] | None:
        if isinstance(cond, (And, Or)):
            left, right = self._sql(cond.left), self._sql(cond.right)
            if left is None or right is None:
                return None
            op = "AND" if isinstance(cond, And) else "OR"
            return f"({left[0]} {op} {right[0]})", left[1] + right[1]
        if isinstance(cond, Not):
            inner = self._sql(cond.operand)
            return None if inner is None else (f"(NOT {inner[0]})", inner[1])
        return self._compare_sql(cond)

    def _compare_sql(self, c: Compare) -> tuple[str, list] | None:
        name = c.field.name
        values = c.value if c.op == "in" else (c.value,)
        if name == "kind":
            codes: set[int] = set()
            for v in values:  # type: ignore[union-attr]
                word = getattr(v, "name", "")
                kinds = KIND_WORDS.get(word, (word,) if word in KIND_CODE else None)
                if kinds is not None:
                    codes |= {KIND_CODE[k] for k in (kinds or STORE_KINDS)}
            sql = f"e.kind IN ({','.join('?' * len(codes))})" if codes else "0"
            return (sql if c.op != "!=" else f"NOT ({sql})"), sorted(codes)
        if name in ("module", "function", "arity"):
            def pred(mfa) -> bool:
                return self._meta_pred(c, getattr(mfa, name))
            keys = self.function_keys(pred)
            if len(keys) > MAX_SQL_KEYS:
                return None
            sql, params = self.keyset_sql(keys, "aux")
            return f"(e.kind IN ({','.join(str(k) for k in MFA_KINDS)}) AND {sql})", params
        if name in ("pid", "name"):
            col = "pid_text" if name == "pid" else "reg_name"
            keys = self.process_keys(lambda p: getattr(p, col) is not None and
                                     self._meta_pred(c, getattr(p, col)))
            if len(keys) > MAX_SQL_KEYS:
                return None
            return self.keyset_sql(keys, "pid")
        if name == "node":
            ids = [cl.id for cl in self.qc.clocks.values() if self._meta_pred(c, cl.name)]
            return (f"e.node_id IN ({','.join('?' * len(ids))})" if ids else "0"), ids
        if name == "time":
            parts, params = [], []
            for cl in self.qc.clocks.values():
                sub, p = self._time_sql(c, cl)
                parts.append(f"(e.node_id = ? AND {sub})")
                params += [cl.id, *p]
            return "(" + " OR ".join(parts) + ")", params
        if name == "changed":
            sql = f"e.id IN ({CHANGED_SQL})"
            want = getattr(c.value, "name", "true") == "true"
            if (c.op == "=") != want:
                sql = f"(e.kind = 13 AND NOT {sql})"
            return sql, [self.qc.rid]
        if name == "phase" and c.op in ("=", "!=", "in") and all(isinstance(v, PAtom) for v in values):  # type: ignore[union-attr]
            phases = [v.name for v in values]  # type: ignore[union-attr]
            # the states table holds the phase of every state event: read it once (a scan of
            # one small table) rather than probing it per event
            sql = (f"e.id IN (SELECT event_id FROM states WHERE recording_id = ? "
                   f"AND phase IN ({','.join('?' * len(phases))}))")
            if c.op == "!=":
                sql = f"(e.kind = 13 AND NOT {sql})"
            return sql, [self.qc.rid, *phases]
        return None

    def _time_sql(self, c: Compare, cl) -> tuple[str, list]:
        base = self.qc.start_wall_ns
        vals = c.value if c.op == "in" else (c.value,)
        if c.op == "in":
            ts = [cl.ts_at_or_after(base + v.value) for v in vals if isinstance(v, PNum)]  # type: ignore[union-attr]
            return f"e.ts IN ({','.join('?' * len(ts))})" if ts else "0", ts
        wall = base + int(c.value.value)  # type: ignore[union-attr]
        if c.op in (">=", ">"):
            t = cl.ts_at_or_after(wall) if c.op == ">=" else cl.ts_at_or_before(wall)
            return (f"e.ts {c.op} ?", [t])
        if c.op in ("<=", "<"):
            t = cl.ts_at_or_before(wall) if c.op == "<=" else cl.ts_at_or_after(wall)
            return (f"e.ts {c.op} ?", [t])
        lo, hi = cl.ts_at_or_after(wall), cl.ts_at_or_before(wall)
        sql = "e.ts BETWEEN ? AND ?"
        return (sql if c.op in ("=", "~") else f"NOT ({sql})"), [lo, hi]

    def _meta_pred(self, c: Compare, value) -> bool:
        if value is None:
            return False
        if isinstance(value, int):
            vals = c.value if c.op == "in" else (c.value,)
            nums = [v.value for v in vals if isinstance(v, PNum)]  # type: ignore[union-attr]
            if not nums:
                return False
            want = nums[0]
            return {"=": value == want, "!=": value != want, "<": value < want, "<=": value <= want,
                    ">": value > want, ">=": value >= want, "~": value == want,
                    "in": value in nums}[c.op]
        text = str(value)
        if c.op == "in":
            return any(text_matches(p, text) for p in c.value)  # type: ignore[union-attr]
        if c.op == "~":
            want = c.value.name if isinstance(c.value, PAtom) else (
                c.value.value.decode() if isinstance(c.value, PBin) else "")
            return want.removeprefix("Elixir.") in text
        hit = text_matches(c.value, text)  # type: ignore[arg-type]
        return hit if c.op == "=" else not hit
