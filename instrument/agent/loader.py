"""Loading the tracer agent onto a target node, with no file written there.

Why this way: the agent must match the target's OTP release, and production releases often
ship without the ``compiler`` application, so the loader tries, in order:

1. the agent is already loaded at the current version -> nothing to do (loading twice is
   harmless);
2. the target has ``compile`` -> scan, parse and compile the shipped source *on the target*
   (three rpcs: the source travels as a binary, the compile step runs there through
   ``erl_eval``), then ``code:load_binary/3``;
3. another connected node has a compiler and an OTP release not newer than the target's ->
   compile there, load the beam on the target;
4. otherwise compile locally with ``erlc`` into a temporary directory (a beam built by OTP N
   loads on later releases: the OTP 25 beam loads on the OTP 28 runtime).

A stale version is replaced: the old code is soft-purged first (never ``code:purge``, which
would kill a running agent that still holds trace flags) and loading is refused with a clear
error while an agent running even older code is alive.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import re
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..dist import Connection, RpcError
from ..etf import Atom, Charlist

MODULE = "elixir_scope_agent"
SOURCE_PATH = Path(__file__).with_name(f"{MODULE}.erl")

__all__ = ["MODULE", "AgentLoadError", "LoadResult", "agent_source", "agent_version", "ensure_agent"]


class AgentLoadError(Exception):
    """The agent could not be loaded on the target; the message says why and what to do."""


@dataclass(frozen=True)
class LoadResult:
    """How the agent got onto the node. ``how`` is ``already_loaded``, ``target_compile``,
    ``peer_compile`` or ``local_erlc``."""

    node: str
    version: int
    how: str
    replaced: int | None = None


def agent_source() -> bytes:
    return SOURCE_PATH.read_bytes()


@functools.cache
def agent_version() -> int:
    """The version compiled into the shipped source (``version() -> N.``)."""
    m = re.search(rb"^version\(\) -> (\d+)\.", agent_source(), re.MULTILINE)
    if not m:
        raise AgentLoadError(f"{SOURCE_PATH} has no 'version() -> N.' clause")
    return int(m.group(1))


# Evaluated on the compiling node with Src bound to the source binary. Split the tokens into
# forms at each dot, parse every form, compile in memory.
_COMPILE_EXPR = """
{ok, Toks, _} = erl_scan:string(binary_to_list(Src)),
{[], RevForms} = lists:foldl(
    fun({dot, _} = D, {Cur, Acc}) ->
            case erl_parse:parse_form(lists:reverse([D | Cur])) of
                {ok, F} -> {[], [F | Acc]};
                {error, E} -> throw({parse_error, E})
            end;
       (T, {Cur, Acc}) -> {[T | Cur], Acc}
    end, {[], []}, Toks),
case compile:forms(lists:reverse(RevForms), [binary, return_errors]) of
    {ok, _Mod, Bin} -> {ok, Bin};
    {ok, _Mod, Bin, _Warnings} -> {ok, Bin};
    Error -> Error
end.
"""


async def _loaded_version(conn: Connection) -> int | None:
    exported = await conn.rpc("erlang", "function_exported", [Atom(MODULE), Atom("version"), 0])
    if exported is not True:
        return None
    v = await conn.rpc(MODULE, "version", [])
    return v if isinstance(v, int) else None


async def has_compiler(conn: Connection) -> bool:
    where = await conn.rpc("code", "which", [Atom("compile")])
    return not (isinstance(where, Atom) and str(where) == "non_existing")


async def otp_release(conn: Connection) -> int:
    rel = await conn.rpc("erlang", "system_info", [Atom("otp_release")])
    return int("".join(chr(c) for c in rel) if isinstance(rel, list) else rel)


async def compile_on(conn: Connection, source: bytes | None = None) -> bytes:
    """Compile the agent source on ``conn``'s node (which needs ``compiler``); the beam."""
    src = agent_source() if source is None else source
    try:
        scanned = await conn.rpc("erl_scan", "string", [Charlist(ord(c) for c in _COMPILE_EXPR)])
        if not (isinstance(scanned, tuple) and scanned[0] == Atom("ok")):
            raise AgentLoadError(f"cannot scan the compile expression on {conn.node_name}: {scanned!r}")
        parsed = await conn.rpc("erl_parse", "parse_exprs", [scanned[1]])
        if not (isinstance(parsed, tuple) and parsed[0] == Atom("ok")):
            raise AgentLoadError(f"cannot parse the compile expression on {conn.node_name}: {parsed!r}")
        value = await conn.rpc("erl_eval", "exprs", [parsed[1], [(Atom("Src"), src)]], timeout=60.0)
    except RpcError as exc:
        raise AgentLoadError(f"compiling the agent on {conn.node_name} failed: {exc}") from exc
    result = value[1] if isinstance(value, tuple) and value and value[0] == Atom("value") else value
    if isinstance(result, tuple) and len(result) == 2 and result[0] == Atom("ok") and isinstance(result[1], bytes):
        return result[1]
    raise AgentLoadError(f"the agent source did not compile on {conn.node_name}: {result!r}")


