"""Recording for a diagnosis: turn a :class:`~elixir_scope.agents.findings.Plan` into a
capture, reproduce the problem while it runs, and keep what was seen from outside.

While the capture runs, the trigger expression (if any) is evaluated on the node; mailbox
lengths and the process count, and the resources (per-process memory, heap, binaries,
mailboxes, reductions; ETS tables; node totals — :mod:`~elixir_scope.instrument.resources`)
are sampled every ``sample_every`` seconds; the registries' keys and the application's
supervisors (strategy, intensity, period, children's restart types —
:mod:`~elixir_scope.instrument.supervisors`) are read at the start and the end. Those
observations go into the recording itself as ``mark`` events (see
:mod:`~elixir_scope.agents.marks` and :mod:`~elixir_scope.agents.view`), so a saved recording
can be diagnosed again without the live node.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field, replace

from elixir_scope.instrument.agent import AgentLoadError
from elixir_scope.instrument.agent.attach import DEFAULT_TIMEOUTS, why_slow
from elixir_scope.instrument.capture import CaptureError, CapturePlan, RunningModule
from elixir_scope.instrument.cluster import ClusterCapture, ClusterLimits
from elixir_scope.instrument.dist import DistError, RpcTimeout
from elixir_scope.instrument.etf import Atom
from elixir_scope.instrument.limits import CaptureLimits
from elixir_scope.instrument.names import display_name, existing_atom
from elixir_scope.instrument.session import CaptureSession, SessionState, capture
from elixir_scope.instrument.specs import SpecError, compile_spec
from elixir_scope.instrument.resources import ResourceSampler
from elixir_scope.instrument.supervisors import app_supervisors
from elixir_scope.instrument.survey import app_modules, registry_keys

from .context import DiagnosisContext
from .findings import Plan
from .marks import resource_mark, supervisor_mark
from .view_build import REGISTRY_TAG, SAMPLE_TAG


@dataclass
class CaptureRun:
    recording_id: int
    summary: dict
    errors: list[str] = field(default_factory=list)
    wait_ms: float = 0.0


def _elixir_module(name: str) -> str:
    return name if name.startswith(("Elixir.", ":")) or not name[:1].isupper() else "Elixir." + name


def _merge_same_function(specs: list) -> list:
    """One spec per function: ``trace_pattern`` on a function replaces the match spec set
    before, so two specs of one function with different arguments (``Registry.register`` of
    two registries) would leave only the last. Their match-spec clauses are joined instead."""
    out: list = []
    seen: dict[tuple, int] = {}
    for spec in specs:
        key = (spec.module, spec.function, spec.arity)
        if spec.function is None or spec.arity is None or key not in seen:
            if spec.function is not None and spec.arity is not None:
                seen[key] = len(out)
            out.append(spec)
            continue
        first = out[seen[key]]
        out[seen[key]] = replace(first, source=f"{first.source}; {spec.source}",
                                 match_spec=list(first.match_spec) + list(spec.match_spec),
                                 returns=first.returns or spec.returns)
    return out


def capture_plan(plan: Plan) -> tuple[CapturePlan, list[str]]:
    """The instrument-level plan, and the specs that could not be compiled (with why)."""
    specs, errors = [], []
    for s in plan.specs:
        try:
            specs.append(compile_spec(s.spec))
        except SpecError as exc:
            errors.append(f"spec {s.spec!r} skipped: {exc}")
    specs = _merge_same_function(specs)
    state = tuple(_elixir_module(m) for m in plan.state_modules)
    msgs = tuple(RunningModule(_elixir_module(m)) for m in plan.message_processes)
    # names the node does not know are skipped (and reported), not fatal: a plan may guess
    return CapturePlan(specs=tuple(specs), call_procs="all", message_procs=msgs,
                       lifecycle_procs="all" if plan.lifecycle else (),
                       state_modules=state, checkpoint_ms=0, strict_names=False), errors


async def _sampler(ctx: DiagnosisContext, conn, session, stop: asyncio.Event, errors: list[str], budget: int) -> None:
    resources = ResourceSampler(conn)
    while not stop.is_set():
        try:
            snap = await resources.sample()
            await session.mark((Atom(SAMPLE_TAG), snap.node.process_count,
                                [(str(pid).encode(), q) for pid, q in snap.queues]))
            await session.mark(resource_mark(snap, budget))
        except Exception as exc:  # sampling is best effort: the recording itself goes on
            errors.append(f"sampling {conn.node_name} stopped: {exc}")
            return
        try:
            await asyncio.wait_for(stop.wait(), ctx.sample_every)
        except asyncio.TimeoutError:
            pass


async def _supervision(conn, session, phase: str, modules: list[str], errors: list[str], budget: int) -> None:
    """The application's supervisors as marks (one per supervisor), read at ``phase``."""
    if not modules:
        return
    try:
        for sup in await app_supervisors(conn, modules):
            await session.mark(supervisor_mark(phase, sup, budget))
    except Exception as exc:  # best effort, like the samples
        errors.append(f"could not read the supervisors of {conn.node_name} at the {phase}: {exc}")


