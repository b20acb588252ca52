"""Live process rows with what the application calls each process, for ``list_processes`` /
``find_processes`` and the command line's ``processes``.

A row carries the registered name from the overview plus the process label
(``proc_lib:set_label/1`` on OTP 27+, the ``'$process_label'`` entry), an app-kept
``process_name`` entry, a ``global`` name (``{:global, name}`` via registrations) and the
Elixir ``Registry`` names it holds (``{MyApp.Registry, "user-42"}``), read by the agent on the
node (``instrument.introspect.process_labels``).
The labels are a nicety: when the agent cannot be asked, the rows come without them (logged),
never as a failed tool.
"""

from __future__ import annotations

import logging
from typing import Any

from .live_models import ProcessRow, process_row

__all__ = ["process_rows", "matches"]

log = logging.getLogger(__name__)


async def process_rows(conn: Any, summaries: list[Any], sx: Any) -> list[ProcessRow]:
    """``summaries`` (``ProcessSummary``) as rows in ``sx``'s syntax, with their app names."""
    from elixir_scope.instrument.dist.errors import DistError
    from elixir_scope.instrument.introspect import process_labels

    try:
        names = await process_labels(conn, [p.pid for p in summaries])
    except (DistError, ValueError) as exc:
        log.warning("process labels unavailable on %s: %s", getattr(conn, "node_name", "?"), exc)
        names = {}
    return [process_row(p, sx, names.get(p.pid)) for p in summaries]


def matches(row: ProcessRow, text: str) -> bool:
    """Whether ``text`` (case-insensitive) is in the row's names, calls, behaviour or pid."""
    needle = text.lower()
    return any(needle in (v or "").lower() for v in (
        row.name, row.label, row.process_name, row.global_name, *row.registry_names, row.initial_call,
        row.current_function, row.behaviour, row.pid))
