"""``elixir-scope ui``: serve the local web UI over the trace store."""

from __future__ import annotations

import argparse

from ..errors import CliError
from ..render import Output
from ..session import config_from


def register(sub, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "ui", parents=[common], help="serve the local web UI (timeline, states, messages, queries)",
        description="Serve a web UI over the trace store: recordings, a timeline to scrub, the "
        "state of every process at any moment, message sequence diagrams, queries and call trees. "
        "Binds 127.0.0.1 and prints a URL carrying a fresh token; only that URL opens the UI.",
    )
    p.add_argument("--host", help="bind address (default 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (default 8766; 0 picks a free one)")
    p.add_argument("--token", help="use this token instead of a fresh random one (prefer $ELIXIR_SCOPE_TOKEN: flags show in ps)")
    p.add_argument("--allowed-host", action="append", default=[], metavar="HOST[:PORT]",
                   help="an extra Host header value accepted (repeatable; required when --host is not loopback)")
    p.add_argument("--allowed-origin", action="append", default=[], metavar="ORIGIN",
                   help="an extra Origin accepted (repeatable)")
    p.add_argument("--open", action="store_true", help="open the URL in a browser")
    p.set_defaults(run=run)


def run(args: argparse.Namespace, out: Output) -> int:
    try:
        from elixir_scope.ui import UiConfig, UiConfigError, serve
    except ImportError as exc:  # Starlette and uvicorn come with the MCP SDK
        raise CliError(f"the web UI cannot start: {exc}",
                       "install the full set: pip install 'elixir-scope[all]'") from exc

    base = config_from(args)
    path = base.resolved_store_path
    if not path.exists():
        raise CliError(f"no trace store at {path}",
                       "record something first (elixir-scope record ...) or pass --store FILE")
    config = UiConfig(store_path=path).with_(
        host=args.host, port=args.port, token=args.token or base.token,
        allowed_hosts=tuple(args.allowed_host) or None, allowed_origins=tuple(args.allowed_origin) or None,
        default_node=base.default_node, cookie=base.cookie, open_browser=args.open or None)
    try:
        config.validate()
    except UiConfigError as exc:
        raise CliError(str(exc), "see `elixir-scope ui --help`") from exc

    def announce(url: str) -> None:
        if out.json_mode:
            out.emit_json({"url": url})
        else:
            out.note("ElixirScope UI (Ctrl-C stops it):")
            print(url, flush=True)

    try:
        serve(config, announce)
    except OSError as exc:
        raise CliError(f"cannot listen on {config.host}:{config.port}: {exc.strerror or exc}",
                       "pick another --port (0 takes any free one)") from exc
    except KeyboardInterrupt:
        pass
    return 0
