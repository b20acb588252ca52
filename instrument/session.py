"""A capture session: the agent on one node, streaming batches into one recording.

Lifecycle: ``start`` (load the agent, start it, register the node in the recording) ->
running (a task receives batches and hands them to the store pipeline,
instrument/ingest_pipeline.py: prepared in one thread, written in another, each in one
transaction; a batch is acknowledged once received while the batches received but not yet
stored stay under the pipeline's bound, else once the writer has caught up: the ack is what
lets the agent send more, so a slow store slows the agent down instead of filling memory) ->
ended (``es_done`` from the agent, or the node lost; every batch received is stored first).
The recording is finished with the agent's end reason, or ``node_down`` when the connection
dropped: everything stored up to then is kept, and a gap notes that an unknown number of events
may be missing.

If this Python process dies (even ``kill -9``), the connection drops, the agent's monitor on
our mailbox fires, and the agent removes its trace flags and patterns and exits.

Never hanging: the session monitors the agent. If the agent dies without its ``es_done``
(killed, crashed), the capture ends with ``agent_down`` and a gap (a cleaner process on the
node removes what the agent had set). If the agent neither finishes nor dies by
``max_seconds`` + ``grace_seconds`` (limits.py), or by the ``timeout`` given to ``stop`` or
``wait``, the session asks it to stop once more (2 s), kills it if it does not (the cleaner
removes its trace settings), stores the batches that arrived, and ends the capture itself with
``deadline`` and a gap counting the events the agent had traced but not sent. Everything
stored so far is kept; ``stop`` and ``wait`` return that result, they never raise on a timeout.
"""

from __future__ import annotations

import asyncio
import enum
import time
from typing import Any

from .agent import ensure_agent
from .agent.attach import DEFAULT_TIMEOUTS, AttachTimeouts, NodeBusyError, attach_step, probe_load
from .agent.loader import MODULE
from .clock import ClockProbeError, probe_clock
from .capture import (
    CaptureError,
    CapturePlan,
    CaptureResult,
    CaptureStats,
    TracerBusyError,
)
from .dist import Connection, MailboxClosed, NodeDown, RpcError, RpcTimeout
from .etf import Atom, Pid
from .ingest_pipeline import MAX_PENDING_BYTES, StorePipeline
from .store_yield import StoreYield, check_yield
from .thread_priority import check_priority
from .limits import CaptureLimits
from .names import UnknownNameError, unknown_names
from ..store import StoreError
from ..store.events import MFA
from ..store.records import preload as preload_records

_ES_BATCH, _ES_DONE, _ES_ACK = Atom("es_batch"), Atom("es_done"), Atom("es_ack")
_DOWN = Atom("DOWN")
# after stop/wait ran out of time: how long the receiving task may take to end with `deadline`
# (ask the agent 3 s, kill it 3 s, its last batches 3 s) before the capture is ended without it
_END_NOW_SECONDS = 15.0


# what is on the node when starting the capture ran out of time (instrument/agent/attach.py)
_LEFT_START_CALL = ("the agent module; if the start still runs there, the agent finds this session's mailbox "
                    "gone and removes every trace flag and pattern it set")
_LEFT_SETUP_KILLED = ("the agent module; the agent was killed in its setup and its cleaner removes every trace "
                      "flag and pattern it had set (once the node gives it CPU)")


class SessionState(enum.Enum):
    RUNNING = "running"
    ENDED = "ended"


def _text(v: Any) -> str:
    if isinstance(v, Atom):
        return v.name
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    return repr(v)


def _stats(m: Any, stored: int) -> CaptureStats:
    d = {(_text(k)): v for k, v in m.items()} if isinstance(m, dict) else {}
    ints = {k: v for k, v in d.items() if isinstance(v, int) and not isinstance(v, bool)}
    return CaptureStats(offered=ints.get("offered", 0), sent=ints.get("sent", 0),
                        dropped=ints.get("dropped", 0), stored=stored,
                        over_limit=ints.get("over_limit", 0), batches=ints.get("batches", 0),
                        peak_queue=ints.get("peak_queue", 0), peak_memory=ints.get("peak_memory", 0),
                        queue_sheds=ints.get("queue_sheds", 0),
                        receive_timeouts=ints.get("receive_timeouts", 0),
                        agent_errors=ints.get("agent_errors", 0))



