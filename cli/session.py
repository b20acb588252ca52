"""From command-line options to a configuration, a node connection, and the trace store.

The environment is read once, by ``ServerConfig.from_env`` (shared with the MCP server);
flags override it. Connections are opened for one command and always closed, so a command
never leaves a half-open distribution connection on the target.
"""

from __future__ import annotations

import argparse
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any, Iterator

from elixir_scope.mcp_server.config import ServerConfig

from .errors import CliError


def config_from(args: argparse.Namespace) -> ServerConfig:
    store = getattr(args, "store", None)
    cookie: Any = getattr(args, "cookie", None)
    cookie_file = getattr(args, "cookie_file", None)
    if cookie_file:
        from elixir_scope.instrument.dist.cookie import CookieFileError, read_cookie_file

        try:
            cookie = read_cookie_file(cookie_file)
        except CookieFileError as exc:
            raise CliError(str(exc), "pass --cookie-file with the file holding the node's cookie, "
                                     "or set ELIXIR_SCOPE_COOKIE") from None
    from elixir_scope.mcp_server.config import ConfigError

    try:
        config = ServerConfig.from_env()
    except ConfigError as exc:
        raise CliError(str(exc), "fix or unset that environment variable") from None
    return config.with_(
        default_node=getattr(args, "node", None),
        cookie=cookie,
        store_path=Path(store) if store else None,
        syntax=getattr(args, "syntax", None),
    )


def node_name(args: argparse.Namespace) -> str:
    given = getattr(args, "nodes", None) or []
    if len(given) > 1:
        raise CliError(f"this command works on one node, but --node was given {len(given)} times",
                       "pass one --node; `elixir-scope record` records several nodes at once")
    name = config_from(args).default_node
    if not name:
        raise CliError(
            "no target node given",
            "pass --node app@host (the node's --sname/--name and host) or set ELIXIR_SCOPE_NODE",
        )
    return name


def node_names(args: argparse.Namespace) -> list[str]:
    """Every ``--node`` given (at least one: the default node when none was)."""
    given = list(getattr(args, "nodes", None) or [])
    if given:
        return given
    return [node_name(args)]


@asynccontextmanager
async def attached(args: argparse.Namespace) -> AsyncIterator[Any]:
    """A connection to the target node for the duration of one command."""
    from elixir_scope.instrument.dist import Node

    config = config_from(args)
    name = node_name(args)
    node = Node()
    try:
        conn = await node.connect(name, cookie=config.cookie, timeout=args.timeout)
        yield conn
    finally:
        await node.close()


async def term_syntax(args: argparse.Namespace, conn: Any, timeout: float = 5.0) -> Any:
    """How this command prints terms for ``conn``'s node: ``--syntax``, else by the node (asked
    within ``timeout`` s; Elixir when it does not answer)."""
    from elixir_scope.instrument.etf.syntax import choose
    from elixir_scope.mcp_server.syntax import runs_elixir

    choice = config_from(args).syntax
    return choose(choice, node_runs_elixir=await runs_elixir(conn, timeout) if choice == "auto" else None)


def recording_syntax(args: argparse.Namespace, rec: Any) -> Any:
    """How this command prints a recording: ``--syntax``, else by the recording's names (a
    pure Erlang node's recording prints in Erlang; ``mcp_server.syntax``)."""
    from elixir_scope.mcp_server.syntax import recording_syntax as by_recording

    return by_recording(config_from(args).syntax, rec)


@contextmanager
def opened_recording(args: argparse.Namespace, recording: int | None) -> Iterator[Any]:
    """The recording ``recording`` (default: the newest) of the store named by --store, with
    everything printed inside the block in its language (``recording_syntax``)."""
    from elixir_scope.instrument.etf.syntax import printing

    with opened_store(args) as store:
        if recording is not None:
            rec = store.recording(recording)
        else:
            infos = store.recordings()
            if not infos:
                raise CliError("the trace store has no recordings yet", "record one with `elixir-scope record`")
            rec = store.recording(infos[-1].id)
        with printing(recording_syntax(args, rec)):
            yield rec


@contextmanager
def opened_store(args: argparse.Namespace, *, must_exist: bool = True) -> Iterator[Any]:
    """The trace store named by --store / ELIXIR_SCOPE_STORE, closed afterwards."""
    from elixir_scope.store import TraceStore

    from elixir_scope.store import StoreOpenError, StoreReadOnlyError

    path = config_from(args).resolved_store_path
    if must_exist and not path.exists():
        raise CliError(
            f"no trace store at {path}",
            "record something first (elixir-scope record ...) or pass --store FILE",
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        store = TraceStore.open(path)
    except (StoreOpenError, StoreReadOnlyError):
        if not must_exist:
            raise
        # a store on read-only media or in a directory we may not write: read commands still work
        store = TraceStore.open(path, readonly=True)
    try:
        yield store
    finally:
        store.close()


def attach_timeouts(config: ServerConfig, setup_timeout: float | None):
    """The configuration's attach timeouts, with ``--setup-timeout`` when given (a clear error
    for a value the agent cannot take)."""
    from elixir_scope.instrument.agent.attach import DEFAULT_TIMEOUTS

    base = config.attach_timeouts or DEFAULT_TIMEOUTS
    if setup_timeout is None:
        return base
    try:
        return base.with_setup(setup_timeout)
    except ValueError as exc:
        raise CliError(f"--setup-timeout: {exc}", "pass a number of seconds from 0.1 to 600, e.g. "
                       "--setup-timeout 60") from None
