"""Output models for Erlang's ``:pg`` process groups (the ``pg_groups`` tool, the groups in
``process_details`` and the command line's ``--json``), converted from
``instrument.introspect.live_pg``'s dataclasses: scopes as Elixir names (``MyApp.PubSub``,
``:pg``), groups and pids as text in the node's syntax, each group name cut to
``GROUP_CHARS``."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from elixir_scope.instrument.etf.syntax import ELIXIR, TermSyntax

__all__ = ["GROUP_CHARS", "PgGroupRow", "PgGroupsResult", "PgMembershipRow", "PgScopeRow", "group_text",
           "membership_rows", "pg_groups_result", "scope_text"]

GROUP_CHARS = 200


class PgScopeRow(BaseModel):
    """A running :pg scope."""

    scope: str = Field(description="The scope as the node names it (:pg is the default scope; apps name theirs, e.g. MyApp.PubSub).")
    groups: int = Field(description="How many groups it has.")


class PgGroupRow(BaseModel):
    """One group of a scope."""

    group: str = Field(description="The group name as a term (pass it as group= to see this group alone).")
    members: int = Field(description="Memberships: a process that joined twice counts twice; members on other nodes count too.")
    first_members: list[str] = Field(description="The first members' pids.")
    truncated: bool = Field(default=False, description="The group name was cut on the node (too big to send whole).")


class PgGroupsResult(BaseModel):
    """:pg scopes, or the groups of one scope, or one group."""

    node: str
    scopes: list[PgScopeRow] = Field(default_factory=list, description="The running scopes (when no scope was named).")
    scope: str | None = Field(default=None, description="The scope whose groups are listed.")
    total_groups: int | None = Field(default=None, description="How many groups the scope has in all.")
    groups: list[PgGroupRow] = Field(default_factory=list)
    hint: str | None = Field(default=None, description="How to see more, when not everything is shown.")


class PgMembershipRow(BaseModel):
    """The groups of one :pg scope a process is in."""

    scope: str
    groups: list[str] = Field(description="Group names as terms (the first 20).")
    count: int = Field(description="How many groups of the scope it is in.")
    partial: bool = Field(default=False, description="The scope's groups hold more than 200,000 memberships: only the groups read before that were looked at.")


def scope_text(scope: str, sx: TermSyntax = ELIXIR) -> str:
    """``Elixir.MyApp.PG`` -> ``MyApp.PG``, ``pg`` -> ``:pg`` (Erlang syntax: ``'Elixir.MyApp.PG'``, ``pg``)."""
    return sx.name(scope) or scope


def group_text(group: Any, sx: TermSyntax = ELIXIR) -> str:
    """A group name (a ``Shown``) as a term in ``sx``'s syntax, at most ``GROUP_CHARS`` characters."""
    text = sx.term(group.term, limit=10, printable_limit=GROUP_CHARS)
    return text if len(text) <= GROUP_CHARS else text[:GROUP_CHARS - 1] + "…"


def membership_rows(found: list[Any], sx: TermSyntax = ELIXIR) -> list[PgMembershipRow]:
    """``PgMembership``s as rows, scopes and groups in a stable order."""
    rows = [PgMembershipRow(scope=scope_text(m.scope, sx), groups=sorted(group_text(g, sx) for g in m.groups),
                            count=m.count, partial=m.partial) for m in found]
    return sorted(rows, key=lambda r: r.scope)


def pg_groups_result(node: str, page: Any, sx: TermSyntax = ELIXIR) -> PgGroupsResult:
    """The groups of one scope (``PgGroups``), ordered by name."""
    groups = sorted((PgGroupRow(group=group_text(g.group, sx), members=g.members, truncated=g.group.truncated,
                                first_members=[sx.pid(p) for p in g.first_members]) for g in page.groups),
                    key=lambda r: r.group)
    return PgGroupsResult(node=node, scope=scope_text(page.scope, sx), total_groups=page.total, groups=groups)