def stack_guard_trips(stats: Any) -> list[dict]:
    """The agent's ``stack_guard`` stat (agent v22+): each function whose return tracing it
    removed because a caller's stack kept growing, as ``{"function": "m:f/1"`` (``"Mod.f/1"``
    for an Elixir module) ``, "pid": "<0.1.0>",
    "grown_words": int, "stack_words": int}``."""
    raw = stats.get(Atom("stack_guard"), []) if isinstance(stats, dict) else []
    out = []
    for t in raw if isinstance(raw, list) else []:
        if not isinstance(t, dict):
            continue
        d = {_text(k): v for k, v in t.items()}
        mfa = d.get("mfa")
        if not (isinstance(mfa, tuple) and len(mfa) == 3):
            continue
        name = str(MFA(_text(mfa[0]), _text(mfa[1]), mfa[2]))
        out.append({"function": name, "pid": str(d.get("pid")),
                    "grown_words": d.get("grown_words", 0), "stack_words": d.get("stack_words", 0)})
    return out


async def ends_within(task: "asyncio.Future[Any]", timeout: float) -> bool:
    """Whether ``task`` ends within ``timeout`` seconds; it goes on either way (shielded)."""
    try:
        await asyncio.wait_for(asyncio.shield(task), timeout)
    except TimeoutError:
        return False
    return True

