"""A recording of the real sample app for the export tests (OTLP and Parquet): carts calling
the inventory (nested traced calls in three kinds of processes, request and reply messages
between them), the inventory's state history, one call that raises, and a cart whose user holds a password the agent redacts.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from elixir_scope.instrument.capture import CapturePlan
from elixir_scope.instrument.dist import Node
from elixir_scope.instrument.limits import CaptureLimits
from elixir_scope.instrument.session import CaptureSession
from elixir_scope.instrument.specs import compile_spec
from elixir_scope.store import TraceStore

SECRET = b"hunter2-do-not-export"
SPECS = (
    "SampleApp.Cart.add/3 :: return",
    "SampleApp.Cart.handle_call/3 :: return",
    "SampleApp.Inventory.reserve/2 :: return",
    "SampleApp.Inventory.handle_call/3 :: return",
    'String.to_integer("not a number") :: return',
)


async def record_sample_app(app, path: Path, ops: int = 40) -> int:
    """Record ``ops`` workload operations (+ an exception and a redacted argument) into the
    store at ``path``; returns the recording id."""
    from elixir_scope.instrument.etf import Atom

    store = TraceStore.open(path)
    plan = CapturePlan(specs=tuple(compile_spec(s) for s in SPECS), message_procs="all",
                       state_modules=("Elixir.SampleApp.Inventory",))
    node = Node()
    try:
        conn = await node.connect(app.name, cookie=app.cookie)
        writer = store.create_recording("export", spec=plan.describe(), limits=CaptureLimits().as_dict())
        session = await CaptureSession.start(conn, writer, plan, None)
        await conn.rpc("Elixir.SampleApp.Workload", "run", [ops])
        try:
            await conn.rpc("Elixir.String", "to_integer", [b"not a number"])
        except Exception:  # the rpc reports the ArgumentError; the recording has the exception
            pass
        # a cart whose user term holds a password: the agent redacts it on the node
        await conn.rpc("Elixir.SampleApp.Cart", "add", [{Atom("user"): b"ann", Atom("password"): SECRET},
                                                        b"apple", 1])
        await asyncio.sleep(0.3)
        result = await session.stop()
    finally:
        await node.close()
        store.close()
    return result.recording_id
