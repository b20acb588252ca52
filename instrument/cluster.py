"""Capturing several nodes into one recording: one connection and one agent per node.

::

    from elixir_scope.instrument.cluster import ClusterLimits, capture_cluster, cluster_members
    from elixir_scope.instrument.dist import Node

    local = Node()
    names = await cluster_members(local, "a@host", cookie="c")   # a@host + every node it sees
    cap = await capture_cluster(local, names, store, "checkout", plan, cookie="c",
                                limits=CaptureLimits(max_events=10_000, max_seconds=30),
                                cluster_limits=ClusterLimits(max_events=25_000))
    ...                                    # the workload runs on the nodes
    result = await cap.stop()              # or: await cap.wait()
    result.end_reason, result.extra["nodes"]     # the recording's end, each node's end
    store.recording(result.recording_id)   # one recording, one ``nodes`` row per node

Each node runs its own ``CaptureSession`` (instrument/session.py) writing into the shared
``RecordingWriter`` with its own ``node_id``; batches of different nodes are stored in their
own transactions (the store's write lock serialises them). Limits:

* ``limits`` (``CaptureLimits``) apply to every node on its own, enforced by its agent.
* ``cluster_limits.max_events`` caps the whole recording: when the nodes together have stored
  that many events, every node is asked to stop. Batches already in flight are still stored
  (nothing recorded is dropped), so the total may pass the cap by at most what the agents had
  traced meanwhile; each node's part then ends with ``stopped`` and the recording with
  ``max_events``.

A node that leaves mid-capture (stopped, crashed, disconnected) ends *its* part with
``node_down`` and a gap counting what it had traced but not sent; the other nodes go on. The
recording ends when every part has ended: with ``stopped`` if ``stop()`` was called, with
``max_events`` when the overall cap stopped it, otherwise with the end reason of the part that
ended last. Per-node ends are in the ``nodes`` rows (``NodeInfo.end_reason``) and in
``ClusterResult.extra["nodes"]``.

Node names typed by a user are only used here, to connect from Python: nothing about them
travels to a node as an atom. ``cluster_members`` reads ``erlang:nodes()`` on the first node
(atoms that node already has) and connects to each with the same cookie.
"""

from __future__ import annotations

import asyncio
import dataclasses
from dataclasses import dataclass
from typing import Any

from .capture import CaptureError, CapturePlan, CaptureResult, CaptureStats
from .agent.attach import DEFAULT_TIMEOUTS, AttachTimeouts
from .dist import Connection, ConnectError, Node, NodeDown, RpcError, RpcTimeout
from .etf import Atom
from .limits import CaptureLimits
from .names import UnknownNameError
from .session import CaptureSession, SessionState, ends_within

MAX_NODES = 32
"""Nodes in one capture (each costs a connection, an agent and a task)."""

_POLL = 0.1  # seconds between checks of the overall limit


class ClusterError(CaptureError):
    """A multi-node capture that could not start: a node that cannot be reached, a bad list."""


@dataclass(frozen=True)
class ClusterLimits:
    """Limits over every node together (per-node limits are ``CaptureLimits``)."""

    # Stop every node once the nodes together have stored this many events (None: no cap
    # beyond the per-node ``max_events``).
    max_events: int | None = None

    def __post_init__(self) -> None:
        if self.max_events is not None and not (isinstance(self.max_events, int) and self.max_events >= 1):
            raise ClusterError(f"cluster max_events must be a positive integer or None, got {self.max_events!r}")


def _sum_stats(parts: list[CaptureStats]) -> CaptureStats:
    tot = {k: sum(getattr(p, k) for p in parts) for k in CaptureStats.__dataclass_fields__}
    for peak in ("peak_queue", "peak_memory"):
        tot[peak] = max((getattr(p, peak) for p in parts), default=0)
    return CaptureStats(**tot)


def check_node_names(names: list[str]) -> list[str]:
    """Distinct, non-empty node names, at most MAX_NODES (order kept)."""
    out: list[str] = []
    for n in names:
        if not isinstance(n, str) or "@" not in n or n.startswith("@") or n.endswith("@"):
            raise ClusterError(f"{n!r} is not a node name: use name@host, e.g. app@myhost")
        if n not in out:
            out.append(n)
    if not out:
        raise ClusterError("no node given: name at least one node (name@host)")
    if len(out) > MAX_NODES:
        raise ClusterError(f"{len(out)} nodes: a capture takes at most {MAX_NODES}; name fewer nodes")
    return out


