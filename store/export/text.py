"""What exports print: terms as bounded Elixir text, names, and wall-clock nanoseconds.

Everything leaves the store as it was stored: values the agent redacted on the node are the
atom ``'[REDACTED]'`` in the payload and print as ``«redacted»`` here; nothing is decoded from
anywhere else, so nothing redacted can come back. Every text is cut to a limit the caller
gives (an export never ships an unbounded term).
"""

from __future__ import annotations

from typing import Any

from elixir_scope.instrument.etf.inspect import inspect

from ..app_names import app_names_text, first_app_name
from ..events import MFA, Event, NodeInfo, ProcessInfo

CUT = "…"


def bounded_text(term: Any, limit: int) -> str:
    """``term`` as Elixir text of at most ``limit`` UTF-8 bytes (``…`` marks a cut)."""
    return cut(inspect(term, limit=50, printable_limit=max(limit, 16), max_chars=max(limit, 16)), limit)


def cut(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` UTF-8 bytes, ending in ``…`` when cut."""
    if len(text) * 4 <= limit:  # cannot be over: skip encoding
        return text
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text
    return data[:max(limit - len(CUT.encode()), 0)].decode("utf-8", "ignore") + CUT


def payload_text(event: Event, limit: int) -> str:
    """The event's payload as bounded text; a payload that cannot be decoded says so."""
    try:
        return bounded_text(event.payload, limit)
    except Exception as exc:  # a damaged payload must not stop an export of the rest
        return f"«unreadable payload: {type(exc).__name__}»"


def module_text(module: str) -> str:
    """``Elixir.SampleApp.Cart`` -> ``SampleApp.Cart``; Erlang modules stay ``ets``."""
    return module[7:] if module.startswith("Elixir.") else module


def function_name(mfa: MFA) -> str:
    """Fully qualified function name without arity: ``SampleApp.Cart.add``, ``ets:lookup``."""
    sep = "." if mfa.module.startswith("Elixir.") else ":"
    return f"{module_text(mfa.module)}{sep}{mfa.function}"


def process_name(proc: ProcessInfo | None) -> str | None:
    """The registered name as Elixir prints it (``SampleApp.Inventory``), or None."""
    if proc is None or not proc.reg_name:
        return None
    return module_text(proc.reg_name)


def shown_name(proc: ProcessInfo | None) -> str | None:
    """How a process is named in rows: its registered name, else the first name the application
    gives it (a process label, a ``process_name``, a Registry name: ``via {MyApp.Registry,
    "user-42"}``), else None."""
    if proc is None:
        return None
    return process_name(proc) or first_app_name(proc.app_names)


def app_names_texts(proc: ProcessInfo | None) -> list[str]:
    """Every name the application gives the process, as bounded Elixir text."""
    if proc is None or not proc.app_names:
        return []
    return app_names_text(proc.app_names, lambda t: inspect(t, limit=8, printable_limit=80))


def unix_nanos(node: NodeInfo | None, ts: int) -> int:
    """Wall-clock nanoseconds since the epoch of a node's monotonic ``ts``."""
    if node is None:
        return 0
    return (ts + node.time_offset) * 1_000_000_000 // node.time_unit
