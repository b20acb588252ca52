"""The compiled code a node runs, copied to a local folder — so a generated ExUnit test can be
run against exactly the code the recording came from, without the application's sources.

``fetch_object_code(conn, module, dest)`` writes ``<Module>.beam`` for the module and, when
the node knows its application, every module of that application (a callback may call its
siblings and use their structs). Read-only on the target: ``application:get_application/1``,
``application:get_key/2`` and ``code:get_object_code/1``, which reads the ``.beam`` from the
node's code path. The module name is resolved on the node with ``binary_to_existing_atom``
(a mistyped name never becomes an atom there); the other names come from the node itself.

A module compiled in memory (``Code.require_file``, an ``.exs``, ``elixir -r file.ex``) has no
object code on disk: that is a clear error, and the sources have to be given instead. The
local ``elixir`` must load what the node's compiler produced (same or newer OTP release).
Bounded: at most ``max_modules`` modules and ``max_bytes`` in all.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from .dist import RpcError
from .etf import Atom
from .replay_model import ReplayRemoteError, module_atom

if TYPE_CHECKING:
    from .dist import Connection

__all__ = ["ObjectCode", "fetch_object_code", "ObjectCodeError"]

_OK = Atom("ok")


class ObjectCodeError(ReplayRemoteError):
    """The node has no object code for the module (compiled in memory) or it is too large."""


@dataclass(frozen=True)
class ObjectCode:
    folder: Path
    modules: list[str]
    application: str | None = None
    missing: list[str] = field(default_factory=list)  # siblings without object code (skipped)
    bytes: int = 0


async def fetch_object_code(conn: "Connection", module: str | Atom, dest: Path, *, max_modules: int = 300,
                            max_bytes: int = 64 * 1024 * 1024, timeout: float = 30.0) -> ObjectCode:
    """Copy the object code of ``module`` (and of its application's modules) to ``dest``."""
    wanted = module_atom(module)
    try:
        mod = await conn.rpc("erlang", "binary_to_existing_atom", [wanted.name.encode(), Atom("utf8")])
    except RpcError as exc:
        raise ObjectCodeError(f"module {wanted.name} is not known on {conn.node_name}") from exc
    app = await conn.rpc("application", "get_application", [mod])
    modules: list[Atom] = [mod]
    app_name = None
    if type(app) is tuple and app[0] is _OK:
        app_name = app[1].name
        keyed = await conn.rpc("application", "get_key", [app[1], Atom("modules")])
        if type(keyed) is tuple and keyed[0] is _OK and isinstance(keyed[1], list):
            modules += [m for m in keyed[1] if isinstance(m, Atom) and m != mod]
    if len(modules) > max_modules:
        raise ObjectCodeError(
            f"application {app_name} has {len(modules)} modules (more than {max_modules}); run the test inside "
            "the mix project instead (--mix-project)")
    dest.mkdir(parents=True, exist_ok=True)
    written: list[str] = []
    missing: list[str] = []
    total = 0
    for m in modules:
        if "/" in m.name or m.name.startswith("."):  # not a name a .beam file can have
            missing.append(m.name)
            continue
        got = await conn.rpc("code", "get_object_code", [m], timeout=timeout)
        if not (type(got) is tuple and len(got) == 3 and isinstance(got[1], (bytes, bytearray))):
            if m is mod:
                raise ObjectCodeError(
                    f"{conn.node_name} has no object code for {mod.name}: it was compiled in memory (e.g. "
                    "elixir -r file.ex, Code.require_file) rather than loaded from a .beam; give the "
                    "application's sources (--app-file / app_files) or its mix project instead")
            missing.append(m.name)
            continue
        total += len(got[1])
        if total > max_bytes:
            raise ObjectCodeError(f"the object code of {app_name or mod.name} exceeds {max_bytes} bytes; run the "
                                  "test inside the mix project instead")
        (dest / f"{m.name}.beam").write_bytes(bytes(got[1]))
        written.append(m.name)
    return ObjectCode(dest, written, app_name, missing, total)