async def _connect(local: Node, name: str, cookie: str | None, timeout: float = 5.0) -> Connection:
    try:
        return await local.connect(name, cookie=cookie, timeout=timeout)
    except (ConnectError, OSError, TimeoutError) as exc:
        raise ClusterError(f"cannot connect to node {name}: {exc}") from exc


async def connect_nodes(local: Node, names: list[str], *, cookie: str | None = None,
                        timeout: float = 5.0) -> list[Connection]:
    """A connection to each node of ``names`` (checked with ``check_node_names``); the first
    that cannot be reached raises ``ClusterError`` naming it."""
    return [await _connect(local, n, cookie, timeout) for n in check_node_names(list(names))]


async def cluster_members(local: Node, first: str, *, cookie: str | None = None) -> list[str]:
    """``first`` and every (visible) node connected to it, from ``erlang:nodes()`` read on it."""
    conn = await _connect(local, first, cookie)
    try:
        others = await conn.rpc("erlang", "nodes", [], timeout=5.0)
    except (NodeDown, RpcError, RpcTimeout) as exc:
        raise ClusterError(f"cannot read the nodes connected to {first}: {exc}") from exc
    names = [first]
    for n in others if isinstance(others, list) else []:
        text = n.name if isinstance(n, Atom) else None
        if text and text not in names:
            names.append(text)
    return check_node_names(names)


@dataclass(frozen=True)
class ClusterResult(CaptureResult):
    """A ``CaptureResult`` for several nodes: ``node`` lists them (comma-separated), ``stats``
    sums them, ``extra["nodes"]`` maps each node to ``{"end_reason", "stored", "detail"}``."""


class ClusterCapture:
    """A running multi-node capture. Create with ``capture_cluster``. Offers what MCP and the
    CLI use of a ``CaptureSession``: ``state``, ``stored``, ``recording``, ``wait``, ``stop``."""

    def __init__(self, recording: Any, sessions: list[CaptureSession], limits: ClusterLimits) -> None:
        self.recording = recording
        self.sessions = sessions
        self.cluster_limits = limits
        self.state = SessionState.RUNNING
        self._stopping = False
        self._capped = False
        self._result: ClusterResult | None = None
        self._task = asyncio.get_running_loop().create_task(self._watch(), name="cluster capture")

    @property
    def stored(self) -> int:
        return sum(s.stored for s in self.sessions)

    @property
    def node_names(self) -> list[str]:
        return [s.conn.node_name for s in self.sessions]

    @property
    def conn(self) -> Connection:
        """The first node's connection (where a trigger or a mark goes by default)."""
        return self.sessions[0].conn

    @property
    def agent(self) -> Any:
        return self.sessions[0].agent

    async def _stop_all(self) -> None:
        await asyncio.gather(*(s.stop() for s in self.sessions if s.state is SessionState.RUNNING),
                             return_exceptions=True)

    async def _watch(self) -> None:
        cap = self.cluster_limits.max_events
        order: list[str] = []
        try:
            while True:
                for s in self.sessions:
                    if s.state is SessionState.ENDED and s.conn.node_name not in order:
                        order.append(s.conn.node_name)
                if all(s.state is SessionState.ENDED for s in self.sessions):
                    break
                if cap is not None and not self._capped and self.stored >= cap:
                    self._capped = True
                    asyncio.get_running_loop().create_task(self._stop_all())
                await asyncio.sleep(_POLL)
            results = []
            for s in self.sessions:
                try:
                    results.append(await s.wait())
                except Exception as exc:  # a session that failed outright still gets its line
                    results.append(CaptureResult(self.recording.id, s.conn.node_name, "error",
                                                 CaptureStats(stored=s.stored), f"{exc!r:.300}"))
            by_node = {r.node: r for r in results}
            if self._stopping:
                reason = "stopped"
            elif self._capped:
                reason = "max_events"
            else:
                reason = by_node[order[-1]].end_reason if order else results[-1].end_reason
            stats = _sum_stats([r.stats for r in results])
            nodes = {r.node: {"end_reason": r.end_reason, "stored": r.stats.stored,
                              "detail": r.detail[:300]} for r in results}
            ended_early = [f"{n} ({v['end_reason']})" for n, v in nodes.items() if v["end_reason"] != reason]
            detail = ("; ".join(f"part of {e} ended differently" for e in ended_early[:5])
                      if ended_early else "")
            if self._capped:
                detail = (f"the nodes together reached the overall limit of {cap} events; every node "
                          "was stopped" + (f"; {detail}" if detail else ""))
            await asyncio.to_thread(self.recording.finish, reason,
                                    {**stats.__dict__, "detail": detail, "nodes": nodes})
            self._result = ClusterResult(self.recording.id, ",".join(self.node_names), reason, stats,
                                         detail, {"nodes": nodes})
        finally:
            self.state = SessionState.ENDED

    async def ended(self, timeout: float) -> ClusterResult | None:
        """The result if the capture ends within ``timeout`` seconds, else None and it goes
        on: for progress loops (``wait`` ends a capture that outlives its timeout)."""
        return self._result if await ends_within(self._task, timeout) else None

    async def wait(self, timeout: float | None = None) -> ClusterResult:
        """Wait until every node's part has ended and the recording is finished. Past
        ``timeout`` seconds every part still running is ended with ``deadline``
        (``CaptureSession.wait``) and the result returned: a timeout is never raised."""
        if timeout is not None and not self._task.done():
            try:
                await asyncio.wait_for(asyncio.shield(self._task), timeout)
            except TimeoutError:
                await asyncio.gather(*(s.wait(0) for s in self.sessions if s.state is SessionState.RUNNING))
        await asyncio.shield(self._task)
        assert self._result is not None
        return self._result

    async def stop(self, timeout: float = 30.0) -> ClusterResult:
        """Stop every node (each stores what is in flight); idempotent."""
        if not self._task.done():
            self._stopping = True
            await self._stop_all()
        return await self.wait(timeout)

    async def mark(self, term: Any) -> None:
        """A mark on the first node's stream."""
        await self.sessions[0].mark(term)