async def _registries(conn, session, registries: list[str], errors: list[str], *, quiet: bool = False) -> None:
    for reg in registries:
        try:
            name = await existing_atom(conn, _elixir_module(reg))
            if name is None:  # a name the node does not know is not made into an atom there
                if not quiet:
                    errors.append(f"no registry {reg} on {conn.node_name}")
                continue
            keys = await registry_keys(conn, reg)
            await session.mark((Atom(REGISTRY_TAG), name, keys))
        except Exception as exc:
            errors.append(f"could not read the keys of registry {reg}: {exc}")


# what a node that is too busy, gone or taken raises while it is surveyed or recorded: the
# diagnosis reports it (graph.py) instead of ending with the exception
NODE_FAILURES: tuple[type[Exception], ...] = (DistError, AgentLoadError, CaptureError)


async def node_failure_text(conn, exc: Exception, probe_wait: float = DEFAULT_TIMEOUTS.probe) -> str:
    """What a node failure says, and for an rpc that timed out how loaded the node is (one
    run-queue probe, waiting ``probe_wait`` s): the report must name the cause, not only the
    call that waited."""
    if isinstance(exc, RpcTimeout) and not conn.closed.is_set():
        return f"{exc}; {await why_slow(conn, probe_wait)}"
    return str(exc)

# the agent mailbox length at which a diagnosis capture sheds (the default is 5,000)
DIAGNOSIS_MAX_QUEUE = 20_000


@dataclass
class _Part:
    """One node of the capture: its connection, its session, what it runs."""

    conn: object
    session: object
    modules: list[str] = field(default_factory=list)


async def _start_parts(ctx: DiagnosisContext, cplan: CapturePlan, limits: CaptureLimits, symptom: str,
                       errors: list[str]) -> tuple[list[_Part], object]:
    """A session on every node (the first, then ``ctx.peers``) writing one recording, and what
    ends it: the first node's session alone, or a :class:`~elixir_scope.instrument.cluster.ClusterCapture`
    over every node's part (a node that goes away ends its part with ``node_down``; the others
    go on). A further node whose agent cannot start is reported and left out."""
    if not ctx.peers:
        first = await capture(ctx.conn, ctx.store, f"diagnose: {symptom[:80]}", cplan, limits,
                              timeouts=ctx.attach_timeouts)
        parts, whole = [_Part(ctx.conn, first)], first
    else:
        conns = [ctx.conn, *ctx.peers]
        rec = ctx.store.create_recording(f"diagnose: {symptom[:80]}",
                                         spec={**cplan.describe(), "nodes": [c.node_name for c in conns]},
                                         limits=limits.as_dict())
        parts = []
        for conn in conns:
            try:
                session = await CaptureSession.start(conn, rec, cplan, limits, owns_recording=False,
                                                     timeouts=ctx.attach_timeouts)
            except Exception as exc:  # one further node that cannot record must not cost the others
                if conn is ctx.conn:
                    for part in parts:
                        await part.session.stop()
                    rec.finish("error", {"detail": f"the capture could not start on {conn.node_name}: {exc}"})
                    raise
                errors.append(f"could not record {conn.node_name}: {exc}")
                continue
            parts.append(_Part(conn, session))
        whole = ClusterCapture(rec, [p.session for p in parts], ClusterLimits())
    for part in parts:
        errors += [f"no such {kind} `{display_name(name)}` on {part.conn.node_name}: skipped"
                   for kind, name in part.session.unknown_names]
        try:
            part.modules = await app_modules(part.conn)
        except Exception as exc:
            errors.append(f"could not list the application's modules on {part.conn.node_name}: {exc}")
    return parts, whole


