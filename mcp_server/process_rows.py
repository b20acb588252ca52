"""Live process rows with what the application calls each process, for ``list_processes`` /
``find_processes`` and the command line's ``processes``.

A row carries the registered name from the overview plus the process label
(``proc_lib:set_label/1`` on OTP 27+, the ``'$process_label'`` entry), an app-kept
``process_name`` entry, a ``global`` name (``{:global, name}`` via registrations) and the
Elixir ``Registry`` names it holds (``{MyApp.Registry, "user-42"}``), read by the agent on the
node (``instrument.introspect.process_labels``).
The labels are a nicety: when the agent cannot be asked, the rows come without them (logged),
never as a failed tool. The same goes for the ``:pg`` groups :func:`details_model` adds to one
process's details (``process_details``, the command line's ``process``): unreadable, they
come as a note.
"""

from __future__ import annotations

import logging
from typing import Any

from .live_models import ProcessDetailsModel, ProcessRow, process_details_model, process_row
from .pg_models import PgGroupsResult, PgScopeRow, pg_groups_result, scope_text

__all__ = ["process_rows", "matches", "details_model", "pg_view"]

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


async def details_model(conn: Any, pid: Any, sx: Any) -> ProcessDetailsModel:
    """One process in depth (``process_details``) with the ``:pg`` groups it is in."""
    from elixir_scope.instrument.agent.loader import AgentLoadError
    from elixir_scope.instrument.dist.errors import DistError
    from elixir_scope.instrument.introspect import pg_memberships, process_details

    details = await process_details(conn, pid)
    try:
        groups, note = await pg_memberships(conn, pid), None
    except (DistError, AgentLoadError, ValueError) as exc:
        log.warning(":pg groups unavailable on %s: %s", getattr(conn, "node_name", "?"), exc)
        groups, note = [], f"the :pg groups could not be read: {exc}"
    return process_details_model(details, sx, groups, note)


async def pg_view(conn: Any, sx: Any, scope: str | None = None, group: str | None = None, *, limit: int = 50,
                  member_limit: int = 5) -> PgGroupsResult:
    """The running ``:pg`` scopes (no ``scope``), the first ``limit`` groups of ``scope``, or
    only ``group`` of it, each group with its first ``member_limit`` members."""
    from elixir_scope.instrument.introspect import pg_groups, pg_scopes

    if scope is None:
        if group is not None:
            raise ValueError("a group belongs to a scope: name the scope too (pg is the default scope)")
        scopes = [PgScopeRow(scope=scope_text(s.name, sx), groups=s.groups) for s in await pg_scopes(conn)]
        return PgGroupsResult(node=conn.node_name, scopes=sorted(scopes, key=lambda s: s.scope),
                              hint=None if scopes else "no :pg scope runs on this node")
    model = pg_groups_result(conn.node_name, await pg_groups(conn, scope, group=group, limit=limit,
                                                             member_limit=member_limit), sx)
    if group is None and model.total_groups is not None and model.total_groups > len(model.groups):
        why = ("raise limit" if len(model.groups) >= limit else
               "their members fill what one look reads (200,000 entries)")
        model.hint = (f"{len(model.groups)} of {model.total_groups} groups shown ({why}); name one group "
                      "(group=...) to see it alone")
    return model


def matches(row: ProcessRow, text: str) -> bool:
    """Whether ``text`` (case-insensitive) is in the row's names, calls, behaviour or pid."""
    needle = text.lower()
    return any(needle in (v or "").lower() for v in (
        row.name, row.label, row.process_name, row.global_name, *row.registry_names, row.initial_call,
        row.current_function, row.behaviour, row.pid))
