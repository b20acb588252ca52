"""Launch the bundled example apps (``examples/``) as distributed Elixir nodes: the healthy
sample app, and the buggy apps of ``examples/*/scenario.json`` that the demo diagnoses.

``elixir-scope demo`` needs a live target that anyone can start with one command, so this
module starts ``SampleApp`` exactly as the tests do (``tests/support/nodes.py``): plain
``elixir --sname N --cookie C --no-halt -r <files> -e ...``, no mix, a fresh random cookie,
and a ready line printed after the application started, so the demo never races a
half-started node. The node runs in its own session and is stopped by its own pid (never a
kill by name: other nodes on the machine are not ours).
"""

from __future__ import annotations

import json
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

from .errors import CliError

READY = "ES_DEMO_READY"
REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"
DEFAULT_APP = EXAMPLES / "sample_app"
DEFAULT_SCENARIO = "corrupted_state"


class DemoError(CliError):
    """The sample app could not be started."""


@dataclass
class DemoNode:
    """The running sample app."""

    sname: str
    cookie: str
    proc: subprocess.Popen
    output: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return f"{self.sname}@{socket.gethostname().split('.')[0]}"

    def log(self) -> str:
        return "".join(self.output)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the node by its own pid (SIGKILL if it does not go)."""
        if self.proc.poll() is not None:
            return
        try:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=timeout)
        except ProcessLookupError:
            pass


def start_sample_app(app_dir: Path = DEFAULT_APP, *, sname: str | None = None,
                     cookie: str | None = None, ready_timeout: float = 90.0) -> DemoNode:
    """Start ``SampleApp`` from ``app_dir`` and wait until it runs."""
    files = sorted((app_dir / "lib").rglob("*.ex"))
    if not files:
        raise DemoError(f"no sample app sources under {app_dir}/lib", "pass --app-dir pointing at examples/sample_app")
    return start_app(files, "SampleApp.start()", sname=sname, cookie=cookie, ready_timeout=ready_timeout)


def scenario_names() -> list[str]:
    """The buggy examples the demo can run: those on one node (a scenario on several nodes,
    ``"nodes"`` in its scenario.json, needs them all started: see examples/README.md)."""
    return sorted(p.parent.name for p in EXAMPLES.glob("*/scenario.json")
                  if not json.loads(p.read_text()).get("nodes"))


def load_scenario(name: str) -> dict:
    """A buggy example's ``scenario.json`` (files, start, trigger, symptom, culprit)."""
    path = EXAMPLES / name / "scenario.json"
    if not path.is_file():
        raise DemoError(f"no example scenario {name!r}", "choose one of: " + ", ".join(scenario_names()))
    return json.loads(path.read_text())


def start_scenario(name: str, **kw) -> DemoNode:
    """Start the buggy example ``name`` (``examples/<name>``) as its scenario says."""
    sc = load_scenario(name)
    if sc.get("nodes"):
        raise DemoError(f"the example {name!r} runs on {1 + len(sc['nodes'])} nodes; the demo starts one",
                        "start its nodes as examples/" + name + "/README.md shows, then run elixir-scope "
                        "diagnose with --node for each; or choose one of: " + ", ".join(scenario_names()))
    return start_app([EXAMPLES / name / f for f in sc["files"]], sc["start"], **kw)


def start_app(files: list[Path], start_expr: str, *, sname: str | None = None,
              cookie: str | None = None, ready_timeout: float = 90.0) -> DemoNode:
    """Start an Elixir node that requires ``files`` and runs ``start_expr`` (which must return
    ``{:ok, pid}``); wait until it runs."""
    if shutil.which("elixir") is None:
        raise DemoError("elixir is not installed", "install Erlang/OTP and Elixir: bash scripts/setup.sh")
    subprocess.run(["epmd", "-daemon"], check=False)
    sname = sname or f"es_demo_{os.getpid()}_{secrets.token_hex(2)}"
    cookie = cookie or secrets.token_hex(12)
    argv = ["elixir", "--sname", sname, "--cookie", cookie, "--no-halt"]
    for f in files:
        argv += ["-r", str(f)]
    argv += ["-e", f'{{:ok, _}} = {start_expr}\nIO.puts("{READY}")']
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    node = DemoNode(sname=sname, cookie=cookie, proc=proc)
    ready = threading.Event()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            node.output.append(line)
            if READY in line:
                ready.set()
        ready.set()

    threading.Thread(target=pump, daemon=True).start()
    deadline = time.monotonic() + ready_timeout
    while not ready.wait(0.05):
        if time.monotonic() > deadline:
            node.stop()
            raise DemoError(f"the app did not start within {ready_timeout:.0f}s", node.log()[-500:] or None)
    if READY not in node.log():
        node.stop()
        tail = node.log().strip().splitlines()[-3:]
        raise DemoError("the app exited while starting", " | ".join(tail) or None)
    return node
