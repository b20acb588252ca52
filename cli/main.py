"""``elixir-scope``: argument parsing, dispatch, and the one place errors become exit codes.

Each subcommand lives in ``cli/commands/<area>.py`` and registers itself with ``register``.
A command's handler receives the parsed arguments and an ``Output`` and returns an exit code;
async handlers are run with ``asyncio.run``. Every failure is printed as ``error: ...`` plus a
``hint: ...`` on stderr with a non-zero exit code; ``--debug`` shows the traceback instead.

Heavy imports (the MCP SDK, the knowledge base, the diagnosis agent) happen inside the
handlers that need them, so ``elixir-scope --help`` and the node commands start quickly.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from elixir_scope import __version__

from .errors import EXIT_ERROR, EXIT_INTERRUPTED, EXIT_USAGE, CliError

if TYPE_CHECKING:
    from .render import Output

DESCRIPTION = """\
Attach to a live Elixir/Erlang node with no code change, record what it does, travel
through the recording, and serve it all to LLM clients over MCP.

Start with:  elixir-scope demo          (runs the bundled sample app and attaches to it)
             ELIXIR_SCOPE_COOKIE=SECRET elixir-scope overview --node app@host

The cookie: prefer $ELIXIR_SCOPE_COOKIE or --cookie-file FILE (default ~/.erlang.cookie).
--cookie SECRET works but is visible to every user of the machine in the process list (ps).
"""


class NodeOption(argparse.Action):
    """``--node`` may be repeated: ``args.nodes`` lists every one given, ``args.node`` is the
    first (the one a single-node command uses; see session.node_name)."""

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        nodes = list(getattr(namespace, "nodes", None) or [])
        nodes.append(values)
        namespace.nodes = nodes
        namespace.node = nodes[0]


def common_options() -> argparse.ArgumentParser:
    """Options every subcommand accepts (so they may follow the subcommand name)."""
    p = argparse.ArgumentParser(add_help=False)
    g = p.add_argument_group("common options")
    g.add_argument("--node", action=NodeOption,
                   help="target node name@host (default: $ELIXIR_SCOPE_NODE); `record` and `diagnose` take several")
    cookie = g.add_mutually_exclusive_group()
    cookie.add_argument("--cookie-file", metavar="FILE",
                        help="file holding the distribution cookie (preferred; default: $ELIXIR_SCOPE_COOKIE, "
                             "$ELIXIR_SCOPE_COOKIE_FILE, then ~/.erlang.cookie)")
    cookie.add_argument("--cookie", metavar="SECRET",
                        help="the cookie itself - WARNING: visible to other users in the process list (ps); "
                             "prefer $ELIXIR_SCOPE_COOKIE or --cookie-file")
    g.add_argument("--store", help="trace store file (default: $ELIXIR_SCOPE_STORE or ~/.elixir-scope/traces.db)")
    g.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for the node (default 10)")
    g.add_argument("--json", action="store_true", help="print JSON for scripts instead of tables")
    g.add_argument("--syntax", choices=["auto", "elixir", "erlang"],
                   help="print terms, names and pids as Elixir or Erlang (default: by the node, or $ELIXIR_SCOPE_SYNTAX)")
    g.add_argument("--debug", action="store_true", help="show tracebacks")
    return p


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser; with ``command="mcp"`` only that subcommand is registered (fast start)."""
    from .commands import register_all

    parser = argparse.ArgumentParser(
        prog="elixir-scope", description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"elixir-scope {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    register_all(sub, common_options(), only=command)
    return parser



class _LazyOutput:
    """The ``Output`` of a command, made on first use: rich and the term printer cost ~0.1 s
    of start-up that ``elixir-scope mcp`` (whose client waits) mostly never needs."""

    def __init__(self, json_mode: bool) -> None:
        self._json_mode = json_mode
        self._out: Output | None = None

    def __getattr__(self, name: str) -> Any:
        if self._out is None:
            from .render import Output

            self._out = Output(json_mode=self._json_mode)
        return getattr(self._out, name)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``elixir-scope`` console script; returns the exit code."""
    words = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser("mcp" if words[:1] == ["mcp"] else None)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse already printed usage and the problem
        return int(exc.code or 0)
    out: Any = _LazyOutput(json_mode=getattr(args, "json", False))
    try:
        result = args.run(args, out)
        if hasattr(result, "__await__"):
            import asyncio

            result = asyncio.run(result)
        return int(result or 0)
    except KeyboardInterrupt:
        out.error("interrupted", None)
        return EXIT_INTERRUPTED
    except CliError as exc:
        if getattr(args, "debug", False):
            raise
        out.error(str(exc), exc.hint)
        return EXIT_USAGE
    except Exception as exc:
        if getattr(args, "debug", False):
            raise
        from .extras import missing_extra

        missing = missing_extra(exc)
        if missing is not None:
            out.error(*missing)
            return EXIT_ERROR
        from elixir_scope.mcp_server.hints import describe

        d = describe(exc, audience="cli")
        out.error(d.message, d.hint or "rerun with --debug for the traceback")
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
