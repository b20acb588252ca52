"""What every endpoint shares: the app's store, parameter parsing with clear errors, and the
JSON shapes of events and processes."""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from elixir_scope.store import Event, EventKind, ProcessInfo, Recording, TraceStore
from elixir_scope.store.gaps import Gap

from ..terms import short


class ApiError(Exception):
    """A request the API cannot answer; ``status`` is the HTTP status, the message says why
    and what to do."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class UiState:
    """Shared by the endpoints (held by the app, not a module global): the open store."""

    store: TraceStore
    config: Any = None
    live: Any = None
    """The connection to a live node (api/live.py), made when the live page asks for it."""
    lock: threading.Lock = field(default_factory=threading.Lock)
    _recordings: dict[int, Recording] = field(default_factory=dict)

    _origins: dict[int, int] = field(default_factory=dict)
    # answers about ended recordings never change: the last few are kept (timeline revisits)
    cache: "OrderedDict[tuple, Any]" = field(default_factory=OrderedDict)

    def cached(self, key: tuple, ended: bool, compute):
        if ended:
            with self.lock:
                if key in self.cache:
                    self.cache.move_to_end(key)
                    return self.cache[key]
        value = compute()
        if ended:
            with self.lock:
                self.cache[key] = value
                while len(self.cache) > 32:
                    self.cache.popitem(last=False)
        return value

    def view(self, rid: int) -> "View":
        """The recording with its time origin (see ``View``)."""
        from elixir_scope.store.density import time_bounds

        rec = self.recording(rid)
        t0 = self._origins.get(rid)
        if t0 is None:
            bounds = time_bounds(rec)
            t0 = bounds[0] if bounds else 0
            if bounds:
                self._origins[rid] = t0
        return View(rec, t0)

    def recording(self, rid: int) -> Recording:
        from elixir_scope.store import RecordingNotFound

        with self.lock:
            rec = self._recordings.get(rid)
            if rec is None:
                try:
                    rec = self.store.recording(rid)
                except RecordingNotFound as exc:
                    raise ApiError(404, str(exc)) from exc
                self._recordings[rid] = rec
            return rec


def state(request: Request) -> UiState:
    return request.app.state.ui


def recording_of(request: Request) -> Recording:
    return state(request).recording(int_path(request, "rid"))


def view_of(request: Request) -> "View":
    return state(request).view(int_path(request, "rid"))


class View:
    """A recording as the browser sees it. Times travel *relative to the recording's first
    event* (``t0``): a node's monotonic time in native units is often near -2^59, beyond the
    integers a JavaScript number holds exactly, while offsets within a recording are not."""

    def __init__(self, rec: Recording, t0: int) -> None:
        self.rec = rec
        self.t0 = t0

    def rel(self, ts: int | None) -> int | None:
        return None if ts is None else ts - self.t0

    def moment(self, request: Request, name: str, default: int | None = None) -> int | None:
        """A time parameter (relative, as sent to the browser) as the node's own time."""
        v = int_param(request, name)
        return default if v is None else v + self.t0

    def ev(self, e: Event, detail: bool = False) -> dict:
        out = event_json(e, detail)
        out["ts"] = e.ts - self.t0
        return out

    def gap(self, g: Gap) -> dict:
        out = gap_json(g)
        out["ts"] = g.ts - self.t0
        return out

    def proc(self, p: ProcessInfo | None) -> dict | None:
        out = proc_json(p)
        if out:
            out["born"], out["died"] = self.rel(p.born_ts), self.rel(p.died_ts)
        return out


def int_path(request: Request, name: str) -> int:
    try:
        return int(request.path_params[name])
    except (KeyError, ValueError):
        raise ApiError(400, f"{name} must be an integer") from None


def int_param(request: Request, name: str, default: int | None = None, *, lo: int | None = None,
              hi: int | None = None) -> int | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, f"{name} must be an integer, got {raw[:40]!r}") from None
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise ApiError(400, f"{name} must be between {lo} and {hi}, got {value}")
    return value


def list_param(request: Request, name: str, cap: int = 50) -> list[str]:
    raw = request.query_params.get(name, "")
    items = [x.strip() for x in raw.split(",") if x.strip()]
    if len(items) > cap:
        raise ApiError(400, f"at most {cap} values for {name}, got {len(items)}")
    return items


