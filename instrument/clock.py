"""Estimating a node's clock against this host's: round-trip probes, as NTP does.

One probe: read the host's system time ``t0``, ask the node for ``erlang:system_time()``
(its monotonic time plus its time offset, native units) over rpc, read ``t1``. The node read
its clock at some instant between ``t0`` and ``t1``, so

    skew  = remote − (t0 + t1) / 2        (node system time − host system time)
    |error| ≤ (t1 − t0) / 2               (half the round trip)

whatever the split of the round trip between the two directions. Of several probes, the one
with the smallest round trip gives the tightest bound, and is kept. Probes run at capture
start and at the end (store/clocks.py combines both and uses the result as the recording's
common clock). Two nodes on one machine share its clock: their skew is 0 within the bound.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from .dist import Connection, NodeDown, RpcError, RpcTimeout

PROBES = 8
"""Round trips per estimate (each costs one rpc, ~0.3 ms on loopback)."""


class ClockProbeError(Exception):
    """The node did not answer the clock probes."""


@dataclass(frozen=True)
class ClockEstimate:
    """A node's clock against the host's, in the node's native units."""

    skew: int  # node system time - host system time
    error: int  # bound on |true skew - skew|: half the best probe's round trip
    time_unit: int  # native units per second
    probes: int  # round trips made

    @property
    def error_ns(self) -> int:
        return self.error * 1_000_000_000 // self.time_unit


async def probe_clock(conn: Connection, time_unit: int, probes: int = PROBES,
                      timeout: float = 2.0) -> ClockEstimate:
    """Estimate ``conn``'s node clock with ``probes`` round trips (keeps the shortest)."""
    if time_unit <= 0:
        raise ValueError(f"time_unit must be > 0, got {time_unit}")
    if not 1 <= probes <= 64:
        raise ValueError(f"probes must be 1..64, got {probes}")
    best: tuple[int, int] | None = None  # (round trip, skew), native units
    for _ in range(probes):
        t0 = time.time_ns()
        try:
            remote = await conn.rpc("erlang", "system_time", [], timeout=timeout)
        except (NodeDown, RpcError, RpcTimeout) as exc:
            raise ClockProbeError(f"{conn.node_name} did not answer a clock probe: {exc}") from exc
        t1 = time.time_ns()
        if not isinstance(remote, int) or isinstance(remote, bool):
            raise ClockProbeError(f"{conn.node_name} answered erlang:system_time() with {remote!r}")
        # host times in the node's native unit; the bound is rounded up so it stays a bound
        n0, n1 = t0 * time_unit // 1_000_000_000, -((-t1 * time_unit) // 1_000_000_000)
        rtt = n1 - n0
        if best is None or rtt < best[0]:
            best = (rtt, remote - (n0 + n1) // 2)
    assert best is not None
    rtt, skew = best
    return ClockEstimate(skew=skew, error=(rtt + 1) // 2 + 1, time_unit=time_unit, probes=probes)
