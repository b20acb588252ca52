"""``node_info``: what node is this, how big, how busy, what runs on it.

Every fact is one small rpc and they are all sent at once (independent calls pipeline over
the one connection), so the whole picture costs about one round trip.
"""

from __future__ import annotations

import asyncio

from ..dist import Connection
from ..dist.errors import RpcError
from ..etf import Atom
from ._terms import proplist, text
from .models import Application, Memory, NodeInfo

__all__ = ["node_info"]

_A = Atom


async def node_info(conn: Connection, *, timeout: float = 10.0) -> NodeInfo:
    def call(m: str, f: str, *args):
        return conn.rpc(m, f, list(args), timeout=timeout)

    def sysinfo(item: str):
        return call("erlang", "system_info", _A(item))

    (
        node,
        otp,
        erts,
        arch,
        wall,
        pcount,
        plimit,
        portcount,
        memory,
        scheds,
        online,
        apps,
        ticktime,
        units,
        offset,
        warp,
    ) = await asyncio.gather(
        call("erlang", "node"),
        sysinfo("otp_release"),
        sysinfo("version"),
        sysinfo("system_architecture"),
        call("erlang", "statistics", _A("wall_clock")),
        sysinfo("process_count"),
        sysinfo("process_limit"),
        sysinfo("port_count"),
        call("erlang", "memory"),
        sysinfo("schedulers"),
        sysinfo("schedulers_online"),
        call("application", "which_applications"),
        call("net_kernel", "get_net_ticktime"),
        call("erlang", "convert_time_unit", 1, _A("second"), _A("native")),
        call("erlang", "time_offset"),
        sysinfo("time_warp_mode"),
    )
    elixir = None
    try:
        found = await call("application", "get_key", _A("elixir"), _A("vsn"))
        if isinstance(found, tuple) and found[0] == _A("ok"):
            elixir = text(found[1])
    except RpcError:
        elixir = None
    mem = proplist(memory)
    if isinstance(ticktime, tuple):  # {ongoing_change_to, T}
        ticktime = ticktime[1]
    return NodeInfo(
        name=text(node),
        otp_release=text(otp),
        erts_version=text(erts),
        elixir_version=elixir,
        system_architecture=text(arch),
        uptime_ms=wall[0],
        process_count=pcount,
        process_limit=plimit,
        port_count=portcount,
        memory=Memory(**{k: mem.get(k, 0) for k in Memory.__dataclass_fields__}),
        schedulers=scheds,
        schedulers_online=online,
        applications=[Application(text(a), text(d), text(v)) for a, d, v in apps],
        net_ticktime=ticktime,
        native_units_per_second=units,
        time_offset_native=offset,
        time_warp_mode=text(warp),
    )
