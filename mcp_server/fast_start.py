"""stdio serving that answers the client while the server is still loading.

``serve_stdio(config)`` takes the standard streams (fd 0 and 1 are pointed at the null device
and stderr, as the SDK's own stdio transport does, so stray output never reaches the wire),
starts building the server (importing the MCP SDK, registering the tools) in a thread, and
meanwhile reads the client's lines itself:

- ``initialize`` is answered from the cache (``start_cache``: the shipped answers or the user
  cache) for the protocol version the SDK would negotiate with these parameters - any client,
  also one never seen before - and then so is ``tools/list`` (first page, no cursor);
- every line, answered or not, is kept and replayed to the server once it is built, in
  order, so the server's session goes through the same handshake; its answers to requests
  already answered are not sent again but compared and stored in the cache (a stale tool
  list is followed by ``notifications/tools/list_changed``);
- requests that need the server (tool calls, resources) simply wait for it.

The build starts as soon as nothing more can be answered early (after the cached
``tools/list``, on a cache miss, on any other request, or after ``HOLD_S``): both in one
process would fight over the GIL, and on a loaded machine that costs the early answers most.

With no current answers (edited code, another SDK version, no shipped answers for the
configuration) nothing is answered early and the server's answers fill the user cache for the
next start. ``initialize`` parameters that the SDK might refuse (no string ``protocolVersion``,
no ``capabilities`` object, no ``clientInfo`` with string ``name`` and ``version``) are left
to the server.
"""

from __future__ import annotations

import json
import os
import select
import sys
import threading
from collections import deque
from typing import TYPE_CHECKING, Any

from .start_cache import StartCache

if TYPE_CHECKING:
    from mcp.server.mcpserver import MCPServer

    from .config import ServerConfig

__all__ = ["serve_stdio", "Relay", "Wire"]

CACHED = ("initialize", "tools/list")
HOLD_S = 1.0  # the longest the build waits for the early answers to go out


class Wire:
    """The client's side of stdio on private descriptors; fd 0/1 diverted meanwhile."""

    def __init__(self) -> None:
        import fcntl

        sys.stdout.flush()
        self.in_fd = fcntl.fcntl(0, fcntl.F_DUPFD_CLOEXEC, 3)
        self.out_fd = fcntl.fcntl(1, fcntl.F_DUPFD_CLOEXEC, 3)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.close(null)
        os.dup2(2, 1)

    def write_line(self, text: str) -> None:
        data = (text + "\n").encode("utf-8")
        while data:
            data = data[os.write(self.out_fd, data):]

    def restore(self) -> None:
        sys.stdout.flush()
        os.dup2(self.in_fd, 0)
        os.dup2(self.out_fd, 1)
        os.close(self.in_fd)
        os.close(self.out_fd)


def _plausible_initialize(params: Any) -> bool:
    """Parameters the SDK's ``initialize`` accepts as far as a cheap look can tell."""
    if not isinstance(params, dict):
        return False
    info = params.get("clientInfo")
    return (isinstance(params.get("protocolVersion"), str) and isinstance(params.get("capabilities"), dict)
            and isinstance(info, dict) and isinstance(info.get("name"), str)
            and isinstance(info.get("version"), str))


