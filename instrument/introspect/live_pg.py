"""Erlang's ``:pg`` process groups on a live node: the running scopes, the groups of a scope
with their members, and the groups one process is in.

::

    scopes = await pg_scopes(conn)                                   # [PgScope('pg', 3), ...]
    page = await pg_groups(conn, "MyApp.PubSub")                     # groups + member counts
    one = await pg_groups(conn, "MyApp.PubSub", group='{:room, "lobby"}')
    mine = await pg_memberships(conn, "<0.123.0>")                   # [PgMembership(...)]

A scope is a registered ``pg`` server that owns the ETS table of its own name, rows
``{Group, AllMembers, LocalMembers}``; the agent finds the scopes (at most 50) and reads those
tables with bounded selects. The scope travels as a binary (an unknown one is
``NoSuchPgScope``), a group typed by a user as an Elixir literal whose atoms travel as names
(an atom the node lacks is in no group: ``NoSuchPgGroup``) — nothing typed becomes an atom on
the node.
"""

from __future__ import annotations

from ..dist import Connection
from ..etf import Atom, Pid
from ..literal_text import parse_literal
from ..names import literal_term
from .live_call import LiveOptions, NoSuchPgGroup, live_call, process_ref, shown
from .live_call import atom_name as _name, reply_field as _a
from .live_models import PgGroup, PgGroups, PgMembership, PgScope
from .via import GlobalName, ViaName

__all__ = ["pg_scopes", "pg_groups", "pg_memberships", "scope_ref", "PG_GROUPS_MAX", "PG_MEMBERS_MAX"]

# Groups one pg_groups call lists, and members shown per group (the agent reads no more).
PG_GROUPS_MAX = 500
PG_MEMBERS_MAX = 100


def scope_ref(scope: str) -> bytes:
    """A scope as the agent takes it: its name as a binary (``MyApp.PG`` ->
    ``Elixir.MyApp.PG``, ``:pg`` / ``pg`` -> ``pg``)."""
    if not isinstance(scope, str) or not scope.strip():
        raise ValueError("name a :pg scope, e.g. pg (the default scope) or MyApp.PG; pg_scopes lists them")
    name = scope.strip().removeprefix(":")
    if name[:1].isupper() and not name.startswith("Elixir."):
        name = "Elixir." + name
    return name.encode("utf-8")


async def pg_scopes(conn: Connection, *, options: LiveOptions | None = None) -> list[PgScope]:
    """The ``:pg`` scopes running on the node (at most 50), by name."""
    rows = await live_call(conn, Atom("pg_scopes"), options)
    return [PgScope(name=s.name, groups=int(n) if isinstance(n, int) else 0) for s, n in rows if isinstance(s, Atom)]


async def pg_groups(conn: Connection, scope: str, *, group: str | None = None, limit: int = 100,
                    member_limit: int = 20, options: LiveOptions | None = None) -> PgGroups:
    """The first ``limit`` groups of ``scope`` (or only ``group``, an Elixir literal such as
    ``:lobby`` or ``{:room, 42}``), each with its member count and first ``member_limit``
    members."""
    if not 1 <= limit <= PG_GROUPS_MAX:
        raise ValueError(f"limit must be between 1 and {PG_GROUPS_MAX}, got {limit}")
    if not 0 <= member_limit <= PG_MEMBERS_MAX:
        raise ValueError(f"member_limit must be between 0 and {PG_MEMBERS_MAX}, got {member_limit}")
    which = Atom("all") if group is None else (Atom("group"), literal_term(parse_literal(group)))
    try:
        r = await live_call(conn, (Atom("pg_groups"), scope_ref(scope), which, limit, member_limit), options)
    except NoSuchPgGroup as exc:
        raise NoSuchPgGroup(f"no group {group.strip()} {exc}") from None
    groups = tuple(PgGroup(group=shown(g), members=int(n), first_members=tuple(p for p in first if isinstance(p, Pid)))
                   for g, n, first in _a(r, "groups"))
    return PgGroups(scope=_name(_a(r, "scope")) or scope, total=int(_a(r, "total") or 0), groups=groups)


async def pg_memberships(conn: Connection, process: str | Pid | ViaName | GlobalName, *, limit: int = 20,
                         options: LiveOptions | None = None) -> list[PgMembership]:
    """The groups ``process`` is in, per running scope (the first ``limit`` of each); scopes
    where it is in none are left out."""
    if not 1 <= limit <= PG_GROUPS_MAX:
        raise ValueError(f"limit must be between 1 and {PG_GROUPS_MAX}, got {limit}")
    rows = await live_call(conn, (Atom("pg_of"), process_ref(process), limit), options, timeout=30.0)
    return [PgMembership(scope=s.name, groups=tuple(shown(g) for g in gs), count=int(n), partial=cut is True or cut == Atom("true"))
            for s, gs, n, cut in rows if isinstance(s, Atom)]
