"""Connected test clusters of real nodes, for multi-node capture tests.

``start_cluster()`` starts ``b`` (OTP 25) and ``c`` (the OTP 28 runtime) running a server
``srv`` that answers ``gen:call`` requests (replies go to the caller's alias, as a GenServer's
do) and pings, then ``a`` (OTP 25) connected to both, running ``client``: on ``{go, Nodes, N}``
it pings and calls ``srv`` on each node ``N`` times. With ``traffic_ms`` the client does so on
its own every that many milliseconds (to both other nodes, once each). One cookie for all;
stop with ``stop_cluster`` (by pid)."""

from __future__ import annotations

from .nodes import BeamNode, start_node, unique

SERVER = ("register(srv, spawn(fun Loop() -> receive "
          "{'$gen_call', From, Req} -> gen:reply(From, {ok, Req}), Loop(); "
          "{ping, From, N} -> From ! {pong, N}, Loop() end end))")
CLIENT = ("register(client, spawn(fun Loop() -> receive {go, Nodes, N} -> "
          "[begin {srv, Nd} ! {ping, self(), I}, receive {pong, I} -> ok end, "
          "{ok, {ok, I}} = gen:call({srv, Nd}, '$gen_call', I) end "
          "|| Nd <- Nodes, I <- lists:seq(1, N)], Loop() end end))")


def start_cluster(traffic_ms: int | None = None) -> tuple[BeamNode, BeamNode, BeamNode]:
    cookie = unique("ck")
    started: list[BeamNode] = []
    try:
        b = start_node("erl", cookie=cookie, eval_code=SERVER)
        started.append(b)
        c = start_node("otp28", cookie=cookie, eval_code=SERVER)
        started.append(c)
        tick = (f", {{ok, _}} = timer:send_interval({traffic_ms}, client, "
                f"{{go, ['{b.name}', '{c.name}'], 1}})") if traffic_ms else ""
        a = start_node("erl", cookie=cookie, eval_code=(
            f"pong = net_adm:ping('{b.name}'), pong = net_adm:ping('{c.name}'), {CLIENT}{tick}"))
        started.append(a)
    except BaseException:
        stop_cluster(started)
        raise
    return a, b, c


def stop_cluster(nodes) -> None:
    for n in nodes:
        n.stop()