async def capture_cluster(local: Node, node_names: list[str], store: Any, name: str, plan: CapturePlan, *,
                          cookie: str | None = None, limits: CaptureLimits | None = None,
                          cluster_limits: ClusterLimits | None = None,
                          timeouts: AttachTimeouts = DEFAULT_TIMEOUTS) -> ClusterCapture:
    """Connect to every node of ``node_names`` (a clear ``ClusterError`` naming the node that
    cannot be reached: no capture starts then), create one recording in ``store`` and start
    one agent per node. If a node's agent refuses to start, the agents already started are
    stopped and the error names that node."""
    names = check_node_names(list(node_names))
    limits = limits or CaptureLimits()
    cluster_limits = cluster_limits or ClusterLimits()
    conns = [await _connect(local, n, cookie) for n in names]
    # a name may live on one node only (a registered process, a module of one release): each
    # agent skips what its node does not know; a name no node knows is an error (strict plans)
    strict = plan.strict_names
    plan = dataclasses.replace(plan, strict_names=False) if len(conns) > 1 else plan
    spec = {**plan.describe(), "nodes": names}
    lim = {**limits.as_dict(), "cluster_max_events": cluster_limits.max_events}
    rec = store.create_recording(name, spec=spec, limits=lim)
    sessions: list[CaptureSession] = []
    try:
        for conn in conns:
            try:
                sessions.append(await CaptureSession.start(conn, rec, plan, limits, owns_recording=False,
                                                           timeouts=timeouts))
            except (NodeDown, RpcError, RpcTimeout) as exc:
                raise ClusterError(f"cannot start the agent on node {conn.node_name}: {exc}") from exc
            except CaptureError as exc:  # a refusal (tracer busy, bad plan) names the node
                if conn.node_name in str(exc):
                    raise
                raise type(exc)(f"node {conn.node_name}: {exc}") from exc
        if strict and len(sessions) > 1:
            nowhere = set(sessions[0].unknown_names).intersection(*(s.unknown_names for s in sessions[1:]))
            if nowhere:
                raise UnknownNameError(sorted(nowhere), ", ".join(names))
    except BaseException:
        await asyncio.gather(*(s.stop() for s in sessions), return_exceptions=True)
        if not rec.finished:
            rec.finish("error", {"detail": "the capture could not start on every node"})
        raise
    return ClusterCapture(rec, sessions, cluster_limits)
