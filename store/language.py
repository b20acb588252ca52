"""Which language a recording's node speaks, read from the recording itself.

A pure Erlang node (RabbitMQ, ejabberd) has no ``Elixir.``-prefixed module: no traced
function, no registered name and no initial call of a recorded process starts with
``Elixir.``. A node that runs Elixir shows such names almost at once (its own modules, the
``Elixir.Logger`` processes). The store keeps no flag for it, so the names decide - the live
side asks the node instead (``mcp_server.syntax``); ``--syntax`` overrides both.
"""

from __future__ import annotations

from typing import Any

__all__ = ["recording_runs_elixir"]


def recording_runs_elixir(rec: Any) -> bool | None:
    """True when the recording names an Elixir module, False when it names only Erlang ones,
    None when it names none (nothing to tell by)."""
    ctx = rec.context
    seen = False
    for mfa in ctx.functions.values():
        seen = True
        if mfa.module.startswith("Elixir."):
            return True
    for proc in ctx.processes.values():
        for name in (proc.reg_name, proc.initial_call.module if proc.initial_call else None):
            if name:
                seen = True
                if name.startswith("Elixir."):
                    return True
    return False if seen else None
