"""MCP server benchmarks (print figures; compare with a baseline measured in the same run).

1. Cold start: spawn ``elixir-scope mcp`` over stdio and time until the answer to the first
   ``tools/list`` arrives (initialize → initialized → tools/list, raw JSON-RPC lines, so no
   client library cost is counted), and until the answer to a first tool call sent right
   after it (the server fully loaded). Our server four ways: its user start cache filled by an
   earlier start (a client restarting it); the first start, with a fresh user cache folder
   (after install or upgrade: the answers shipped in the package); a client never seen before
   (other ``initialize`` parameters: client name, protocol version) on the filled cache; and
   with the start cache off (``ELIXIR_SCOPE_START_CACHE=off``: what every start costs without
   early answers). Baseline: a minimal ``MCPServer`` with one tool, started the same way. Idle,
   then again with ``--load`` busy processes spinning (one per core by default) - the same
   run. Goal ≤ 1 s to tools/list, also under load.
2. Tool-call latency: p50/p95 of the ``query`` tool through an in-process MCP client session
   (the SDK's ``Client(server)``: JSON-RPC, validation, structured output), against the same
   query run directly with ``store.query.run_query`` on the same store. Goal p50 ≤ 20 ms at
   1M events. The recording (``--events``, default 1,000,000) is written in the agent's exact
   record format through the store's real ingest (``store.batch.SyntheticTrace``): GenServer
   calls with state history. Default page sizes and limits, as a client gets them.

Figures: min/median/max (cold start) and p50/p95 (latency), with the load average (the
machine is shared); the last line is one JSON object.

Run: ``.venv/bin/python benchmarks/bench_mcp.py [--runs N] [--calls N] [--events N] [--load N]
[--part all|cold|latency]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

BASELINE_SERVER = textwrap.dedent("""
    from mcp.server.mcpserver import MCPServer
    server = MCPServer("baseline")

    @server.tool()
    def ping() -> str:
        \"\"\"Answer pong.\"\"\"
        return "pong"

    server.run()
""")

MESSAGES = [
    {"jsonrpc": "2.0", "id": 1, "method": "initialize",
     "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                "clientInfo": {"name": "bench", "version": "1"}}},
    {"jsonrpc": "2.0", "method": "notifications/initialized"},
    {"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
]


CALLS = {"ours": {"name": "query_help", "arguments": {}}, "baseline": {"name": "ping", "arguments": {}}}


def time_to_tools_list(argv: list[str], env: dict[str, str], call: dict,
                       params: dict | None = None) -> tuple[float, int, float, float]:
    """Seconds from spawn to the tools/list answer, how many tools it listed, the seconds to
    the answer of a first tool call sent right after tools/list (the server fully loaded), and
    the CPU seconds the server used until then (wall time on a shared machine depends on its
    load; CPU less)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, env=env, text=True)
    assert proc.stdin and proc.stdout
    init = MESSAGES[0] if params is None else {**MESSAGES[0], "params": params}
    proc.stdin.write(json.dumps(init) + "\n")
    proc.stdin.flush()
    try:
        while True:
            line = proc.stdout.readline()
            if not line:
                raise RuntimeError(f"server exited early: {argv}")
            msg = json.loads(line)
            if msg.get("id") == 1:
                for m in MESSAGES[1:]:
                    proc.stdin.write(json.dumps(m) + "\n")
                proc.stdin.flush()
            elif msg.get("id") == 2:
                elapsed = time.perf_counter() - t0
                count = len(msg["result"]["tools"])
                proc.stdin.write(json.dumps({"jsonrpc": "2.0", "id": 3, "method": "tools/call",
                                             "params": call}) + "\n")
                proc.stdin.flush()
            elif msg.get("id") == 3:
                assert "result" in msg and not msg["result"].get("isError"), msg
                first_call = time.perf_counter() - t0
                break
    finally:
        proc.stdin.close()
        proc.terminate()
        proc.wait(timeout=10)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return elapsed, count, first_call, cpu


RESULTS: dict = {"bench": "mcp"}
BURN = "while True: pass"


def start_load(n: int) -> list[subprocess.Popen]:
    """``n`` processes spinning on a core each: the load other sessions put on the machine."""
    return [subprocess.Popen([sys.executable, "-c", BURN]) for _ in range(n)]


