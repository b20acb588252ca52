"""A small recording in the tracer agent's exact record format (``store.batch.SyntheticTrace``),
written through the store's real ingest API: a client making three ``GenServer.call``s to a
cart server (state before/after each), a checkpoint, a message never received, and a gap.
Used by the MCP and CLI history tests and the MCP benchmark."""

from __future__ import annotations

from pathlib import Path

from elixir_scope.instrument.etf import Atom
from elixir_scope.store import TraceStore
from elixir_scope.store.batch import SyntheticTrace

NS = 1_000_000_000
CART = "Elixir.SampleApp.Cart"


def cart_state(items: list[bytes]) -> dict:
    return {Atom("__struct__"): Atom("Elixir.SampleApp.Cart.State"), Atom("user"): b"ann",
            Atom("items"): items}


def build_cart_recording(path: Path, *, rounds: int = 1) -> int:
    """Write the recording to the store at ``path``; returns its id. ``rounds`` repeats the
    three calls (for benchmarks that want a bigger recording)."""
    store = TraceStore.open(path)
    try:
        rec = store.create_recording("cart session", spec={"spec": ["SampleApp.Cart"]},
                                     limits={"max_events": 1000})
        node = rec.add_node("app@host", otp_release="25", time_unit=NS, time_offset=0)
        t = SyntheticTrace("app@host")
        client = t.new_pid(200, initial_call=("Elixir.SampleApp.Client", "run", 0))
        server = t.new_pid(300, reg_name=CART, initial_call=(CART, "init", 1))
        t.checkpoint(server, cart_state([]))
        items: list[bytes] = []
        for r in range(rounds):
            for sku in (b"apple", b"pear", b"plum"):
                before = cart_state(list(items))
                items.append(sku if r == 0 else sku + b"-%d" % r)
                t.gen_call(client, server, CART, (Atom("add"), items[-1]), before,
                           cart_state(list(items)), Atom("ok"))
            if r == 0:
                t.send(client[1], server[1], server[0], Atom("flush"), received=False)
                t.gap("overload_queue", 7)
            b = t.take()
            rec.ingest_batch(node, b.dict_entries, b.events)
        rec.finish("stopped")
        return rec.id
    finally:
        store.close()
