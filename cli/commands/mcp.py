"""``elixir-scope mcp``: run the MCP server on stdio (desktop clients) or streamable HTTP."""

from __future__ import annotations

import argparse
import os
from dataclasses import replace
from typing import TYPE_CHECKING

from ..errors import CliError
from ..session import attach_timeouts, config_from

if TYPE_CHECKING:
    from ..render import Output


def register(sub, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "mcp", parents=[common], help="run the MCP server (stdio or streamable HTTP)",
        description="Serve ElixirScope's tools to MCP clients. stdio is what Claude Desktop and "
        "Claude Code start; http serves streamable HTTP at http://HOST:PORT/mcp, on 127.0.0.1 "
        "unless told otherwise. Binding elsewhere needs --token and --allowed-host.",
    )
    p.add_argument("--transport", choices=["stdio", "http"], default="stdio")
    p.add_argument("--host", help="HTTP bind address (default 127.0.0.1)")
    p.add_argument("--port", type=int, help="HTTP port (default 8765)")
    p.add_argument("--path", help="HTTP path (default /mcp)")
    p.add_argument("--token", help="bearer token required on HTTP (prefer $ELIXIR_SCOPE_TOKEN: flags show in ps)")
    p.add_argument("--allowed-host", action="append", default=[], metavar="HOST[:PORT]",
                   help="an extra Host header value accepted on HTTP (repeatable; 'name:*' for any port)")
    p.add_argument("--allowed-origin", action="append", default=[], metavar="ORIGIN",
                   help="an extra Origin accepted on HTTP, e.g. http://devbox:3000 (repeatable)")
    p.add_argument("--allow-mutations", action="store_true",
                   help="also register tools that change the target: eval code, send a message, kill a process")
    p.add_argument("--setup-timeout", type=float, metavar="SECONDS",
                   help="how long the agent's setup on a node (trace flags and patterns) may take in the "
                        "captures and diagnoses the tools start; past it the agent is stopped and the tool "
                        "says why (default 15, or $ELIXIR_SCOPE_SETUP_TIMEOUT)")
    p.add_argument("--no-start-cache", action="store_true",
                   help="stdio: do not answer initialize/tools/list from the start cache while loading "
                        "(or set ELIXIR_SCOPE_START_CACHE=off)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace, out: Output) -> int:
    from elixir_scope.mcp_server.config import ConfigError

    config = config_from(args).with_(
        transport=args.transport,
        host=args.host,
        port=args.port,
        path=args.path,
        token=args.token,
        allowed_hosts=tuple(args.allowed_host) or None,
        allowed_origins=tuple(args.allowed_origin) or None,
        allow_mutations=True if args.allow_mutations else None,
    )
    if args.no_start_cache:
        config = replace(config, start_cache_dir=None)
    if args.setup_timeout is not None:
        config = replace(config, attach_timeouts=attach_timeouts(config, args.setup_timeout))
    try:
        config.validate()
    except ConfigError as exc:
        raise CliError(str(exc), "see `elixir-scope mcp --help`") from exc
    if config.transport == "stdio" and config.start_cache_dir is not None and os.name == "posix":
        from elixir_scope.mcp_server.fast_start import serve_stdio

        serve_stdio(config)  # builds the server while answering the handshake from the cache
        return 0
    from elixir_scope.mcp_server.server import build_server
    from elixir_scope.mcp_server.transports import serve

    server = build_server(config)
    if config.transport == "http":
        out.note(f"ElixirScope MCP server on {config.url}" + (" (bearer token required)" if config.token else ""))
    serve(server, config)
    return 0
