"""The MCP server as a real subprocess for end-to-end tests (HTTP and stdio), and the MCP
Inspector CLI from npm as a client nobody here wrote. Processes are stopped by their own pid."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
INSPECTOR = "@modelcontextprotocol/inspector@0.15.0"
# The first release whose CLI sends HTTP headers (``--header "Authorization: Bearer ..."``);
# it declares node >= 22 but its CLI runs on the node 20 of Debian (tests prove it).
INSPECTOR_WITH_HEADERS = "@modelcontextprotocol/inspector@0.17.5"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_argv(*args: str) -> list[str]:
    """Command line that runs ``elixir-scope`` with this interpreter (no PATH lookup)."""
    return [sys.executable, "-m", "elixir_scope.cli", *args]


def server_env(**extra: str) -> dict[str, str]:
    """The test process's environment without ElixirScope's settings, except the session's own
    home (tests/conftest.py ``session_home``: its knowledge index is built once per session)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ELIXIR_SCOPE_") or k == "ELIXIR_SCOPE_HOME"}
    env.update(extra)
    return env


@dataclass
class HttpServer:
    proc: subprocess.Popen
    port: int
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/mcp"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=15)


def start_http_server(tmp: Path, *args: str, env: dict[str, str] | None = None,
                      ready_timeout: float = 60.0) -> HttpServer:
    port = free_port()
    log_path = tmp / f"mcp-http-{port}.log"
    log = log_path.open("w")
    proc = subprocess.Popen(
        server_argv("mcp", "--transport", "http", "--port", str(port), *args),
        stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
        env=env or server_env(), start_new_session=True,
    )
    server = HttpServer(proc, port, log_path)
    deadline = time.monotonic() + ready_timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"MCP HTTP server exited with {proc.returncode}:\n{server.log()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return server
        except OSError:
            time.sleep(0.1)
    server.stop()
    raise RuntimeError(f"MCP HTTP server not listening within {ready_timeout}s:\n{server.log()}")


def npx() -> str:
    path = shutil.which("npx")
    if path is None:
        raise RuntimeError("npx (Node.js) is not installed: apt-get install -y nodejs npm")
    return path


def run_inspector(*args: str, timeout: float = 240.0, env: dict[str, str] | None = None,
                  inspector: str = INSPECTOR) -> subprocess.CompletedProcess:
    """``npx -y @modelcontextprotocol/inspector --cli <args>`` (first run fills the npm cache)."""
    return subprocess.run(
        [npx(), "-y", inspector, "--cli", *args],
        capture_output=True, text=True, timeout=timeout, env=env or server_env(), cwd=REPO,
    )


def stdio_client_env(**extra: str) -> dict[str, str]:
    """What a desktop client gives a stdio server: a few basics plus its ``env`` block."""
    basics = ("HOME", "LOGNAME", "PATH", "SHELL", "TERM", "USER")
    return {**{k: os.environ[k] for k in basics if k in os.environ}, **extra}