class CaptureSession:
    """One running capture. Create with ``await CaptureSession.start(...)``."""

    def __init__(self, conn: Connection, recording: Any, node_id: int, agent: Pid, mbox: Any,
                 info: dict, limits: CaptureLimits, agent_mon: Any = None,
                 owns_recording: bool = True, store_buffer_bytes: int = MAX_PENDING_BYTES,
                 store_priority: int | str | None = None,
                 store_yield: StoreYield | bool | None = None) -> None:
        self.conn = conn
        # False when the recording is shared by several nodes: ending ends only this node's part
        self.owns_recording = owns_recording
        self.recording = recording
        self.node_id = node_id
        self.agent = agent
        self.info = info
        self.limits = limits
        self.state = SessionState.RUNNING
        self._pipe = StorePipeline(recording, node_id, max_pending_bytes=store_buffer_bytes,
                                   name=conn.node_name, priority=store_priority, yield_to_node=store_yield)
        self.last_stats: Any = {}
        self._mbox = mbox
        self._agent_mon = agent_mon
        # the agent's ack relay (agent v22+): every ack also goes there, where the agent reads
        # it at once instead of when the ack reaches the front of its mailbox (behind every
        # trace message queued before it)
        relay = info.get("ack_relay")
        self._ack_relay: Pid | None = relay if isinstance(relay, Pid) else None
        # names of the plan the node did not know (only with strict_names=False)
        self.unknown_names: list[tuple[str, str]] = unknown_names(info.get("unknown_names"))
        self._t0 = time.monotonic()
        self._deadline = self._t0 + float(limits.max_seconds) + float(limits.grace_seconds)
        self._result: CaptureResult | None = None
        self._deadline_why = ""  # set when stop/wait ran out of time (the deadline gap says so)
        self._task = asyncio.get_running_loop().create_task(self._run(), name=f"capture {conn.node_name}")

    @classmethod
    async def start(cls, conn: Connection, recording: Any, plan: CapturePlan,
                    limits: CaptureLimits | None = None, *,
                    owns_recording: bool = True,
                    store_buffer_bytes: int = MAX_PENDING_BYTES,
                    store_priority: int | str | None = None,
                    store_yield: StoreYield | bool | None = None,
                    timeouts: AttachTimeouts = DEFAULT_TIMEOUTS) -> CaptureSession:
        """Load the agent on ``conn``'s node and start capturing into ``recording`` (a store
        ``RecordingWriter``). ``owns_recording=False``: the recording is shared with other
        nodes' sessions (instrument/cluster.py) and the end of this one ends only its node's
        part. ``store_buffer_bytes``: records bytes received but not yet stored beyond which
        batches are no longer acknowledged until the store catches up
        (instrument/ingest_pipeline.py). ``store_priority``: how the store threads run beside
        the event loop (``ingest_pipeline.STORE_PRIORITY``, used when None: the process's own
        priority; ``"idle"``: only when nothing else wants the core; a niceness 1-19).
        ``store_yield``: whether the store postpones its work while the node is busy tracing and
        catches up after (``ingest_pipeline.STORE_YIELD`` when None, off; True: ``StoreYield()``'s
        defaults, postponing only a burst sustained for 1.5 s; False: off;
        instrument/store_yield.py).
        ``timeouts``: how long loading the agent and starting it may wait on a busy node; past
        them :class:`~.agent.attach.NodeBusyError` says how loaded the node is and what was left
        there (instrument/agent/attach.py)."""
        if isinstance(store_buffer_bytes, bool) or not isinstance(store_buffer_bytes, int) or store_buffer_bytes <= 0:
            raise ValueError(f"store_buffer_bytes must be a positive number of bytes, got {store_buffer_bytes!r}")
        if store_priority is not None:
            check_priority(store_priority)
        check_yield(store_yield)
        limits = limits or CaptureLimits()
        config = {**plan.agent_config(), **limits.agent_config(), Atom("setup_ms"): round(timeouts.setup * 1000)}
        await ensure_agent(conn, timeouts=timeouts)
        # what reading batches needs is imported now, before the node traces anything: at the
        # first batch its CPU would compete with the traced node (store/records.py)
        await asyncio.to_thread(preload_records)
        mbox = conn.node.mailbox()
        try:
            reply = await attach_step(
                conn, "starting the capture (elixir_scope_agent:start_capture/2)",
                conn.rpc(MODULE, "start_capture", [mbox.pid, config], timeout=timeouts.start),
                waited=timeouts.start, timeouts=timeouts, left=_LEFT_START_CALL)
        except BaseException:
            mbox.close()  # an agent that still starts sees its owner gone and removes what it set
            raise
        if not (isinstance(reply, tuple) and len(reply) == 3 and reply[0] == Atom("ok")):
            mbox.close()
            why = reply[1] if isinstance(reply, tuple) and len(reply) == 2 else reply
            if why == Atom("start_timeout"):  # the agent's setup did not end within timeouts.setup: killed
                load = await probe_load(conn, timeouts.probe)
                raise NodeBusyError(conn.node_name, "the agent's setup (trace flags and patterns)", timeouts.setup, load,
                                    _LEFT_SETUP_KILLED, timeouts.probe, verb="did not finish")
            if isinstance(why, tuple) and why and why[0] == Atom("tracer_active"):
                raise TracerBusyError(_text(why[1]))
            if isinstance(why, tuple) and len(why) == 2 and why[0] == Atom("unknown_names"):
                raise UnknownNameError(unknown_names(why[1]), conn.node_name)
            raise CaptureError(f"the agent on {conn.node_name} refused to start: {why!r}")
        _, agent, raw = reply
        info = {_text(k): v for k, v in raw.items()}
        try:
            agent_mon = await conn.monitor(mbox, agent)
        except NodeDown:
            agent_mon = None
        node_id = recording.add_node(
            conn.node_name, otp_release=_text(info.get("otp_release", "")),
            time_unit=int(info["time_unit"]), time_offset=int(info["time_offset"]),
            mono_at_start=int(info["mono_now"]))
        try:
            est = await probe_clock(conn, int(info["time_unit"]))
            recording.set_node_clock(node_id, at="start", skew=est.skew, error=est.error)
        except ClockProbeError:
            pass  # the node went away: the session notices it at once and ends with node_down
        return cls(conn, recording, node_id, agent, mbox, info, limits, agent_mon, owns_recording,
                   store_buffer_bytes, store_priority, store_yield)

    @property
    def stored(self) -> int:
        """Events stored (committed) so far."""
        return self._pipe.stored

    @property
    def pipeline(self) -> StorePipeline:
        """The store pipeline (its bound, peak and back-pressure counts)."""
        return self._pipe

    @property
    def result(self) -> CaptureResult | None:
        """How the capture ended (None while it runs)."""
        return self._result

    @property
    def mode(self) -> str:
        """``session`` (OTP 27+ trace session) or ``classic``."""
        return _text(self.info.get("mode", ""))

    async def _run(self) -> None:
        mbox, conn, pipe = self._mbox, self.conn, self._pipe
        try:
            while True:
                # checked on every round, not only when idle: a steady stream of batches must
                # not keep a capture past its deadline
                if time.monotonic() >= self._deadline and not conn.closed.is_set():
                    return await self._deadline_passed()
                msgs = mbox.drain(64)
                if not msgs:
                    if conn.closed.is_set():
                        return self._node_lost()
                    try:
                        msgs = [await mbox.receive(timeout=0.25)]
                    except TimeoutError:
                        continue
                # Batches that queued up while we were storing are stored together, in one
                # transaction (fewer commits when Python lags), then acknowledged at once: the
                # agent treats an ack of Seq as an ack of every batch up to Seq.
                received = False
                last_seq = None
                done = None
                down = None
                for msg in msgs:
                    if type(msg) is not tuple or not msg:
                        continue
                    tag = msg[0]
                    if tag == _ES_BATCH and len(msg) == 6:
                        _, _agent, seq, dict_entries, events, stats = msg
                        # stored by the pipeline's threads (prepared in one, written in the
                        # other, SQLite releasing the GIL while it writes) while this loop goes
                        # on receiving and decoding; the batches received together (and within
                        # its staging wait) go in one job, one transaction
                        pipe.submit(dict_entries, events)
                        received = True
                        last_seq = seq
                        self.last_stats = stats
                    elif tag == _ES_DONE and len(msg) == 4:
                        done = msg
                        break
                    elif tag == _DOWN and len(msg) == 5 and msg[1] == self._agent_mon:
                        down = msg[4]
                        break
                if received:
                    if not pipe.may_ack():
                        await pipe.settle()  # back-pressure: the agent waits for the writer
                    if pipe.failure is not None:
                        return await self._end_stored(self._store_failed, pipe.failure)
                    try:
                        if self._ack_relay is not None:
                            await conn.send(self._ack_relay, (_ES_ACK, last_seq))
                        await conn.send(self.agent, (_ES_ACK, last_seq))
                    except NodeDown:
                        return await self._end_stored(self._node_lost)
                elif pipe.failure is not None:
                    return await self._end_stored(self._store_failed, pipe.failure)
                if done is not None:
                    _, _agent, reason, stats = done
                    # the clock probes (round trips to the node) while the last batches are
                    # written, not after
                    await asyncio.gather(self._probe_end(), pipe.settle(0))
                    # finishing may refresh the planner's statistics (once per doubling of the
                    # store): off the event loop like the batches
                    return await self._end_stored(self._done, reason, stats, thread=True)
                if down is not None:
                    if down == Atom("noconnection") or conn.closed.is_set():
                        return await self._end_stored(self._node_lost)
                    return await self._end_stored(self._agent_down, down)
        except MailboxClosed:
            return await self._end_stored(self._node_lost)
        finally:
            self.state = SessionState.ENDED
            mbox.close()
            self._pipe.close_now()

    async def _end_stored(self, end: Any, *args: Any, thread: bool = False) -> None:
        """End the capture with ``end(*args)`` once every batch received is stored; if the
        store refused one, the capture ends ``store_error`` instead (the refused batch and
        those after it counted in a gap)."""
        pipe = self._pipe
        await pipe.close()
        if pipe.failure is not None and end != self._store_failed:
            end, args = self._store_failed, (pipe.failure,)
        if end == self._store_failed:
            self._record_refused_batches(pipe.failure, pipe.lost_batches)
        if thread:
            return await asyncio.to_thread(end, *args)
        return end(*args)

    def _finish(self, end_reason: str, stats: dict) -> None:
        """End this capture: the whole recording, or only this node's part of it when the
        recording is shared with other nodes (instrument/cluster.py ends the recording)."""
        if self.owns_recording:
            self.recording.finish(end_reason, stats)
        else:
            self.recording.finish_node(self.node_id, end_reason, stats, stats.get("detail") or None)

    async def _probe_end(self) -> None:
        """The clock probes at the end (store/clocks.py); skipped when the node is gone."""
        try:
            est = await probe_clock(self.conn, int(self.info["time_unit"]))
            await asyncio.to_thread(self.recording.set_node_clock, self.node_id, at="end",
                                    skew=est.skew, error=est.error)
        except (ClockProbeError, StoreError, KeyError, ValueError):
            pass

    def _done(self, reason: Any, stats: Any) -> None:
        if isinstance(reason, tuple):
            name, detail = "error", repr(reason)
        else:
            name, detail = _text(reason), ""
        st = _stats(stats, self.stored)
        if name == "tracer_lost":
            detail = self._tracer_lost_gap(stats)
        trips = stack_guard_trips(stats)
        extra = {"stack_guard": trips} if trips else {}
        if trips:
            said = "; ".join(f"{t['function']} in {t['pid']} (stack +{t['grown_words']} words)" for t in trips[:5])
            detail = ((detail + ". ") if detail else "") + (
                f"stack guard: return tracing removed from {said} - a self-tail-recursive loop keeps one "
                "return frame per call; its calls are still traced (trace it without `return`, or trace "
                "the functions the loop calls)")
        self._finish(name, {**st.__dict__, "detail": detail, "mode": self.mode, **extra})
        self._result = CaptureResult(self.recording.id, self.conn.node_name, name, st, detail, extra)

    def _node_lost(self) -> None:
        st = _stats(self.last_stats, self.stored)
        unit = int(self.info["time_unit"])
        ts = int(self.info["mono_now"]) + int((time.monotonic() - self._t0) * unit)
        # traced but neither sent nor dropped at the agent's last report: lost with the node
        lost = max(0, st.offered - st.sent - st.dropped)
        detail = (f"the node {self.conn.node_name} was lost ({self.conn.down_reason!r}); at least "
                  f"{lost} events the agent had traced but not yet sent are missing, and any "
                  "traced after its last report (count unknown)")
        self.recording.add_gap(self.node_id, ts=ts, count=lost, reason="node_down", detail=detail)
        self._finish("node_down", {**st.__dict__, "detail": detail})
        self._result = CaptureResult(self.recording.id, self.conn.node_name, "node_down", st, detail)

    def _tracer_lost_gap(self, stats: Any) -> str:
        """Another tracer took over (OTP < 27): a gap with the agent's estimate of what went
        to it between its last good check and the moment it noticed."""
        raw = stats.get(Atom("tracer_lost"), {}) if isinstance(stats, dict) else {}
        lost = {_text(k): v for k, v in raw.items()} if isinstance(raw, dict) else {}
        est = lost.get("lost_estimate", 0)
        est = est if isinstance(est, int) and est >= 0 else 0
        since = lost.get("lost_since")
        ts = since if isinstance(since, int) else self._now_ts()
        detail = (f"another tracer (dbg, recon_trace, redbug?) took over or cleared our trace settings "
                  f"({_text(lost.get('lost_what', b'?'))}); about {est} events (an estimate from the "
                  "capture's own rate) went to it or were not traced before the capture stopped")
        self.recording.add_gap(self.node_id, ts=ts, count=est, reason="tracer_lost", detail=detail)
        return detail

    def _now_ts(self) -> int:
        unit = int(self.info["time_unit"])
        return int(self.info["mono_now"]) + int((time.monotonic() - self._t0) * unit)

    def _agent_down(self, reason: Any) -> None:
        """The agent died without finishing (killed, crashed): what is stored stays; the
        cleaner on the node removes its flags and patterns."""
        st = _stats(self.last_stats, self.stored)
        detail = (f"the agent on {self.conn.node_name} exited ({reason!r:.200}) without finishing; "
                  "events after this point, and any it had not yet sent, are missing (count unknown). "
                  "Its trace flags and patterns were removed on the node")
        self.recording.add_gap(self.node_id, ts=self._now_ts(), count=0, reason="agent_down", detail=detail)
        self._finish("agent_down", {**st.__dict__, "detail": detail})
        self._result = CaptureResult(self.recording.id, self.conn.node_name, "agent_down", st, detail)

    async def _deadline_passed(self) -> None:
        """The deadline went by without the agent's end (max_seconds + grace, or the timeout
        of ``stop``/``wait``): ask it to stop (2 s), kill it if it does not answer (a node too
        busy, an agent stuck on a term), and end here, whatever it does."""
        stopped = False
        try:
            reply = await self.conn.rpc(MODULE, "stop_capture", [self.agent, 2000], timeout=3.0)
            stopped = isinstance(reply, tuple) and len(reply) == 2 and reply[0] == Atom("ok")
        except (NodeDown, RpcError, RpcTimeout):
            pass
        killed = False
        if not stopped and not self.conn.closed.is_set():
            try:  # the cleaner on the node removes the trace flags and patterns it had set
                await self.conn.rpc("erlang", "exit", [self.agent, Atom("kill")], timeout=3.0)
                killed = True
            except (NodeDown, RpcError, RpcTimeout):
                pass
        # batches that arrived meanwhile are stored before ending (an agent that stopped sends
        # its last batches and then its end: wait a little for that end)
        until = time.monotonic() + (3.0 if stopped else 0.0)
        while True:
            msgs = self._mbox.drain(1000)
            if not msgs:
                if time.monotonic() >= until:
                    break
                try:
                    msgs = [await self._mbox.receive(timeout=max(0.01, until - time.monotonic()))]
                except (TimeoutError, MailboxClosed):
                    break
            for msg in msgs:
                if type(msg) is tuple and len(msg) == 6 and msg[0] == _ES_BATCH:
                    self._pipe.submit(msg[3], msg[4])
                    self.last_stats = msg[5]
                    await self._pipe.settle()
                elif type(msg) is tuple and len(msg) == 4 and msg[0] == _ES_DONE:
                    return await self._end_stored(self._done, msg[2], msg[3], thread=True)
        await self._end_stored(self._end_deadline, killed)

    def _end_deadline(self, killed: bool) -> None:
        """End the capture here with ``deadline``: a gap counting what the agent had traced
        but not sent at its last report (at least that many events are missing)."""
        st = _stats(self.last_stats, self.stored)
        lost = max(0, st.offered - st.sent - st.dropped)
        why = self._deadline_why or (
            f"the agent did not end within max_seconds ({float(self.limits.max_seconds):g}s) + "
            f"grace_seconds ({float(self.limits.grace_seconds):g}s)")
        detail = (f"{why}; the capture was ended here"
                  + (" and the agent was killed (its trace settings were removed on the node)" if killed else "")
                  + (f". At least {lost} events the agent had traced but not sent are missing, and "
                     "any traced after its last report (count unknown)" if lost else
                     ". Events traced after the agent's last report are missing (count unknown)"))
        self.recording.add_gap(self.node_id, ts=self._now_ts(), count=lost, reason="deadline", detail=detail)
        self._finish("deadline", {**st.__dict__, "detail": detail})
        self._result = CaptureResult(self.recording.id, self.conn.node_name, "deadline", st, detail)

    def _store_failed(self, exc: Exception) -> None:
        """The store refused a batch (disk full, read-only ...): what is stored stays; closing
        our mailbox (in ``_run``'s ``finally``) makes the agent clean up and exit."""
        st = _stats(self.last_stats, self.stored)
        detail = getattr(self, "_refused_detail", None) or f"the store refused a batch: {exc}"
        try:
            self._finish("store_error", {**st.__dict__, "detail": detail})
        except StoreError:
            pass
        self._result = CaptureResult(self.recording.id, self.conn.node_name, "store_error", st, detail)

    def _record_refused_batches(self, exc: Exception, batches: list[bytes]) -> None:
        """The batch the store refused, and those received after it (never stored once one
        was refused), are not lost silently: a ``store_error`` gap with their record count
        (when the store still takes that one row), and the count named in the capture's
        result."""
        from ..store.ingest import parse_records

        lost = 0
        for events in batches:
            try:
                lost += len(parse_records(events))
            except StoreError:
                pass  # a malformed batch: its records cannot be counted
        detail = f"the store refused a batch; {lost} events received are missing: {exc}"
        try:
            unit = int(self.info["time_unit"])
            ts = int(self.info["mono_now"]) + int((time.monotonic() - self._t0) * unit)
            self.recording.add_gap(self.node_id, ts=ts, count=lost, reason="store_error", detail=detail)
        except (StoreError, KeyError, TypeError, ValueError):
            detail += " (the store could not even record this gap)"
        self._refused_detail = detail

    async def ended(self, timeout: float) -> CaptureResult | None:
        """The result if the capture ends within ``timeout`` seconds, else None and it goes
        on: for progress loops (``wait`` ends a capture that outlives its timeout)."""
        return self._result if await ends_within(self._task, timeout) else None

    async def wait(self, timeout: float | None = None) -> CaptureResult:
        """Wait for the capture to end by itself (a limit, or the node lost). Past ``timeout``
        seconds it is ended here with ``deadline`` (``_deadline_passed``: the agent asked to
        stop, else killed; what arrived is stored; what the agent still held is counted in a
        gap) and that result is returned: a timeout is never raised to the caller."""
        if timeout is not None and not self._task.done():
            try:
                await asyncio.wait_for(asyncio.shield(self._task), timeout)
            except TimeoutError:
                await self._end_now(f"the capture did not end within {timeout:.1f}s of being waited for")
        await asyncio.shield(self._task)
        assert self._result is not None
        return self._result

    async def _end_now(self, why: str) -> None:
        """Make the receiving task end with ``deadline`` at its next round (it checks the
        deadline on every round: at most one batch's store plus ~0.25 s away); if it is stuck
        even so (a store call that does not return), end the capture here."""
        self._deadline_why = why
        self._deadline = 0.0
        try:
            await asyncio.wait_for(asyncio.shield(self._task), _END_NOW_SECONDS)
        except TimeoutError:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            if self._result is None:
                await asyncio.to_thread(self._end_deadline, False)

    async def stop(self, timeout: float = 30.0) -> CaptureResult:
        """Ask the agent to stop; returns once every batch is stored. Past ``timeout`` seconds
        the capture is ended here with ``deadline`` (see ``wait``); never raises on a timeout.
        Idempotent."""
        until = time.monotonic() + timeout
        if not self._task.done():
            ask = max(0.5, timeout / 2)  # the agent's own end, then the rest for its last batches
            try:
                await self.conn.rpc(MODULE, "stop_capture", [self.agent, int(ask * 1000)], timeout=ask + 1.0)
            except (NodeDown, RpcError, RpcTimeout):
                pass
        return await self.wait(max(0.0, until - time.monotonic()))

    async def mark(self, term: Any) -> None:
        """Put a ``mark`` record into the stream (ordered with the node's events)."""
        await self.conn.send(self.agent, (Atom("es_mark"), term))


async def capture(conn: Connection, store: Any, name: str, plan: CapturePlan,
                  limits: CaptureLimits | None = None, *,
                  timeouts: AttachTimeouts = DEFAULT_TIMEOUTS) -> CaptureSession:
    """Create a recording in ``store`` (a ``TraceStore``) and start capturing into it."""
    limits = limits or CaptureLimits()
    rec = store.create_recording(name, spec=plan.describe(), limits=limits.as_dict())
    try:
        return await CaptureSession.start(conn, rec, plan, limits, timeouts=timeouts)
    except BaseException as exc:  # the recording says why it holds nothing: never left open
        try:
            rec.finish("error", {"detail": f"the capture could not start on {conn.node_name}: {exc}"})
        except Exception:  # the store's own failure must not hide why the capture did not start
            pass
        raise
