"""Decoding trace-shaped terms: terms/s in Python (ours, erlpack) vs ``binary_to_term`` on a
node over the same bytes, same run.

Terms: ``{trace_ts, Pid, call, {M, F, Args}, Ts}``, ``{trace_ts, Pid, return_from, {M, F, A},
Value, Ts}``, ``{trace_ts, Pid, send, Msg, To, Ts}``, ``{trace_ts, Pid, 'receive', Msg, Ts}``
with GenServer-like arguments (tuples, binaries, maps, refs), over 50 pids. Also a batch:
one binary holding a list of 200 such events (how a relay can ship them).

The node timing uses a tiny module compiled here with erlc and loaded onto the node over rpc
(see bench_rpc.py).

    .venv/bin/python benchmarks/bench_decode.py [--terms 4000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_rpc import load_bench_module  # noqa: E402
from support.nodes import start_node  # noqa: E402

from elixir_scope.instrument.dist import Node  # noqa: E402
from elixir_scope.instrument.etf import Atom, Pid, Ref, decode, encode  # noqa: E402

A = Atom


def trace_terms(n: int, node_name: str, seed: int = 7) -> list:
    rnd = random.Random(seed)
    node = A(node_name)
    pids = [Pid(node, 100 + i, 0, 1_700_000_000) for i in range(50)]
    mods = [A("Elixir.SampleApp.Inventory"), A("Elixir.SampleApp.Cart"), A("gen_server"), A("Elixir.Enum")]
    funs = [A("handle_call"), A("handle_cast"), A("handle_info"), A("reserve"), A("map")]
    ts = -576_460_751_000_000_000
    out = []
    for i in range(n):
        pid = rnd.choice(pids)
        ts += rnd.randint(100, 5000)
        sku = f"sku-{rnd.randint(1, 9)}".encode()
        ref = Ref(node, 1_700_000_000, (rnd.randint(0, 2**18 - 1), rnd.randint(0, 2**32 - 1), 42))
        state = {A("items"): {sku: rnd.randint(1, 99)}, A("user"): b"user-3", A("checkouts"): rnd.randint(0, 9)}
        kind = i % 4
        if kind == 0:
            args = [(A("reserve"), sku, rnd.randint(1, 5)), (rnd.choice(pids), ref), state]
            out.append((A("trace_ts"), pid, A("call"), (rnd.choice(mods), rnd.choice(funs), args), ts))
        elif kind == 1:
            out.append((A("trace_ts"), pid, A("return_from"), (rnd.choice(mods), rnd.choice(funs), 3),
                        (A("reply"), A("ok"), state), ts))
        elif kind == 2:
            out.append((A("trace_ts"), pid, A("send"), (A("$gen_cast"), (A("restock"), sku, 10)), rnd.choice(pids), ts))
        else:
            out.append((A("trace_ts"), pid, A("receive"), (A("$gen_call"), (rnd.choice(pids), ref), (A("get"), sku)), ts))
    return out


def rate(fn, items, rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        t0 = time.perf_counter()
        for b in items:
            fn(b)
        best = min(best, time.perf_counter() - t0)
    return len(items) / best


async def main(n_terms: int, rounds: int) -> None:
    target = start_node("erl")
    try:
        terms = trace_terms(n_terms, target.name)
        bins = [encode(t) for t in terms]
        assert [decode(b) for b in bins] == terms
        avg = sum(map(len, bins)) / len(bins)
        batches = [encode(terms[i:i + 200]) for i in range(0, len(terms), 200)]

        async with Node() as node:
            conn = await node.connect(target.name, cookie=target.cookie)
            await load_bench_module(conn)
            await conn.rpc("es_bench", "decode_loop", [bins, 1], timeout=120)  # warm up
            us = min([await conn.rpc("es_bench", "decode_loop", [bins, rounds], timeout=300) for _ in range(3)])
            node_rate = len(bins) * rounds / (us / 1e6)
            us_batch = min([await conn.rpc("es_bench", "decode_loop", [batches, rounds], timeout=300) for _ in range(3)])
            node_batch_rate = len(terms) * rounds / (us_batch / 1e6)

            # End to end: es_batch-shaped messages sent by the node into a mailbox.
            mbox = node.mailbox()
            events = encode(terms[:200])  # stands in for an EventsBinary of 200 events
            dict_ = {A("module"): [A("Elixir.SampleApp.Inventory"), A("gen_server")]}
            stats = {A("dropped"): 0, A("sent"): 200}
            batch = (A("es_batch"), mbox.pid, 0, dict_, events, stats)
            n_batches = 2000
            t0 = time.perf_counter()
            sending = asyncio.ensure_future(conn.rpc("es_bench", "send_loop", [mbox.pid, batch, n_batches], timeout=300))
            received = 0
            while received < n_batches:
                await mbox.receive(timeout=60)
                received += 1 + len(mbox.drain())
            elapsed = time.perf_counter() - t0
            await sending
            mb = n_batches * len(events) / elapsed / 1e6

        ours = rate(decode, bins, rounds)
        ours_batch = rate(decode, batches, rounds) * 200

        print(f"{len(bins)} trace-shaped terms, {avg:.0f} bytes on average (best of {rounds} rounds)")
        print(f"  node binary_to_term/1 (baseline)     {node_rate:12,.0f} terms/s")
        print(f"  Python, ours (etf.decode)            {ours:12,.0f} terms/s   ({1e6 / ours:.1f} us/term, "
              f"{ours / node_rate:.1%} of the node)")
        try:
            import erlpack

            try:
                erlpack.unpack(bins[0])
                print(f"  Python, erlpack                      {rate(erlpack.unpack, bins, rounds):12,.0f} terms/s")
            except Exception as exc:  # erlpack 1.0.1 predates OTP 23's NEW_PID_EXT
                print(f"  Python, erlpack: cannot decode these terms ({exc}); same shapes without pids/refs:")
                plain = [encode(_strip(t)) for t in terms]
                ep = rate(erlpack.unpack, plain, rounds)
                ours_plain = rate(decode, plain, rounds)
                print(f"      erlpack {ep:12,.0f} terms/s  vs ours {ours_plain:12,.0f} terms/s on the same bytes")
                print("      erlpack maps atoms to its own Atom(str) type and strings/binaries inexactly; "
                      "not used")
        except ImportError:
            print("  erlpack not installed")
        print(f"  mailbox end to end: {n_batches} es_batch messages with a {len(events):,}-byte binary -> "
              f"{n_batches / elapsed:,.0f} msgs/s ({mb:,.1f} MB/s of event payload)")
        print(f"  batches of 200 in one binary: node {node_batch_rate:12,.0f} terms/s, "
              f"ours {ours_batch:12,.0f} terms/s")
    finally:
        target.stop()


def _strip(term):
    """The same shape with pids and refs replaced by atoms (for decoders without NEW_PID_EXT)."""
    if isinstance(term, (Pid, Ref)):
        return A("pid")
    if isinstance(term, tuple):
        return tuple(_strip(x) for x in term)
    if isinstance(term, list):
        return [_strip(x) for x in term]
    if isinstance(term, dict):
        return {_strip(k): _strip(v) for k, v in term.items()}
    return term


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--terms", type=int, default=4000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    asyncio.run(main(args.terms, args.rounds))
