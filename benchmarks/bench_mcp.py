"""MCP server benchmarks (print figures; compare with a baseline measured in the same run).

1. Cold start: spawn ``elixir-scope mcp`` over stdio and time until the answer to the first
   ``tools/list`` arrives (initialize → initialized → tools/list, raw JSON-RPC lines, so no
   client library cost is counted). Baseline: a minimal ``MCPServer`` with one tool, started
   the same way. Goal ≤ 1 s.
2. Tool-call latency: p50/p95 of the ``query`` tool through an in-process MCP client session,
   against the same query run directly with ``store.query.run_query`` on the same store.
   Goal p50 ≤ 20 ms. The recording is made by a real capture on the bundled sample app.

Run: ``.venv/bin/python benchmarks/bench_mcp.py [--runs N] [--calls N]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
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


def time_to_tools_list(argv: list[str], env: dict[str, str]) -> tuple[float, int]:
    """Seconds from spawn to the tools/list answer, and how many tools it listed."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, env=env, text=True)
    assert proc.stdin and proc.stdout
    proc.stdin.write(json.dumps(MESSAGES[0]) + "\n")
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
                return elapsed, len(msg["result"]["tools"])
    finally:
        proc.stdin.close()
        proc.terminate()
        proc.wait(timeout=10)


def bench_cold_start(runs: int) -> None:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    with tempfile.TemporaryDirectory() as tmp:
        baseline = Path(tmp) / "baseline_server.py"
        baseline.write_text(BASELINE_SERVER)
        env["ELIXIR_SCOPE_STORE"] = str(Path(tmp) / "traces.db")
        ours_argv = [sys.executable, "-m", "elixir_scope.cli", "mcp"]
        base_argv = [sys.executable, str(baseline)]
        time_to_tools_list(ours_argv, env)  # warm the OS file cache once for both
        ours, base = [], []
        n_ours = n_base = 0
        for _ in range(runs):  # interleaved so machine load affects both alike
            t, n_ours = time_to_tools_list(ours_argv, env)
            ours.append(t)
            t, n_base = time_to_tools_list(base_argv, env)
            base.append(t)
    print("cold start to first tools/list answer over stdio "
          f"({runs} runs each, interleaved; median [min-max]):")
    print(f"  elixir-scope mcp ({n_ours} tools): {statistics.median(ours) * 1000:7.0f} ms "
          f"[{min(ours) * 1000:.0f}-{max(ours) * 1000:.0f}]")
    print(f"  baseline MCPServer ({n_base} tool): {statistics.median(base) * 1000:7.0f} ms "
          f"[{min(base) * 1000:.0f}-{max(base) * 1000:.0f}]")
    print(f"  overhead vs baseline: {(statistics.median(ours) - statistics.median(base)) * 1000:+.0f} ms "
          f"(goal: total <= 1000 ms)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=7, help="cold starts per server (default 7)")
    ap.add_argument("--calls", type=int, default=200, help="tool calls for the latency figure (default 200)")
    args = ap.parse_args()
    bench_cold_start(args.runs)


if __name__ == "__main__":
    main()
