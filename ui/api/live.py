"""The live node: connect, node facts with memory and load sampled over the last minutes, the
process table, the supervision trees, and a capture started from the page (with its limits)
whose recording fills while the page watches. The only part of the UI that talks to a node;
it uses ``instrument/`` (agent-less introspection over rpc, capture sessions) like the CLI."""

from __future__ import annotations

import logging
import time
from collections import deque
from dataclasses import asdict, dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.routing import Route

from .common import APP_NAME_CHARS, ApiError, int_param, ok, state

log = logging.getLogger(__name__)

NAMES_TTL_S = 15.0
SAMPLES = 300  # 10 minutes at one sample every 2 s
MAX_ROWS = 500


@dataclass
class LiveLink:
    """The UI's connection to one live node, its samples and its running capture."""

    me: Any
    conn: Any
    node: str
    samples: deque = field(default_factory=lambda: deque(maxlen=SAMPLES))
    session: Any = None
    recording_id: int | None = None
    last_reductions: tuple[float, int] | None = None
    #: pid -> (what the application calls it, when that was read): the table refreshes every
    #: 2 s, the names are asked of the agent again only after NAMES_TTL_S
    names: dict = field(default_factory=dict)


def _link(request: Request) -> LiveLink:
    link = getattr(state(request), "live", None)
    if link is None or link.conn.closed.is_set():
        raise ApiError(409, "not connected to a node: connect first (POST /api/live/connect)")
    return link


async def connect(request: Request):
    from elixir_scope.instrument.dist import ConnectError, Node

    body = await _json(request)
    ui = state(request)
    node = (body.get("node") or ui.config.default_node or "").strip()
    if not node or "@" not in node or len(node) > 255:
        raise ApiError(400, "give the node as name@host (the node's --sname/--name), e.g. my_app@myhost")
    cookie = body.get("cookie") or ui.config.cookie
    old = getattr(ui, "live", None)
    if old is not None:
        if old.node == node and not old.conn.closed.is_set():
            return ok({"node": node})
        await close_link(old)
    me = Node()
    try:
        conn = await me.connect(node, cookie=cookie, timeout=10.0)
    except (ConnectError, OSError) as exc:
        await me.close()
        raise ApiError(502, f"cannot connect to {node}: {exc}") from exc
    ui.live = LiveLink(me, conn, node)
    return ok({"node": node})


async def close_link(link: LiveLink) -> None:
    if link.session is not None:
        await link.session.stop()
    await link.me.close()


async def overview(request: Request):
    """Node facts and one more sample of memory, run queue and reductions per second."""
    from elixir_scope.instrument.introspect import node_info

    link = _link(request)
    info = await node_info(link.conn)
    run_queue = await link.conn.rpc("erlang", "statistics", [_atom("run_queue")])
    reductions = (await link.conn.rpc("erlang", "statistics", [_atom("exact_reductions")]))[0]
    now = time.time()
    rate = None
    if link.last_reductions is not None and now > link.last_reductions[0]:
        rate = (reductions - link.last_reductions[1]) / (now - link.last_reductions[0])
    link.last_reductions = (now, reductions)
    m = info.memory
    link.samples.append({"t": now, "total": m.total, "processes": m.processes, "ets": m.ets,
                         "binary": m.binary, "run_queue": run_queue, "reductions_per_s": rate,
                         "process_count": info.process_count})
    return ok({"node": info.name, "otp": info.otp_release, "elixir": info.elixir_version,
               "uptime_ms": info.uptime_ms, "processes": info.process_count, "process_limit": info.process_limit,
               "schedulers": info.schedulers_online, "memory": asdict(m),
               "applications": [a.name for a in info.applications], "samples": list(link.samples)})