@functools.cache
def _local_beam(digest: str, source: bytes) -> bytes:
    erlc = shutil.which("erlc")
    if erlc is None:
        raise AgentLoadError(
            "the target has no compiler application and erlc is not installed here: install "
            "Erlang/OTP locally (apt-get install erlang-nox) or connect a node that has a compiler")
    with tempfile.TemporaryDirectory(prefix="es_agent_") as tmp:
        src = Path(tmp) / f"{MODULE}.erl"
        src.write_bytes(source)
        proc = subprocess.run([erlc, "-o", tmp, str(src)], capture_output=True, text=True, timeout=120, check=False)
        if proc.returncode != 0:
            raise AgentLoadError(f"erlc failed on the agent source:\n{proc.stdout}{proc.stderr}")
        return (Path(tmp) / f"{MODULE}.beam").read_bytes()


def local_beam(source: bytes | None = None) -> bytes:
    src = agent_source() if source is None else source
    return _local_beam(hashlib.sha256(src).hexdigest(), src)


async def load_beam(conn: Connection, beam: bytes) -> None:
    """Soft-purge old code, then ``code:load_binary/3`` (no file written on the target)."""
    purged = await conn.rpc("code", "soft_purge", [Atom(MODULE)])
    if purged is not True:
        raise AgentLoadError(
            f"an agent running old code is still alive on {conn.node_name}: stop its capture "
            f"(or wait for it to end) before loading version {agent_version()}")
    res = await conn.rpc("code", "load_binary", [Atom(MODULE), Charlist(ord(c) for c in f"{MODULE}.erl"), beam])
    if not (isinstance(res, tuple) and res[0] == Atom("module")):
        raise AgentLoadError(
            f"code:load_binary refused the agent on {conn.node_name}: {res!r} (a beam built by a "
            "newer OTP than the target's does not load; connect a node with a compiler and the "
            "target's OTP release or older)")


async def ensure_agent(conn: Connection, *, peers: Sequence[Connection] = (), force_reload: bool = False) -> LoadResult:
    """Make sure the current agent version is loaded on ``conn``'s node."""
    want = agent_version()
    have = await _loaded_version(conn)
    if have == want and not force_reload:
        return LoadResult(conn.node_name, want, "already_loaded")
    if await has_compiler(conn):
        beam, how = await compile_on(conn), "target_compile"
    else:
        beam, how = None, "local_erlc"
        target_rel = await otp_release(conn)
        for peer in peers:
            if peer is conn or peer.closed.is_set():
                continue
            try:
                if await has_compiler(peer) and await otp_release(peer) <= target_rel:
                    beam, how = await compile_on(peer), "peer_compile"
                    break
            except (TimeoutError, RpcError, AgentLoadError):
                continue
        if beam is None:
            beam = await asyncio.to_thread(local_beam)
    await load_beam(conn, beam)
    got = await _loaded_version(conn)
    if got != want:
        raise AgentLoadError(f"loaded the agent on {conn.node_name} but it reports version {got}, not {want}")
    return LoadResult(conn.node_name, want, how, replaced=have)
