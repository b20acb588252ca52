"""The start cache: what this server answered to ``initialize`` and ``tools/list`` last time.

Importing the MCP SDK and registering 41 typed tools costs about a second of CPU, while the
answers a client waits for first (``initialize``, then ``tools/list``) depend only on the code
and the configuration. ``fast_start`` answers them from this cache while the server loads, and
the server, once loaded, answers the same requests again: its answers are compared with the
served ones and replace them in the cache (and a served tool list that turns out stale is
followed by ``notifications/tools/list_changed``, so the client asks again).

A cache file is named by a fingerprint of everything the answers depend on:

- the cache format, the Python version, ElixirScope's version;
- the size and modification time of every ``.py`` file of ElixirScope's packages (an edited
  tool description changes the fingerprint) and of the MCP SDK's main modules (an upgraded
  SDK does too);
- the server configuration (``repr``, which leaves secrets out, plus whether a token, a cookie
  and an API key are set).

Entries are keyed by a hash of the client's exact ``initialize`` parameters (protocol version,
capabilities, client info), so two clients never share an answer. Files are small JSON, written
atomically; the folder keeps the ``MAX_FILES`` most recent ones.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from importlib.util import find_spec
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .config import ServerConfig

__all__ = ["StartCache", "params_key", "MAX_FILES"]

FORMAT = 1
MAX_FILES = 16
# ElixirScope's packages whose code shapes the tool list (schemas, descriptions, registration).
OWN_PACKAGES = ("mcp_server", "store", "instrument", "agents", "knowledge")
# The SDK's modules that shape initialize and tools/list answers.
SDK_FILES = (("mcp", "__init__.py"), ("mcp", "server/mcpserver/server.py"), ("mcp", "server/lowlevel/server.py"),
             ("mcp_types", "__init__.py"), ("mcp_types", "_types.py"))


def params_key(params: Any) -> str:
    """A stable hash of a request's parameters (``_meta`` left out: progress tokens vary)."""
    if isinstance(params, dict):
        params = {k: v for k, v in params.items() if k != "_meta"}
    text = json.dumps(params, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _stat_py_files(root: str, digest: Any) -> None:
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__" and not d.startswith("."))
        for name in sorted(filenames):
            if name.endswith(".py"):
                st = os.stat(os.path.join(dirpath, name))
                digest.update(f"{dirpath}/{name}:{st.st_size}:{st.st_mtime_ns}\n".encode())


def fingerprint(config: ServerConfig) -> str:
    """The hash naming the cache file for ``config`` and the installed code."""
    from elixir_scope import __version__

    d = hashlib.sha256(f"{FORMAT}|{sys.version}|{__version__}|{config!r}|{bool(config.token)}|"
                       f"{config.cookie is not None}|{bool(config.anthropic_api_key)}\n".encode())
    for name in OWN_PACKAGES:
        spec = find_spec(f"elixir_scope.{name}")
        for root in (spec.submodule_search_locations or []) if spec else []:
            _stat_py_files(root, d)
    for package, rel in SDK_FILES:
        spec = find_spec(package)
        for root in (spec.submodule_search_locations or []) if spec else []:
            try:
                st = os.stat(os.path.join(root, rel))
            except OSError:
                continue
            d.update(f"{package}/{rel}:{st.st_size}:{st.st_mtime_ns}\n".encode())
    return d.hexdigest()[:40]


class StartCache:
    """One cache file: ``{"initialize": {key: result}, "tools/list": {key: result}}``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.entries: dict[str, dict[str, Any]] = {"initialize": {}, "tools/list": {}}
        self.changed = False

    @classmethod
    def open(cls, config: ServerConfig, directory: Path) -> StartCache:
        """The cache for ``config`` in ``directory``, loaded when present (a damaged or
        foreign file counts as empty: it is rewritten with the server's next answers)."""
        cache = cls(directory.expanduser() / f"start-{fingerprint(config)}.json")
        try:
            data = json.loads(cache.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return cache
        if isinstance(data, dict) and data.get("format") == FORMAT:
            for method in cache.entries:
                got = data.get(method)
                if isinstance(got, dict):
                    cache.entries[method] = {k: v for k, v in got.items() if isinstance(v, dict)}
        return cache

    def get(self, method: str, key: str) -> dict[str, Any] | None:
        return self.entries[method].get(key)

    def put(self, method: str, key: str, result: dict[str, Any]) -> None:
        if self.entries[method].get(key) != result:
            self.entries[method][key] = result
            self.changed = True

    def save(self) -> None:
        """Write the file atomically when something changed; keep the folder bounded. A cache
        that cannot be written only costs the next start its head start."""
        if not self.changed:
            return
        import tempfile  # (brings shutil and lzma: not on the way to the early answers)

        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".start-", suffix=".tmp")
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump({"format": FORMAT, **self.entries}, f, separators=(",", ":"))
            os.replace(tmp, self.path)
            self.changed = False
            self._prune()
        except OSError:
            return

    def _prune(self) -> None:
        files = sorted(self.path.parent.glob("start-*.json"), key=lambda p: p.stat().st_mtime, reverse=True)
        for old in files[MAX_FILES:]:
            try:
                old.unlink()
            except OSError:
                pass