async def processes(request: Request):
    from elixir_scope.instrument.introspect import process_overview

    link = _link(request)
    sort = request.query_params.get("sort", "memory")
    if sort not in ("memory", "reductions", "message_queue_len"):
        raise ApiError(400, "sort must be memory, reductions or message_queue_len")
    limit = int_param(request, "limit", 100, lo=1, hi=MAX_ROWS)
    needle = request.query_params.get("filter", "").strip().lower()
    # a filter looks further down the table than it shows
    rows = await process_overview(link.conn, sort_by=sort, limit=MAX_ROWS if needle else limit)
    names = await _cached_app_names(link, [p.pid for p in rows])
    out = []
    for p in rows:
        name = _short(p.registered_name)
        row = {"pid": str(p.pid), "name": name, "app_names": names.get(p.pid, []),
               "initial": str(p.initial_call) if p.initial_call else None,
               "current": str(p.current_function) if p.current_function else None, "status": p.status,
               "queue": p.message_queue_len, "memory": p.memory, "reductions": p.reductions,
               "behaviour": p.behaviour}
        if needle and needle not in " ".join(str(v) for v in row.values()).lower():
            continue
        out.append(row)
    return ok({"sort": sort, "rows": out[:limit]})


async def _cached_app_names(link: LiveLink, pids: list) -> dict:
    """pid -> its app names, read again only for pids not read in the last ``NAMES_TTL_S``."""
    now = time.monotonic()
    stale = [p for p in pids if now - link.names.get(p, (None, -NAMES_TTL_S))[1] >= NAMES_TTL_S]
    if stale:
        fresh = await _app_names(link.conn, stale)
        if fresh is not None:
            for p in stale:
                link.names[p] = (fresh.get(p, []), now)
        if len(link.names) > 4 * MAX_ROWS:  # bounded: forget the oldest
            for p in sorted(link.names, key=lambda p: link.names[p][1])[:len(link.names) - 2 * MAX_ROWS]:
                del link.names[p]
    return {p: link.names[p][0] for p in pids if p in link.names}


async def _app_names(conn: Any, pids: list) -> dict | None:
    """pid -> what the application calls the process (its label, ``process_name``, ``global``
    and Registry names), read by the agent; a nicety: when the agent cannot be asked, None."""
    from elixir_scope.instrument.agent.loader import AgentLoadError
    from elixir_scope.instrument.dist.errors import DistError
    from elixir_scope.instrument.etf import Atom
    from elixir_scope.instrument.introspect import process_labels
    from elixir_scope.store.app_names import AppName, app_names_text

    from ..terms import short

    try:
        found = await process_labels(conn, pids)
    except (DistError, AgentLoadError, ValueError) as exc:
        log.warning("process labels unavailable on %s: %s", getattr(conn, "node_name", "?"), exc)
        return None
    out = {}
    for pid, n in found.items():
        names = [AppName(kind, v.term, v.truncated, v.redacted)
                 for kind, v in (("$process_label", n.label), ("process_name", n.process_name)) if v is not None]
        names += [AppName("via", (Atom(reg), key.term), key.truncated, key.redacted) for reg, key in n.registry_names]
        texts = app_names_text(tuple(names), lambda t: short(t, APP_NAME_CHARS))
        if n.global_name is not None:
            texts.append("global " + short(n.global_name.term, APP_NAME_CHARS))
        out[pid] = texts
    return out


async def trees(request: Request):
    from elixir_scope.instrument.introspect import supervision_trees

    link = _link(request)
    budget = [2000]

    def sup(node) -> dict:
        kids = []
        for c in node.children:
            if budget[0] <= 0:
                break
            budget[0] -= 1
            kids.append({"id": _text(c.id), "pid": str(c.pid) if c.pid else None, "type": c.type,
                         "status": c.status, "sup": sup(c.supervisor) if c.supervisor else None})
        return {"pid": str(node.pid), "name": _short(node.registered_name), "strategy": node.strategy,
                "application": node.application, "children": kids, "truncated": node.truncated}

    return ok({"trees": [sup(t) for t in await supervision_trees(link.conn)]})


async def start_capture(request: Request):
    """Start a capture with limits; the recording fills in the UI's store."""
    from elixir_scope.instrument.capture import CapturePlan, CaptureError, Registered
    from elixir_scope.instrument.limits import CaptureLimits
    from elixir_scope.instrument.session import SessionState, capture

    link = _link(request)
    if link.session is not None and link.session.state == SessionState.RUNNING:
        raise ApiError(409, f"a capture is already running (recording {link.recording_id}): stop it first")
    body = await _json(request)
    states = [await _existing(link, _module(m), "module") for m in _names(body.get("state_of"))]
    messages = [Registered(await _existing(link, _module(m), "process")) for m in _names(body.get("messages_of"))]
    if not states and not messages:
        raise ApiError(400, "name at least one module for state history or one registered process for messages")
    try:
        limits = CaptureLimits(max_events=_bounded(body, "max_events", 1000, 1, 1_000_000),
                               max_seconds=_bounded(body, "max_seconds", 30, 1, 3600))
        plan = CapturePlan(state_modules=tuple(states), message_procs=tuple(messages))
        link.session = await capture(link.conn, state(request).store, str(body.get("name") or "ui capture")[:100],
                                     plan, limits)
    except (CaptureError, ValueError) as exc:
        raise ApiError(400, f"the capture did not start: {exc}") from exc
    link.recording_id = link.session.recording.id
    return ok({"recording_id": link.recording_id})


