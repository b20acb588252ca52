"""Node-wide live figures: scheduler utilization over an interval, memory by kind and by
allocator, ports (sockets, files, external programs) with their owners, and application
environments (redacted on the node).

::

    load = await scheduler_usage(conn, interval_ms=500)
    mem = await memory_usage(conn)
    view = await ports(conn)
    env = await app_env(conn, "sample_app")
"""

from __future__ import annotations

from ..dist import Connection
from ..etf import Atom
from .live_call import LiveOptions, live_call, shown
from .live_call import atom_name as _name, reply_field as _a
from .live_models import (
    AllocatorUsage,
    AppEnv,
    AppSummary,
    MemoryUsage,
    OpenFile,
    PortInfo,
    PortsView,
    SchedulerLoad,
    SchedulerUsage,
    SocketInfo,
)

__all__ = ["scheduler_usage", "memory_usage", "ports", "app_env", "applications", "PORT_SCAN_LIMIT"]

# Ports, files and sockets described per call.
PORT_SCAN_LIMIT = 5_000
_INET = {"tcp_inet": "tcp", "udp_inet": "udp", "sctp_inet": "sctp"}


def _text(v) -> str | None:
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    return _name(v)


def _int(v) -> int:
    return v if isinstance(v, int) and not isinstance(v, bool) else 0


async def scheduler_usage(conn: Connection, *, interval_ms: int = 1000,
                          options: LiveOptions | None = None) -> SchedulerUsage:
    """How busy each scheduler was over ``interval_ms`` (50..10000), as ``recon:scheduler_usage``
    measures it (``scheduler_wall_time`` deltas)."""
    if not 50 <= interval_ms <= 10_000:
        raise ValueError(f"interval_ms must be between 50 and 10000, got {interval_ms}")
    r = await live_call(conn, (Atom("scheduler_usage"), interval_ms), options, timeout=interval_ms / 1000 + 10)
    loads = [SchedulerLoad(id=i, type=t.name, utilization=(a / tot if tot else 0.0))
             for i, t, a, tot in _a(r, "schedulers")]
    return SchedulerUsage(interval_ms=_a(r, "interval_ms"), schedulers=loads, online=_a(r, "online"),
                          run_queue=_a(r, "run_queue"))


async def memory_usage(conn: Connection, *, options: LiveOptions | None = None) -> MemoryUsage:
    """``erlang:memory()`` by kind plus, per allocator, what it holds from the OS (carriers)
    and what is in use (blocks)."""
    r = await live_call(conn, Atom("memory_usage"), options, timeout=30.0)
    by_kind = {k.name: v for k, v in _a(r, "memory")}
    allocs = [AllocatorUsage(a.name, c, b, i) for a, c, b, i in _a(r, "allocators")]
    allocs.sort(key=lambda x: x.carriers_bytes, reverse=True)
    return MemoryUsage(by_kind=by_kind, allocators=allocs)


def _port(m: dict) -> PortInfo:
    name = _text(_a(m, "name")) or "?"
    port = _a(m, "port")
    return PortInfo(port=str(port), kind=_INET.get(name, name), owner=_a(m, "owner"),
                    owner_name=_name(_a(m, "owner_name")), local=_text(_a(m, "local")),
                    peer=_text(_a(m, "peer")), os_pid=_a(m, "os_pid") if isinstance(_a(m, "os_pid"), int) else None,
                    bytes_in=_int(_a(m, "input")), bytes_out=_int(_a(m, "output")))


async def ports(conn: Connection, *, options: LiveOptions | None = None) -> PortsView:
    """Ports (TCP/UDP sockets with addresses, external programs, drivers), open files (their
    io servers) and ``socket``-module sockets, each with the process that owns it."""
    r = await live_call(conn, (Atom("ports"), PORT_SCAN_LIMIT), options, timeout=30.0)
    files = [OpenFile(pid=_a(f, "pid"), path=_text(_a(f, "file")), owner=_a(f, "owner"),
                      owner_name=_name(_a(f, "owner_name"))) for f in _a(r, "files")]
    socks = [SocketInfo(socket=_text(_a(s, "socket")) or "?", owner=_a(s, "owner"),
                        owner_name=_name(_a(s, "owner_name")), domain=str(_name(_a(s, "domain"))),
                        type=str(_name(_a(s, "type"))), protocol=str(_name(_a(s, "protocol"))),
                        local=_text(_a(s, "local")), peer=_text(_a(s, "peer"))) for s in _a(r, "sockets")]
    return PortsView(ports=[_port(p) for p in _a(r, "ports")], total_ports=_a(r, "total_ports"),
                     files=files, total_files=_a(r, "total_files"), sockets=socks)


async def app_env(conn: Connection, application: str, *, options: LiveOptions | None = None) -> AppEnv:
    """An application's environment, values under sensitive keys replaced by ``'[REDACTED]'``
    on the node."""
    app = application.strip().removeprefix(":")
    if not app:
        raise ValueError("name an application, e.g. sample_app or kernel")
    r = await live_call(conn, (Atom("app_env"), app.encode()), options)
    entries = [(k.name if isinstance(k, Atom) else str(k), shown(v)) for k, v in _a(r, "env")]
    return AppEnv(application=_name(_a(r, "app")) or app, entries=entries)


async def applications(conn: Connection, *, options: LiveOptions | None = None) -> list[AppSummary]:
    """The loaded applications: running or not, and how many environment keys each has."""
    r = await live_call(conn, Atom("applications"), options)
    out = [AppSummary(a.name, running is True or running == Atom("true"), n) for a, running, n in r]
    return sorted(out, key=lambda a: a.application)
