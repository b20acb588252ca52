"""Output models shared by the MCP tools and the command line's ``--json``.

Typed at the boundary: what the layers below return (store events, recording infos, node
and process facts) is converted once into these pydantic models, with every Erlang term
rendered as bounded Elixir text, so a model or a script never sees ETF objects or unbounded
states. Imports pydantic only (no MCP SDK), so the command line can use them cheaply.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from pydantic import BaseModel, Field

from elixir_scope.instrument.etf.inspect import inspect

TERM_LIMIT = 25
TERM_PRINTABLE_LIMIT = 500


def term_text(value: Any, *, limit: int = TERM_LIMIT, printable_limit: int = TERM_PRINTABLE_LIMIT) -> str:
    """A term as bounded Elixir text (see ``instrument.etf.inspect``)."""
    return inspect(value, limit=limit, printable_limit=printable_limit)


def process_label(proc: Any) -> str:
    """``<0.300.0> (SampleApp.Cart)``: a recorded process with its name in Elixir syntax, and
    what the application calls it when the agent saw that (``<0.301.0> [cart 42]``,
    ``<0.302.0> [via {MyApp.Registry, "user-42"}]``)."""
    if proc is None:
        return "?"
    extra = "".join(f" [{t}]" for t in app_name_texts(proc))
    if not proc.reg_name:
        return proc.pid_text + extra
    from elixir_scope.instrument.etf import Atom

    return f"{proc.pid_text} ({inspect(Atom(proc.reg_name))}){extra}"


def app_name_texts(proc: Any) -> list[str]:
    """A recorded process's app names (label, process_name, Registry names) as bounded text."""
    names = getattr(proc, "app_names", ())
    if not names:
        return []
    from elixir_scope.store.app_names import app_names_text

    return app_names_text(names, lambda t: inspect(t, limit=8, printable_limit=80))


def _iso(ts: float | None) -> str | None:
    return datetime.fromtimestamp(ts, tz=timezone.utc).isoformat(timespec="seconds") if ts else None


# -- recordings --------------------------------------------------------------------------
class RecordingRow(BaseModel):
    id: int
    name: str
    status: str = Field(description="recording (still being written), ended, or interrupted")
    created_at: str | None
    ended_at: str | None
    end_reason: str | None
    event_count: int
    dropped_count: int = Field(description="Events the agent dropped under load (recorded as gaps).")
    spec: dict[str, Any]
    limits: dict[str, Any]


def recording_row(info: Any) -> RecordingRow:
    return RecordingRow(
        id=info.id, name=info.name, status=info.status, created_at=_iso(info.created_at),
        ended_at=_iso(info.ended_at), end_reason=info.end_reason, event_count=info.event_count,
        dropped_count=info.dropped_count, spec=_jsonish(info.spec), limits=_jsonish(info.limits),
    )


def _jsonish(d: dict) -> dict[str, Any]:
    return {str(k): (v if isinstance(v, (str, int, float, bool, type(None), list, dict)) else term_text(v))
            for k, v in d.items()}


# -- events ------------------------------------------------------------------------------
def since_start(ts: int, node: Any) -> str | None:
    """``+12.400 ms``: ``ts`` relative to the start of the node's capture (None when unknown)."""
    if node is None or node.mono_at_start is None or not node.time_unit:
        return None
    us = (ts - node.mono_at_start) * 1_000_000 / node.time_unit
    if abs(us) < 1000:
        return f"{us:+.0f} µs"
    if abs(us) < 1_000_000:
        return f"{us / 1000:+.3f} ms"
    return f"{us / 1_000_000:+.3f} s"


class EventRow(BaseModel):
    """One recorded event, as a model reads it."""

    id: int
    kind: str
    ts: int = Field(description="Node monotonic time (native units); order within a node.")
    at: str | None = Field(default=None, description="Time since the recording started, e.g. '+12.400 ms'.")
    time: str | None = Field(description="UTC wall-clock time, ISO 8601.")
    process: str = Field(description="Pid and registered name of the process the event belongs to.")
    function: str | None = Field(default=None, description="Module.function/arity for call/return/exception/state.")
    other: str | None = Field(default=None, description="The other process (send receiver, spawned child, link peer).")
    payload: str | None = Field(default=None, description="The payload term as Elixir text (bounded).")
    truncated: bool = False
    redacted: bool = False


def event_row(ev: Any, *, payload: bool = True, limit: int = TERM_LIMIT,
              printable_limit: int = TERM_PRINTABLE_LIMIT) -> EventRow:
    proc = ev.process
    other = ev.aux_process
    wall = ev.wall_time
    text = None
    if payload:
        try:
            text = term_text(ev.payload, limit=limit, printable_limit=printable_limit)
        except LookupError as exc:
            text = f"«unavailable: {exc}»"
    return EventRow(
        id=ev.id, kind=ev.kind.name.lower(), ts=ev.ts, at=since_start(ev.ts, ev.node),
        time=wall.isoformat(timespec="microseconds") if wall else None,
        process=process_label(proc) if proc else ev.pid_text,
        function=str(ev.mfa) if ev.mfa else None,
        other=process_label(other) if other else None,
        payload=text, truncated=ev.truncated, redacted=ev.redacted,
    )


class GapRow(BaseModel):
    """Events the tracer dropped: no event here does NOT mean nothing happened."""

    ts: int
    count: int
    reason: str
    description: str


def gap_row(gap: Any) -> GapRow:
    return GapRow(ts=gap.ts, count=gap.count, reason=gap.reason, description=gap.describe())


class NodeRow(BaseModel):
    """One traced node of a recording: how its part ended and its clock against this host."""

    name: str
    otp_release: str
    end_reason: str | None = Field(default=None, description="How this node's part ended (node_down: it left "
                                   "mid-capture); null for one-node recordings (see the recording's end).")
    clock_skew_us: float | None = Field(default=None, description="Node clock minus this host's, microseconds "
                                        "(round-trip probes); cross-node order corrects for it.")
    clock_error_us: float | None = Field(default=None, description="Bound on the skew estimate's error, microseconds.")


def node_row(node: Any) -> NodeRow:
    def us(v: int | None) -> float | None:
        return None if v is None else round(v * 1_000_000 / node.time_unit, 1)

    return NodeRow(name=node.name, otp_release=node.otp_release, end_reason=node.end_reason,
                   clock_skew_us=us(node.clock_skew), clock_error_us=us(node.clock_error))
