"""Naming a live process the way people and models do: pid text or a registered name.

Kept free of the MCP SDK so the command line uses the same rules without importing it.
"""

from __future__ import annotations

import re
from typing import Any

from elixir_scope.instrument.etf import Atom, Charlist, Pid
from elixir_scope.instrument.introspect import ProcessNotFound

PID_TEXT = re.compile(r"(?:#PID)?<(\d+)\.(\d+)\.(\d+)>\Z")


async def resolve_pid(conn: Any, process: str) -> Pid:
    """A pid on ``conn``'s node from ``<0.123.0>`` / ``#PID<0.123.0>`` or a registered name
    (``SampleApp.Cart``, ``Elixir.SampleApp.Cart``, ``:logger``, ``logger``).

    Raises ``ProcessNotFound`` when no process has that name."""
    text = process.strip()
    if PID_TEXT.match(text):
        return await conn.rpc("erlang", "list_to_pid", [Charlist.from_text(text.removeprefix("#PID"))])
    name = text.removeprefix(":")
    if name[:1].isupper() and not name.startswith("Elixir."):
        name = "Elixir." + name
    pid = await conn.rpc("erlang", "whereis", [Atom(name)])
    if not isinstance(pid, Pid):
        raise ProcessNotFound(f"registered as {process!r}", conn.node_name)
    return pid