class Relay:
    """Lines from the client (``readline`` for the SDK's stdio reader) and the bookkeeping of
    which requests were answered early and which answers go to the cache."""

    def __init__(self, wire: Wire, cache: StartCache) -> None:
        self.wire = wire
        self.cache = cache
        self._buf = bytearray()
        self._replay: deque[bytes] = deque()
        self.eof = False
        self.early = True  # answering from the cache is allowed (before the server runs)
        self._init_seen = False
        self._version: str | None = None  # the protocol version negotiated by the first initialize
        self._init_served = False
        # request id (as JSON text) -> (method, protocol version, result served early or None)
        self.watched: dict[str, tuple[str, str | None, dict[str, Any] | None]] = {}
        self._lock = threading.Lock()
        # set when nothing (more) can be answered early: the build may take the CPU now
        self.go = threading.Event()
        if cache.empty:
            self.go.set()

    # -- reading -------------------------------------------------------------------------
    def _fill(self) -> None:
        chunk = os.read(self.wire.in_fd, 65536)
        if chunk:
            self._buf += chunk
        else:
            self.eof = True

    def _take_line(self) -> bytes | None:
        i = self._buf.find(b"\n")
        if i >= 0:
            line = bytes(self._buf[:i + 1])
            del self._buf[:i + 1]
            return line
        if self.eof and self._buf:
            line = bytes(self._buf)
            self._buf.clear()
            return line
        return None

    def pump_early(self, wake_fd: int) -> bool:
        """Wait for client bytes or ``wake_fd``; handle the complete lines that arrived.
        False once the server is ready (``wake_fd`` readable) or the client closed stdin."""
        ready, _, _ = select.select([self.wire.in_fd, wake_fd], [], [])
        if wake_fd in ready:
            return False
        self._fill()
        while (line := self._take_line()) is not None:
            self._observe(line)
            self._replay.append(line)
        return not self.eof

    def readline(self) -> str:
        """The next line for the server: replayed lines first, then the live stream."""
        if self._replay:
            return self._replay.popleft().decode("utf-8", "replace")
        while True:
            line = self._take_line()
            if line is not None:
                self._observe(line)
                return line.decode("utf-8", "replace")
            if self.eof:
                return ""
            self._fill()

    # -- bookkeeping ---------------------------------------------------------------------
    def _observe(self, line: bytes) -> None:
        try:
            msg = json.loads(line)
        except ValueError:
            msg = None
        if not isinstance(msg, dict) or msg.get("method") not in CACHED or "id" not in msg:
            if not (isinstance(msg, dict) and msg.get("method") == "notifications/initialized"):
                self.go.set()  # something only the server can answer
            return
        rid = json.dumps(msg["id"])
        params = msg.get("params")
        if msg["method"] == "initialize":
            if self._init_seen:  # a second handshake: the server's business, and all after it
                self.early = False
                self.go.set()
                return
            self._init_seen = True
            if _plausible_initialize(params):
                self._version = self.cache.negotiate(params["protocolVersion"])
            version = self._version
        else:
            if not self._init_seen or (isinstance(params, dict) and set(params) - {"_meta"}):
                return  # a later page, or before any handshake: not cached
            version = self._version
        served = self.cache.get(msg["method"], version) if self.early else None
        if msg["method"] == "initialize":
            self._init_served = self._init_served or served is not None
        elif not self._init_served:
            served = None  # the handshake itself was not answered early: the server does both
        with self._lock:
            self.watched[rid] = (msg["method"], version, served)
        if served is not None:
            self.wire.write_line(json.dumps({"jsonrpc": "2.0", "id": msg["id"], "result": served},
                                            separators=(",", ":")))
            print(f"elixir-scope: answered {msg['method']} from the {self.cache.origin} start answers while "
                  "the server loads", file=sys.stderr)
        if served is None or msg["method"] == "tools/list":
            self.go.set()

    def settle(self, rid_json: str, result: dict[str, Any] | None) -> tuple[bool, bool]:
        """The server answered request ``rid_json``: ``(suppress, stale_tools)`` - whether the
        client already has an answer, and whether the tool list it got was stale."""
        with self._lock:
            entry = self.watched.pop(rid_json, None)
        if entry is None:
            return False, False
        method, version, served = entry
        if method == "initialize":
            if result is not None:
                version = self._version = result.get("protocolVersion")  # what the server negotiated
        else:
            version = self._version  # the server's answer to initialize came first
        if result is not None and isinstance(version, str):
            self.cache.put(method, version, result)
            self.cache.save()
        if served is None:
            return False, False
        if result is None:
            print(f"elixir-scope: the server refused the {method} request answered early from the start "
                  "cache; later requests get the server's own answers", file=sys.stderr)
        stale = result is not None and result != served
        if stale:
            print(f"elixir-scope: the cached {method} answer was out of date; the cache is updated",
                  file=sys.stderr)
        return True, stale and method == "tools/list"


def _answer_basis() -> tuple[dict[str, str], tuple[str, ...], str]:
    """What the built server's answers depend on: its sources and the SDK's handshake versions."""
    from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS, LATEST_HANDSHAKE_VERSION

    from .start_key import loaded_sources

    return loaded_sources(), tuple(HANDSHAKE_PROTOCOL_VERSIONS), LATEST_HANDSHAKE_VERSION


def _build(config: ServerConfig, out: dict[str, Any], wake_w: int, go: threading.Event) -> None:
    # Wait (briefly) until the handshake has been answered from the cache: importing the SDK
    # holds the GIL, and on a loaded machine a thread that holds it while descheduled would
    # delay the early answers by whole scheduler slices.
    go.wait(timeout=HOLD_S)
    try:
        from .server import build_server

        out["server"] = build_server(config)
        out["bind"] = _answer_basis()
    except BaseException as exc:  # re-raised in the main thread
        out["error"] = exc
    finally:
        os.write(wake_w, b"x")


def serve_stdio(config: ServerConfig) -> None:
    """Serve ``config``'s server on stdio, answering from the start cache while it loads."""
    assert config.start_cache_dir is not None
    cache = StartCache.open(config, config.start_cache_dir)
    wire = Wire()
    try:
        relay = Relay(wire, cache)
        wake_r, wake_w = os.pipe()
        built: dict[str, Any] = {}
        builder = threading.Thread(target=_build, args=(config, built, wake_w, relay.go), name="es-build",
                                   daemon=True)
        builder.start()
        while relay.pump_early(wake_r):
            pass
        builder.join()
        os.close(wake_r)
        os.close(wake_w)
        relay.early = False
        if "error" in built:
            raise built["error"]
        cache.bind(*built["bind"])
        _run(built["server"], relay)
    finally:
        wire.restore()


def _run(server: MCPServer, relay: Relay) -> None:
    import io

    import anyio

    from .stdio_guard import run_stdio

    out = io.TextIOWrapper(os.fdopen(os.dup(relay.wire.out_fd), "wb"), encoding="utf-8")
    anyio.run(lambda: run_stdio(server, stdin=anyio.wrap_file(relay), stdout=anyio.wrap_file(out),
                                relay=relay))