async def run_capture(ctx: DiagnosisContext, plan: Plan, *, symptom: str, trigger: str | None,
                      seconds: float, registries: list[str] | None = None) -> CaptureRun:
    """Record ``plan`` on the node (and on ``ctx.peers``, into the same recording) while the
    trigger runs on the first node."""
    cplan, errors = capture_plan(plan)
    trigger_budget = ctx.trigger_timeout if trigger else 0.0
    # a reproduction is often a burst (a request per process, a batch): the agent's mailbox may
    # hold that burst for a moment instead of shedding it, which would drop the very evidence;
    # the memory limit still stops the capture if the agent grows too big
    limits = CaptureLimits(max_events=plan.max_events, max_seconds=seconds + trigger_budget + 30.0,
                           max_queue=DIAGNOSIS_MAX_QUEUE)
    parts, whole = await _start_parts(ctx, cplan, limits, symptom, errors)
    session = parts[0].session
    stop = asyncio.Event()
    regs = registries if registries is not None else [
        s.spec.split("(")[1].split(",")[0].strip()
        for s in plan.specs if s.spec.startswith("Registry.dispatch(")]
    # marks must fit the agent's term limit whole (it would truncate them)
    budget = max(256, limits.max_term_bytes - 96)
    for i, part in enumerate(parts):
        await _registries(part.conn, part.session, regs, errors, quiet=i > 0)
        await _supervision(part.conn, part.session, "start", part.modules, errors, budget)
    samplers = [asyncio.create_task(_sampler(ctx, part.conn, part.session, stop, errors, budget)) for part in parts]
    t0 = time.perf_counter()
    try:
        try:
            await session.mark((Atom("es_trigger"), trigger.encode() if trigger else Atom("none")))
        except DistError as exc:  # the node went away: what the capture stored is kept all the same
            errors.append(f"the trigger's mark could not be sent: {exc}")
        if trigger:
            try:
                await ctx.conn.rpc("Elixir.Code", "eval_string", [trigger.encode()], timeout=ctx.trigger_timeout)
            except Exception as exc:  # the trigger may well fail: that can be the problem itself
                errors.append(f"the trigger raised or timed out: {exc}")
        await asyncio.sleep(seconds)
    finally:
        stop.set()
        for task in samplers:
            await task
        for i, part in enumerate(parts):
            if part.session.state is SessionState.ENDED:
                continue  # the node went away during the capture: its part ended with node_down
            if regs:
                await _registries(part.conn, part.session, regs, errors, quiet=i > 0)
            await _supervision(part.conn, part.session, "end", part.modules, errors, budget)
        result = await whole.stop(ctx.stop_timeout)
    wait_ms = (time.perf_counter() - t0) * 1000.0
    st = result.stats
    summary = {"end_reason": result.end_reason, "offered": st.offered, "stored": st.stored,
               "dropped": st.dropped, "specs": len(cplan.specs)}
    if len(parts) > 1:  # each node's part: how it ended, what it stored
        summary["nodes"] = [{"node": node, "end_reason": part["end_reason"], "stored": part["stored"]}
                            for node, part in result.extra.get("nodes", {}).items()]
    return CaptureRun(result.recording_id, summary, list(dict.fromkeys(errors)), wait_ms)