def stop_load(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        p.terminate()
    for p in procs:
        p.wait(timeout=10)


def shipped_answers_current() -> bool:
    """Whether the start answers shipped in the package hold for this code (else the "first
    start" row would silently measure the slow path)."""
    from elixir_scope.mcp_server.config import ServerConfig
    from elixir_scope.mcp_server.start_cache import StartCache

    return StartCache.open(ServerConfig(), Path(tempfile.gettempdir()) / "no-such-start-cache").origin == "shipped"


def bench_cold_start(runs: int, load: int) -> None:
    if not shipped_answers_current():
        sys.exit("bench_mcp: the shipped start answers are stale for this code: run "
                 ".venv/bin/python scripts/build_start_cache.py first")
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    with tempfile.TemporaryDirectory() as tmp:
        baseline = Path(tmp) / "baseline_server.py"
        baseline.write_text(BASELINE_SERVER)
        env["ELIXIR_SCOPE_STORE"] = str(Path(tmp) / "traces.db")
        warm_env = {**env, "ELIXIR_SCOPE_START_CACHE": str(Path(tmp) / "start-cache")}
        ours_argv = [sys.executable, "-m", "elixir_scope.cli", "mcp"]
        base_argv = [sys.executable, str(baseline)]
        time_to_tools_list(ours_argv, warm_env, CALLS["ours"])  # fills the start cache, warms the OS file cache
        time_to_tools_list(base_argv, env, CALLS["baseline"])
        def new_client(i: str) -> dict:
            return {"protocolVersion": "2025-03-26", "capabilities": {"roots": {"listChanged": True}},
                    "clientInfo": {"name": f"bench-new-client-{i}", "version": "0.1"}}

        # (label, argv, env for run i, tool call, initialize params for run i)
        variants = [
            ("restart, same user cache dir", ours_argv, lambda _i: warm_env, CALLS["ours"], lambda _i: None),
            ("first start, fresh user cache dir (shipped answers)", ours_argv,
             lambda i: {**env, "ELIXIR_SCOPE_START_CACHE": str(Path(tmp) / f"fresh-{i}")}, CALLS["ours"],
             lambda _i: None),
            ("new client params (other name, protocol version)", ours_argv, lambda _i: warm_env, CALLS["ours"], new_client),
            ("start cache off", ours_argv, lambda _i: {**env, "ELIXIR_SCOPE_START_CACHE": "off"}, CALLS["ours"],
             lambda _i: None),
            ("baseline", base_argv, lambda _i: env, CALLS["baseline"], lambda _i: None),
        ]
        for phase, n_load in (("idle", 0), ("under load", load)):
            burners = start_load(n_load)
            try:
                got: dict[str, dict[str, list[float]]] = {v[0]: {"list": [], "call": [], "cpu": []} for v in variants}
                counts: dict[str, int] = {}
                loads = []
                for i in range(runs):  # interleaved so machine load affects all alike
                    for name, argv, env_of, call, params_of in variants:
                        run = f"{phase}-{i}"
                        t, counts[name], first, c = time_to_tools_list(argv, env_of(run), call, params_of(run))
                        got[name]["list"].append(t)
                        got[name]["call"].append(first)
                        got[name]["cpu"].append(c)
                    loads.append(os.getloadavg()[0])
            finally:
                stop_load(burners)
            print(f"cold start over stdio, {phase} ({n_load} extra busy processes; {runs} runs each, "
                  f"interleaved), ms min/median/max:")
            print(f"  {'server':<80} {'to tools/list':>15} {'to 1st tool call':>17} {'server CPU':>15}")
            for name, *_rest in variants:
                label = (f"baseline MCPServer ({counts[name]} tool)" if name == "baseline"
                         else f"elixir-scope mcp, {name} ({counts[name]} tools)")
                g = got[name]
                print(f"  {label:<80} {_fmt(g['list']):>15} {_fmt(g['call']):>17} {_fmt(g['cpu']):>15}")
            print(f"  goal: tools/list <= 1000 ms; load average {_fmt_load(loads)} (min/median/max) "
                  f"on {os.cpu_count()} cores")
            RESULTS.setdefault("cold_start_ms", {})[phase] = {
                name: {"tools_list": _spread(g["list"]), "first_call": _spread(g["call"]), "cpu": _spread(g["cpu"])}
                for name, g in got.items()} | {"load_avg": [round(min(loads), 2), round(statistics.median(loads), 2),
                                                            round(max(loads), 2)], "busy_processes": n_load}


def _fmt(xs: list[float]) -> str:
    return f"{min(xs) * 1000:.0f}/{statistics.median(xs) * 1000:.0f}/{max(xs) * 1000:.0f}"


def _fmt_load(xs: list[float]) -> str:
    return f"{min(xs):.1f}/{statistics.median(xs):.1f}/{max(xs):.1f}"


def _spread(xs: list[float]) -> dict[str, float]:
    return {"min": round(min(xs) * 1000, 1), "median": round(statistics.median(xs) * 1000, 1),
            "max": round(max(xs) * 1000, 1)}


QUERIES = [
    "calls SampleApp.Cart.handle_call/3 | limit 50",
    "calls | stats count, p50(duration), p99(duration) by function",
    "states of SampleApp.Cart | limit 20",
]


def build_recording(path: Path, rounds: int) -> int:
    """A cart GenServer taking ``rounds`` x 3 calls (each: send, receive, call, 2 states,
    return, reply) - about 10 records per call."""
    from elixir_scope.instrument.etf import Atom
    from elixir_scope.store import TraceStore
    from elixir_scope.store.batch import SyntheticTrace

    store = TraceStore.open(path)
    rec = store.create_recording("bench", spec={}, limits={})
    node = rec.add_node("app@host", otp_release="25", time_unit=1_000_000_000, time_offset=0)
    t = SyntheticTrace("app@host")
    client = t.new_pid(200)
    server = t.new_pid(300, reg_name="Elixir.SampleApp.Cart")
    items: list[bytes] = []
    state = lambda xs: {Atom("user"): b"ann", Atom("items"): list(xs)}  # noqa: E731
    for r in range(rounds):
        for sku in (b"apple", b"pear", b"plum"):
            before = state(items[-20:])
            items.append(sku + b"-%d" % r)
            t.gen_call(client, server, "Elixir.SampleApp.Cart", (Atom("add"), items[-1]), before,
                       state(items[-20:]), Atom("ok"))
        if r % 50 == 49:
            b = t.take()
            rec.ingest_batch(node, b.dict_entries, b.events)
    b = t.take()
    if b.events:
        rec.ingest_batch(node, b.dict_entries, b.events)
    rec.finish("stopped")
    rid = rec.id
    store.close()
    return rid


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


async def bench_query_latency(calls: int, events: int) -> None:
    from mcp import Client

    from elixir_scope.mcp_server.config import ServerConfig
    from elixir_scope.mcp_server.server import build_server
    from elixir_scope.store import TraceStore
    from elixir_scope.store.query import run_query

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "traces.db"
        t_build = time.perf_counter()
        rid = build_recording(path, rounds=max(1, events // 24))
        print(f"\nbuilt the recording through the store's ingest in {time.perf_counter() - t_build:.1f} s")
        store = TraceStore.open(path)
        n_events = store.recording(rid).info.event_count
        print(f"\nquery latency on a recording of {n_events} events ({calls} calls each, after 5 warm-ups):")
        print(f"  {'query':<62} {'direct p50':>10} {'tool p50':>9} {'tool p95':>9} {'overhead':>9}"
              f"   {'CPU: direct':>11} {'tool':>8}")
        server = build_server(ServerConfig(store_path=path))
        async with Client(server) as client:
            for text in QUERIES:
                for _ in range(5):
                    run_query(store, text, limit=50)
                    await client.call_tool("query", {"text": text, "limit": 50})
                direct, tool, direct_cpu, tool_cpu = [], [], [], []
                for _ in range(calls):
                    c0, t0 = time.process_time(), time.perf_counter()
                    run_query(store, text, limit=50)
                    direct.append(time.perf_counter() - t0)
                    direct_cpu.append(time.process_time() - c0)
                    c0, t0 = time.process_time(), time.perf_counter()
                    result = await client.call_tool("query", {"text": text, "limit": 50})
                    tool.append(time.perf_counter() - t0)
                    tool_cpu.append(time.process_time() - c0)
                    assert not result.is_error, result.content[0].text
                d50, t50, t95 = (pct(direct, 50) * 1000, pct(tool, 50) * 1000, pct(tool, 95) * 1000)
                RESULTS.setdefault("query_ms", {})[text] = {
                    "direct_p50": round(d50, 2), "tool_p50": round(t50, 2), "tool_p95": round(t95, 2),
                    "tool_min": round(min(tool) * 1000, 2), "tool_max": round(max(tool) * 1000, 2)}
                print(f"  {text:<62} {d50:8.2f}ms {t50:7.2f}ms {t95:7.2f}ms {t50 - d50:+7.2f}ms"
                      f"   {pct(direct_cpu, 50) * 1000:9.2f}ms {pct(tool_cpu, 50) * 1000:6.2f}ms")
        RESULTS["events"] = n_events
        store.close()
    print("  (goal: tool p50 <= 20 ms; CPU = this process's CPU time per call, client and server"
          " together, less sensitive to the shared machine's load)")
    print(f"  load average now: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=5, help="cold starts per server (default 5)")
    ap.add_argument("--calls", type=int, default=100, help="tool calls per query for the latency figure (default 100)")
    ap.add_argument("--events", type=int, default=1_000_000, help="events in the queried recording (default 1M)")
    ap.add_argument("--load", type=int, default=os.cpu_count() or 2,
                    help="busy processes started for the 'under load' cold starts (default: one per core)")
    ap.add_argument("--part", choices=["all", "cold", "latency"], default="all",
                    help="run only the cold start or only the query latency part (default all)")
    args = ap.parse_args()
    if args.part in ("all", "cold"):
        bench_cold_start(max(3, args.runs), args.load)
    if args.part in ("all", "latency"):
        asyncio.run(bench_query_latency(args.calls, args.events))
    RESULTS["load_avg_end"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(RESULTS))


if __name__ == "__main__":
    main()
