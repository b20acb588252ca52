"""Run the UI: bind (loopback by default), print the URL with its token, optionally open a
browser, serve until interrupted."""

from __future__ import annotations

import socket
from collections.abc import Callable

from .app import build_app
from .config import UiConfig


def serve(config: UiConfig, announce: Callable[[str], None] = print) -> None:
    """Serve until interrupted (blocking). ``announce`` receives the URL once listening."""
    import anyio
    import uvicorn

    import dataclasses

    config.validate()
    family = socket.AF_INET6 if ":" in config.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((config.host, config.port))
    port = sock.getsockname()[1]
    # the Host/Origin rules name the port actually bound (with --port 0 the OS picks it)
    config = dataclasses.replace(config, port=port)
    app = build_app(config)
    url = config.url(port)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))

    async def run() -> None:
        async with anyio.create_task_group() as tg:
            tg.start_soon(server.serve, [sock])
            while not server.started:
                await anyio.sleep(0.02)
            announce(url)
            if config.open_browser:
                import webbrowser

                webbrowser.open(url)

    anyio.run(run)
