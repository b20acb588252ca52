"""Classic mode (OTP < 27) sets and clears `all` process by process, never with one
erlang:trace(all, ...): that call does not stop the dirty schedulers, and on releases before
erlang/otp#6448 (25.3) and #8286 (26.2.4) a traced process scheduled on one meanwhile can
segfault the node - an OTP 25.2 node died so in CI. Observable: erlang:trace(all, ...) also
gives every *port* the flags; process by process leaves the ports alone, while every existing
process and every new one is traced by the agent, and nothing is left traced afterwards."""

from __future__ import annotations

from elixir_scope.instrument.capture import CapturePlan
from elixir_scope.instrument.dist import Node
from elixir_scope.instrument.etf import Atom
from elixir_scope.instrument.limits import CaptureLimits
from elixir_scope.instrument.session import CaptureSession
from elixir_scope.instrument.specs import compile_spec
from elixir_scope.store import TraceStore

A = Atom
SEQ = "lists:seq(A, B) when B > 50 -> return"


async def _tracers(conn, items):
    return [await conn.rpc("erlang", "trace_info", [x, A("tracer")]) for x in items]


async def test_all_is_set_and_cleared_process_by_process_otp25(erl_node, tmp_path):
    store = TraceStore.open(tmp_path / "flags.db")
    async with Node() as node:
        conn = await node.connect(erl_node.name, cookie=erl_node.cookie)
        assert int((await conn.rpc("erlang", "system_info", [A("otp_release")])).text) < 27
        ports = await conn.rpc("erlang", "ports", [])
        assert ports
        existing = [await conn.rpc("erlang", "whereis", [A(n)]) for n in ("code_server", "init", "rex")]
        rec = store.create_recording("flags", spec={}, limits={})
        s = await CaptureSession.start(conn, rec, CapturePlan(specs=(compile_spec(SEQ),)), CaptureLimits())
        assert s.mode == "classic"
        ours = (A("tracer"), s.agent)
        assert await _tracers(conn, existing) == [ours] * len(existing)
        assert await conn.rpc("erlang", "trace_info", [A("new"), A("tracer")]) == ours
        flags = await conn.rpc("erlang", "trace_info", [existing[0], A("flags")])
        assert A("call") in flags[1]
        # erlang:trace(all, true, [call, ...]) would have given every port these flags too
        assert [await conn.rpc("erlang", "trace_info", [p, A("flags")]) for p in ports] == \
            [(A("flags"), [])] * len(ports)
        await conn.rpc("lists", "seq", [1, 60])
        result = await s.stop(timeout=10)
        assert result.end_reason == "stopped", result
        untraced = (A("tracer"), [])
        assert await _tracers(conn, existing) == [untraced] * len(existing)
        assert await conn.rpc("erlang", "trace_info", [A("new"), A("tracer")]) == untraced
    store.close()
