"""Attaching to a node that is slow, saturated or taken: bounded waits and clear errors.

Every rpc of attaching (loading the agent, starting a capture) runs through ``rex`` and an rpc
worker at normal priority. On a node whose schedulers are all taken by runnable processes -
high-priority ones above all - those calls wait for a scheduler: seconds, or as long as the
busy processes run. The agent itself runs at high priority once it is set up, so it is the
setup that must be given time (longer than an ordinary rpc's 5 s, ``AttachTimeouts``) and, if
even that runs out, end with an error that says what was wrong, what was left on the node and
what to do - never a bare ``RpcTimeout`` from somewhere inside the loader.

::

    AgentLoadError (loader.py)
    ├── NodeBusyError        a step of attaching did not answer within its wait: how many
    │                        processes the node's run queues held (one cheap probe), what was
    │                        left on the node, what to do
    └── NewerAgentError      another ElixirScope loaded a newer agent: it is not downgraded
"""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass, replace
from typing import TypeVar

from ..dist import Connection, RpcTimeout
from ..dist.errors import DistError
from ..etf import Atom
from .errors import AgentLoadError

T = TypeVar("T")

__all__ = ["AttachTimeouts", "DEFAULT_TIMEOUTS", "NewerAgentError", "NodeBusyError", "NodeLoad", "attach_step",
           "load_text", "probe_load", "why_slow"]


@dataclass(frozen=True)
class AttachTimeouts:
    """How long each step of attaching may wait for the node (seconds).

    ``rpc``: each rpc of loading the agent (an idle node answers in well under 1 s; a saturated
    one in seconds). ``start``: the rpc that starts a capture. ``setup``: the agent's own setup
    on the node (trace flags and patterns), within that rpc: past it the agent is killed and
    the start fails with ``start_timeout`` (keep it shorter than ``start``, or the rpc gives up
    first, with a vaguer message). ``probe``: the one run-queue probe made after a step ran out
    of time, for the error message."""

    rpc: float = 20.0
    start: float = 45.0
    probe: float = 3.0
    setup: float = 15.0

    def __post_init__(self) -> None:
        for name in ("rpc", "start", "probe", "setup"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 < v <= 600:
                raise ValueError(f"AttachTimeouts.{name} must be a number of seconds in (0, 600], got {v!r}")
        if self.setup < 0.1:  # the agent gives any shorter setup its default 15 s
            raise ValueError(f"AttachTimeouts.setup must be at least 0.1 s, got {self.setup!r}")

    def with_setup(self, seconds: float) -> "AttachTimeouts":
        """These timeouts with the agent's setup given ``seconds`` (0.1-600), the start rpc
        waiting at least 30 s longer (so the agent's own clear ``start_timeout`` comes first).
        Raises ValueError for a value the agent cannot take."""
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not 0.1 <= seconds <= 600:
            raise ValueError(f"the agent's setup timeout must be at least 0.1 s and at most 600 s, got {seconds!r}")
        return replace(self, setup=float(seconds), start=min(600.0, max(self.start, seconds + 30.0)))


DEFAULT_TIMEOUTS = AttachTimeouts()


@dataclass(frozen=True)
class NodeLoad:
    """The node's run queues at one moment (``erlang:statistics(run_queue_lengths_all)``):
    one entry per normal scheduler, then the dirty CPU and dirty IO queues."""

    queues: tuple[int, ...]

    @property
    def schedulers(self) -> int:
        return max(1, len(self.queues) - 2)

    @property
    def runnable(self) -> int:
        return sum(self.queues)

    @property
    def saturated(self) -> bool:
        """More processes waiting to run than there are schedulers to run them."""
        return sum(self.queues[:self.schedulers]) >= self.schedulers

    def describe(self) -> str:
        return f"{self.runnable} processes runnable for {self.schedulers} schedulers"


async def probe_load(conn: Connection, timeout: float) -> NodeLoad | None:
    """One cheap rpc for the node's run-queue lengths; None when it does not answer in time
    (or the node is gone, or the answer is not a list of counts)."""
    try:
        qs = await conn.rpc("erlang", "statistics", [Atom("run_queue_lengths_all")], timeout=timeout)
    except (DistError, OSError):
        return None
    if not isinstance(qs, list) or not qs or not all(isinstance(q, int) and not isinstance(q, bool) for q in qs):
        return None
    return NodeLoad(tuple(qs))


def load_text(load: NodeLoad | None, probe_wait: float) -> str:
    """What a run-queue probe says about a node that was slow to answer."""
    if load is None:
        return (f"it did not answer a run-queue probe either (within {probe_wait:g} s): its schedulers are "
                "saturated by runnable processes (above all high-priority ones), or the node is stopped, "
                "swapping or starved of CPU")
    if load.saturated:
        return f"its run queues are full: {load.describe()}"
    return (f"its run queues look normal now ({load.describe()}): it was busy for a while, or the call itself "
            "is slow there (a busy code server, a long-running load)")


async def why_slow(conn: Connection, probe_wait: float = DEFAULT_TIMEOUTS.probe) -> str:
    """One run-queue probe, said in words (for an ``RpcTimeout`` met outside attaching)."""
    return load_text(await probe_load(conn, probe_wait), probe_wait)


class NodeBusyError(AgentLoadError):
    """A step of attaching did not answer in time. ``load`` is what the run-queue probe saw
    (None: the probe did not answer either); ``left`` says what is on the node now."""

    def __init__(self, node: str, step: str, waited: float, load: NodeLoad | None, left: str,
                 probe_wait: float, *, verb: str = "did not answer") -> None:
        self.node, self.step, self.waited, self.load, self.left = node, step, waited, load, left
        super().__init__(
            f"{node} {verb} {step} within {waited:g} s; {load_text(load, probe_wait)}. Left on the node: {left}. "
            "What to do: attach again when the node is less busy, or with longer waits (AttachTimeouts); to "
            "see what hogs it, ask the node for its busiest processes (e.g. recon:proc_window(reductions, 5, "
            "1000) in a remote shell)")


class NewerAgentError(AgentLoadError):
    """The node runs a newer agent version than this ElixirScope ships."""

    def __init__(self, node: str, have: int, want: int) -> None:
        self.node, self.have, self.want = node, have, want
        super().__init__(
            f"{node} has agent version {have} loaded, newer than this ElixirScope's ({want}): another, newer "
            "ElixirScope attached to it. It was left as it is (replacing it could break that ElixirScope's "
            "capture). What to do: use that ElixirScope or upgrade this one; if no other ElixirScope uses the "
            "node any more, load this version over it with force_reload=True")


async def attach_step(conn: Connection, step: str, call: Awaitable[T], *, waited: float, left: str,
                      timeouts: AttachTimeouts) -> T:
    """Await one step of attaching; an ``RpcTimeout`` becomes a :class:`NodeBusyError` that
    says how loaded the node is (one probe) and what ``left`` on it."""
    try:
        return await call
    except RpcTimeout as exc:
        load = await probe_load(conn, timeouts.probe)
        raise NodeBusyError(conn.node_name, step, waited, load, left, timeouts.probe) from exc