def ok(data: Any) -> JSONResponse:
    return JSONResponse(data)


APP_NAME_CHARS = 120  # longest app name shown for a process


def proc_json(p: ProcessInfo | None) -> dict | None:
    """A recorded process for the browser: ``name`` its registered name, ``app_names`` what the
    application calls it (process label, ``process_name``, ``via {MyApp.Registry, "user-42"}``),
    ``label`` how lanes and lists name it: the registered name, else the first app name, then
    the pid."""
    if p is None:
        return None
    name, app_names = _names(p)
    return {"key": f"{p.node_id}.{p.idx}", "pid": p.pid_text, "name": name, "app_names": app_names,
            "label": proc_label(p),
            "initial": str(p.initial_call) if p.initial_call else None,
            "born": p.born_ts, "died": p.died_ts}


def _names(p: ProcessInfo) -> tuple[str | None, list[str]]:
    from elixir_scope.store.app_names import app_names_text

    name = p.reg_name[7:] if p.reg_name and p.reg_name.startswith("Elixir.") else p.reg_name
    return name, app_names_text(p.app_names, lambda t: short(t, APP_NAME_CHARS)) if p.app_names else []


def proc_label(p: ProcessInfo) -> str:
    """``EsUi.Ledger <0.150.0>``, ``via {MyApp.Registry, "user-42"} <0.151.0>``, or the pid."""
    name, app_names = _names(p)
    shown = name or (app_names[0] if app_names else None)
    return f"{shown} {p.pid_text}" if shown else p.pid_text


def describe(e: Event) -> str:
    """One line for an event: what happened, shortened."""
    kind = e.kind
    try:
        if kind in (EventKind.CALL, EventKind.RETURN, EventKind.EXCEPTION):
            return f"{kind.name.lower()} {e.mfa}" + (f" → {short(e.payload, 80)}" if kind != EventKind.CALL else "")
        if kind == EventKind.STATE:
            return f"state ({e.payload[0]}) {e.mfa or 'checkpoint'}"
        if kind in (EventKind.SEND, EventKind.SEND_DEAD):
            payload = e.payload
            msg = payload[0] if isinstance(payload, tuple) and payload else payload
            other = e.aux_process
            return f"send {short(msg, 80)}" + (f" to {proc_label(other)}" if other else "")
        if kind == EventKind.RECEIVE:
            return f"receive {short(e.payload, 80)}"
        other = e.aux_process
        return kind.name.lower() + (f" {proc_label(other)}" if other else f" {short(e.payload, 80)}")
    except Exception as exc:  # a payload this view cannot show must not hide the rest
        return f"{kind.name.lower()} (payload not shown: {type(exc).__name__})"


def event_json(e: Event, detail: bool = False) -> dict:
    out = {"id": e.id, "kind": e.kind.name.lower(), "ts": e.ts, "node": e.node_id,
           "proc": f"{e.node_id}.{e.pid}", "pid": e.pid_text, "text": describe(e),
           "truncated": e.truncated, "redacted": e.redacted}
    if detail:
        from ..terms import term_tree

        try:
            out["payload"] = term_tree(e.payload)
        except Exception as exc:
            out["payload"] = {"k": "leaf", "s": f"(payload not decodable: {exc})"}
        out["mfa"] = str(e.mfa) if e.mfa else None
        other = e.aux_process
        out["other"] = proc_json(other)
        wall = e.wall_time
        out["wall"] = wall.isoformat() if wall else None
    return out


def gap_json(g: Gap) -> dict:
    lost = f"{g.count} events" if g.count else "an unknown number of events"
    return {"id": g.id, "ts": g.ts, "node": g.node_id, "count": g.count, "reason": g.reason,
            "text": f"gap: {lost} dropped ({g.reason})" + (f" — {g.detail}" if g.detail else "")}


def process_ref(rec: Recording, text: str):
    """A process named by the browser: ``node.idx`` (lane key), a pid text or a name."""
    from elixir_scope.store import RecordingNotFound

    ref: Any = text
    if text.count(".") == 1 and all(part.isdigit() for part in text.split(".")):
        n, i = text.split(".")
        ref = (int(n), int(i))
    try:
        return rec.resolve_process(ref)
    except RecordingNotFound as exc:
        raise ApiError(404, str(exc)) from exc
