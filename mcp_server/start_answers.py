"""Computing the start answers: what the server answers to ``initialize`` and ``tools/list``
for every protocol version of the handshake, over the same stdio code path a client meets.

``compute(config)`` builds the server and runs one session per protocol version through
``stdio_guard.run_stdio`` with in-memory lines (the SDK's stdio transport, JSON lines in and
out, nothing mocked): ``initialize`` → ``notifications/initialized`` → ``tools/list``. The
answers are those lines, parsed - exactly what the user cache would record from a real start.
``shipped()`` is the content of the ``start_answers-<settings>.json`` files
(``scripts/build_start_cache.py`` writes them; tests/test_mcp_start_answers.py fails when they
differ from what the code answers now).

Run only by the build script and the tests: the server never imports this module.
"""

from __future__ import annotations

import json
import queue
from typing import TYPE_CHECKING, Any

from .start_cache import Answers, environment_key, shipped_path
from .start_key import loaded_sources

if TYPE_CHECKING:
    from .config import ServerConfig

__all__ = ["compute", "shipped", "SHIPPED_CONFIGS", "render"]

CLIENT_INFO = {"name": "elixir-scope-start-answers", "version": "1"}
# What the wheel ships answers for: the default settings and --allow-mutations.
SHIPPED_CONFIGS = ({}, {"allow_mutations": True})
SESSION_TIMEOUT_S = 120.0


class _Lines:
    """Both ends of one in-memory stdio session: ``readline`` gives the client's lines (then
    end of input once the last answer arrived), ``write`` collects the server's."""

    def __init__(self, lines: list[dict[str, Any]], last_id: int) -> None:
        self._in: queue.Queue[str] = queue.Queue()
        for msg in lines:
            self._in.put(json.dumps(msg) + "\n")
        self._last_id = last_id
        self._partial = ""
        self.answers: dict[Any, dict[str, Any]] = {}

    def readline(self) -> str:
        try:
            return self._in.get(timeout=SESSION_TIMEOUT_S)
        except queue.Empty:
            return ""

    def write(self, text: str) -> int:
        self._partial += text
        while "\n" in self._partial:
            line, self._partial = self._partial.split("\n", 1)
            msg = json.loads(line)
            if "id" in msg:
                self.answers[msg["id"]] = msg
                if msg["id"] == self._last_id:
                    self._in.put("")  # end of input: the session ends
        return len(text)

    def flush(self) -> None:
        return None


def _session(server: Any, version: str) -> tuple[dict[str, Any], dict[str, Any]]:
    import anyio

    from .stdio_guard import run_stdio

    lines = _Lines([
        {"jsonrpc": "2.0", "id": 1, "method": "initialize",
         "params": {"protocolVersion": version, "capabilities": {}, "clientInfo": CLIENT_INFO}},
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
    ], last_id=2)
    anyio.run(lambda: run_stdio(server, stdin=anyio.wrap_file(lines), stdout=anyio.wrap_file(lines)))
    init, tools = lines.answers.get(1, {}), lines.answers.get(2, {})
    if "result" not in init or "result" not in tools:
        raise RuntimeError(f"the server did not answer the handshake at {version}: {init or tools}")
    return init["result"], tools["result"]


def compute(config: ServerConfig) -> Answers:
    """The server's answers for ``config`` at every handshake protocol version."""
    from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS, LATEST_HANDSHAKE_VERSION

    from .server import build_server

    server = build_server(config)
    answers = Answers(environment_key(config), loaded_sources(), tuple(HANDSHAKE_PROTOCOL_VERSIONS),
                      LATEST_HANDSHAKE_VERSION)
    for version in HANDSHAKE_PROTOCOL_VERSIONS:
        init, tools = _session(server, version)
        answers.results["initialize"][init["protocolVersion"]] = init
        answers.results["tools/list"][init["protocolVersion"]] = tools
    return answers


def shipped(base: ServerConfig) -> dict[str, str]:
    """``{file name: text}`` of the shipped answers: one file for each of ``SHIPPED_CONFIGS``
    applied to ``base`` (whose other settings shape no answer)."""
    from dataclasses import replace

    files = {}
    for changes in SHIPPED_CONFIGS:
        config = replace(base, **changes)
        files[shipped_path(config).name] = render(compute(config))
    return files


def render(answers: Answers) -> str:
    """A file's text: stable (sorted keys), compact, one line per part for readable diffs."""
    data = answers.to_json()
    rows = ",\n".join(f"{json.dumps(k)}:{json.dumps(data[k], sort_keys=True, separators=(',', ':'))}"
                      for k in sorted(data))
    return "{\n" + rows + "\n}\n"