async def capture_status(request: Request):
    link = _link(request)
    if link.session is None:
        return ok({"running": False, "recording_id": None})
    from elixir_scope.instrument.session import SessionState

    running = link.session.state == SessionState.RUNNING
    result = None if running else await link.session.wait()
    info = state(request).store.recording(link.recording_id).info
    return ok({"running": running, "recording_id": link.recording_id, "events": info.event_count,
               "dropped": info.dropped_count, "end_reason": result.end_reason if result else None,
               "limits": {"max_events": link.session.limits.max_events,
                          "max_seconds": link.session.limits.max_seconds}})


async def stop_capture(request: Request):
    link = _link(request)
    if link.session is None:
        raise ApiError(409, "no capture was started from this page")
    result = await link.session.stop()
    return ok({"recording_id": result.recording_id, "end_reason": result.end_reason})


# -- helpers ---------------------------------------------------------------------------------

async def _json(request: Request) -> dict:
    try:
        body = await request.json()
    except ValueError:
        raise ApiError(400, "send a JSON object") from None
    if not isinstance(body, dict):
        raise ApiError(400, "send a JSON object")
    return body


def _atom(name: str):
    from elixir_scope.instrument.etf import Atom

    return Atom(name)  # literal atoms of this module only, never user text


def _names(value) -> list[str]:
    if isinstance(value, str):
        value = [v for v in value.replace(",", " ").split() if v]
    if not isinstance(value, list) or len(value) > 20 or not all(isinstance(v, str) for v in value):
        raise ApiError(400, "module and process names are a list of up to 20 strings")
    return value


async def _existing(link: LiveLink, name: str, what: str) -> str:
    """``name`` if the node already knows it as an atom (asked with a binary, so asking makes
    no atom) and, for a process, something is registered under it; a clear error otherwise."""
    from elixir_scope.instrument.dist import RpcError

    try:
        atom = await link.conn.rpc("erlang", "binary_to_existing_atom", [name.encode(), _atom("utf8")])
    except RpcError:
        raise ApiError(400, f"no {what} named {name} on {link.node} (check the spelling; an "
                       "Elixir module is MyApp.Cart)") from None
    if what == "process" and await link.conn.rpc("erlang", "whereis", [atom]) == _atom("undefined"):
        raise ApiError(400, f"no process is registered as {name} on {link.node}")
    return name


def _module(name: str) -> str:
    """``MyApp.Cart`` -> ``Elixir.MyApp.Cart``; Erlang names stay."""
    name = name.strip()
    if not name or len(name) > 200:
        raise ApiError(400, f"bad module or process name {name[:40]!r}")
    return name if name.startswith("Elixir.") or not name[:1].isupper() else "Elixir." + name


def _bounded(body: dict, key: str, default: int, lo: int, hi: int) -> int:
    v = body.get(key, default)
    if not isinstance(v, (int, float)) or isinstance(v, bool) or not lo <= v <= hi:
        raise ApiError(400, f"{key} must be a number between {lo} and {hi}")
    return int(v)


def _short(name: str | None) -> str | None:
    return name[7:] if name and name.startswith("Elixir.") else name


def _text(term) -> str:
    from ..terms import short

    return short(term, 80)


ROUTES = [
    Route("/api/live/connect", connect, methods=["POST"]),
    Route("/api/live/overview", overview),
    Route("/api/live/processes", processes),
    Route("/api/live/trees", trees),
    Route("/api/live/capture", start_capture, methods=["POST"]),
    Route("/api/live/capture", capture_status),
    Route("/api/live/capture/stop", stop_capture, methods=["POST"]),
]
