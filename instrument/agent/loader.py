"""Loading the tracer agent onto a target node, with no file written there.

Why this way: the agent must match the target's OTP release, production releases often ship
without the ``compiler`` application, and compiling on the target costs it ~0.6 s of CPU per
attach, so the loader tries, in order:

1. the agent is already loaded at the current version -> nothing to do (loading twice is
   harmless);
2. the prebuilt beam shipped next to the source (``elixir_scope_agent.beam``, compiled by OTP 25,
   the oldest supported release, which every later release loads) -> ``code:load_binary/3``: one
   round trip, a few milliseconds of the target's CPU. It is used only if it was built from the
   shipped source: it carries the source's sha256 (attribute ``es_source_sha256``, written by
   ``scripts/build_agent.sh``); after an edit of the .erl without a rebuild it is stale and the
   loader goes on to compiling;
3. the target has ``compile`` -> scan, parse and compile the shipped source *on the target*
   (three rpcs: the source travels as a binary, the compile step runs there through
   ``erl_eval``), then ``code:load_binary/3``;
4. another connected node has a compiler and an OTP release not newer than the target's ->
   compile there, load the beam on the target;
5. otherwise compile locally with ``erlc`` into a temporary directory (a beam built by OTP N
   loads on later releases: the OTP 25 beam loads on the OTP 28 runtime).

A stale version is replaced: the old code is soft-purged first (never ``code:purge``, which
would kill a running agent that still holds trace flags) and loading is refused with a clear
error while an agent running even older code is alive. A *newer* version (another, newer
ElixirScope attached) is left alone unless ``force_reload`` (``NewerAgentError``).

Each rpc may wait ``AttachTimeouts.rpc`` (20 s by default: a node whose schedulers are all taken
answers in seconds); one that does not answer raises ``NodeBusyError`` with the node's run
queues and what was left on the node (attach.py), not a bare ``RpcTimeout``.
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

from ..dist import Connection, RpcError, RpcTimeout
from ..etf import Atom, Charlist
from .attach import DEFAULT_TIMEOUTS, AttachTimeouts, NewerAgentError, NodeBusyError, attach_step
from .errors import AgentLoadError

MODULE = "elixir_scope_agent"
SOURCE_PATH = Path(__file__).with_name(f"{MODULE}.erl")
PREBUILT_PATH = Path(__file__).with_name(f"{MODULE}.beam")
HASH_ATTRIBUTE = "es_source_sha256"

__all__ = ["MODULE", "AgentLoadError", "AttachTimeouts", "LoadResult", "NewerAgentError", "NodeBusyError", "Prebuilt", "agent_source", "agent_version",
           "beam_attributes", "ensure_agent", "prebuilt"]


@dataclass(frozen=True)
class LoadResult:
    """How the agent got onto the node. ``how`` is ``already_loaded``, ``prebuilt``,
    ``target_compile``, ``peer_compile`` or ``local_erlc``; ``note`` says why the prebuilt beam
    was not used when it was not (stale, missing, refused by the target)."""

    node: str
    version: int
    how: str
    replaced: int | None = None
    note: str = ""


@dataclass(frozen=True)
class Prebuilt:
    """The shipped beam and whether it matches the shipped source: ``beam`` is None when it
    cannot be used, and ``why`` says why (and how to fix it)."""

    beam: bytes | None
    why: str = ""


def agent_source() -> bytes:
    return SOURCE_PATH.read_bytes()


def beam_attributes(beam: bytes) -> dict[str, object]:
    """The module attributes stored in a beam file's ``Attr`` chunk, read without Erlang
    (``[{Name, Value}]`` in External Term Format inside the IFF container). Raises
    AgentLoadError on a file that is not a beam."""
    from ..etf import decode

    if len(beam) < 12 or beam[:4] != b"FOR1" or beam[8:12] != b"BEAM":
        raise AgentLoadError("not a BEAM file (no FOR1/BEAM header)")
    off, end = 12, min(len(beam), 8 + int.from_bytes(beam[4:8], "big"))
    while off + 8 <= end:
        cid, size = beam[off:off + 4], int.from_bytes(beam[off + 4:off + 8], "big")
        if cid == b"Attr":
            try:
                attrs = decode(beam[off + 8:off + 8 + size])
            except Exception as exc:  # the etf decoder's own errors, whatever their class
                raise AgentLoadError(f"the beam's Attr chunk does not decode: {exc}") from exc
            out: dict[str, object] = {}
            for item in attrs if isinstance(attrs, list) else []:
                if isinstance(item, tuple) and len(item) == 2:
                    out[getattr(item[0], "name", str(item[0]))] = item[1]
            return out
        off += 8 + ((size + 3) & ~3)
    return {}


def prebuilt(source: bytes | None = None) -> Prebuilt:
    """The shipped prebuilt beam if it was built from ``source`` (default: the shipped .erl)."""
    src = agent_source() if source is None else source
    return _prebuilt(hashlib.sha256(src).hexdigest(), PREBUILT_PATH)


@functools.cache
def _prebuilt(digest: str, path: Path) -> Prebuilt:
    rebuild = "run scripts/build_agent.sh to rebuild it"
    if not path.exists():
        return Prebuilt(None, f"no prebuilt agent at {path}; {rebuild}")
    beam = path.read_bytes()
    try:
        built_from = beam_attributes(beam).get(HASH_ATTRIBUTE)
    except AgentLoadError as exc:
        return Prebuilt(None, f"{path} is unreadable ({exc}); {rebuild}")
    if isinstance(built_from, list) and len(built_from) == 1:  # `-attr(X)` is stored as [X]
        built_from = built_from[0]
    if built_from != digest.encode():
        was = built_from[:12].decode("ascii", "replace") if isinstance(built_from, bytes) else "unknown"
        return Prebuilt(None, f"the prebuilt agent is stale (built from source {was}…, the shipped "
                              f"source is {digest[:12]}…); {rebuild}")
    return Prebuilt(beam)


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


async def _loaded_version(conn: Connection, timeout: float = 5.0) -> int | None:
    exported = await conn.rpc("erlang", "function_exported", [Atom(MODULE), Atom("version"), 0], timeout=timeout)
    if exported is not True:
        return None
    v = await conn.rpc(MODULE, "version", [], timeout=timeout)
    return v if isinstance(v, int) else None


async def has_compiler(conn: Connection, timeout: float = 5.0) -> bool:
    where = await conn.rpc("code", "which", [Atom("compile")], timeout=timeout)
    return not (isinstance(where, Atom) and str(where) == "non_existing")


async def otp_release(conn: Connection, timeout: float = 5.0) -> int:
    rel = await conn.rpc("erlang", "system_info", [Atom("otp_release")], timeout=timeout)
    return int("".join(chr(c) for c in rel) if isinstance(rel, list) else rel)


async def compile_on(conn: Connection, source: bytes | None = None, timeout: float = 5.0) -> bytes:
    """Compile the agent source on ``conn``'s node (which needs ``compiler``); the beam.
    ``timeout``: each of the scan and parse rpcs (the compile itself gets at least 60 s)."""
    src = agent_source() if source is None else source
    try:
        scanned = await conn.rpc("erl_scan", "string", [Charlist(ord(c) for c in _COMPILE_EXPR)], timeout=timeout)
        if not (isinstance(scanned, tuple) and scanned[0] == Atom("ok")):
            raise AgentLoadError(f"cannot scan the compile expression on {conn.node_name}: {scanned!r}")
        parsed = await conn.rpc("erl_parse", "parse_exprs", [scanned[1]], timeout=timeout)
        if not (isinstance(parsed, tuple) and parsed[0] == Atom("ok")):
            raise AgentLoadError(f"cannot parse the compile expression on {conn.node_name}: {parsed!r}")
        value = await conn.rpc("erl_eval", "exprs", [parsed[1], [(Atom("Src"), src)]],
                               timeout=max(60.0, timeout))
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


async def load_beam(conn: Connection, beam: bytes, timeout: float = 5.0) -> None:
    """Soft-purge old code, then ``code:load_binary/3`` (no file written on the target)."""
    purged = await conn.rpc("code", "soft_purge", [Atom(MODULE)], timeout=timeout)
    if purged is not True:
        raise AgentLoadError(
            f"an agent running old code is still alive on {conn.node_name}: stop its capture "
            f"(or wait for it to end) before loading version {agent_version()}")
    res = await conn.rpc("code", "load_binary", [Atom(MODULE), Charlist(ord(c) for c in f"{MODULE}.erl"), beam],
                         timeout=timeout)
    if not (isinstance(res, tuple) and res[0] == Atom("module")):
        raise AgentLoadError(
            f"code:load_binary refused the agent on {conn.node_name}: {res!r} (a beam built by a "
            "newer OTP than the target's does not load; connect a node with a compiler and the "
            "target's OTP release or older)")


# what is on the node when a step of loading runs out of time
_LEFT_NOTHING = "nothing (this ElixirScope had loaded nothing there yet)"
_LEFT_LOADING = ("possibly the agent module: the load may still complete there; no agent process, no trace "
                 "flags")
_LEFT_LOADED = "the agent module, loaded but inert (no agent process, no trace flags)"


async def _load_prebuilt(conn: Connection, timeouts: AttachTimeouts) -> str:
    """Load the shipped beam; "" on success, else why it was not used."""
    pre = prebuilt()
    if pre.beam is None:
        return pre.why
    try:
        await attach_step(conn, "loading the agent (code:load_binary/3)", load_beam(conn, pre.beam, timeouts.rpc),
                          waited=timeouts.rpc, left=_LEFT_LOADING, timeouts=timeouts)
    except AgentLoadError as exc:
        if "still alive" in str(exc) or type(exc) is not AgentLoadError:
            raise  # compiling would be refused, or wait, for the same reason
        return f"the target refused the prebuilt agent ({exc})"
    return ""


async def ensure_agent(conn: Connection, *, peers: Sequence[Connection] = (), force_reload: bool = False,
                       use_prebuilt: bool = True, timeouts: AttachTimeouts = DEFAULT_TIMEOUTS) -> LoadResult:
    """Make sure the current agent version is loaded on ``conn``'s node: the prebuilt beam if
    it matches the source (``use_prebuilt=False`` skips it), else compiled (module docstring).

    Each rpc may wait ``timeouts.rpc`` seconds (a saturated node answers slowly); one that does
    not answer in time raises :class:`~.attach.NodeBusyError` saying how loaded the node is and
    what was left there. A newer agent already loaded (another ElixirScope) is not replaced
    unless ``force_reload``: :class:`~.attach.NewerAgentError`."""
    want = agent_version()
    t = timeouts.rpc

    def step(what: str, call, left: str = _LEFT_NOTHING):
        return attach_step(conn, what, call, waited=t, left=left, timeouts=timeouts)

    have = await step("the check for a loaded agent (erlang:function_exported/3)", _loaded_version(conn, t))
    if have == want and not force_reload:
        return LoadResult(conn.node_name, want, "already_loaded")
    if have is not None and have > want and not force_reload:
        raise NewerAgentError(conn.node_name, have, want)
    note = "not asked to use the prebuilt agent"
    if use_prebuilt:
        note = await _load_prebuilt(conn, timeouts)
        if not note:
            return await _checked(conn, want, "prebuilt", have, "", timeouts)
    if await step("the check for a compiler (code:which/1)", has_compiler(conn, t)):
        beam, how = await step("compiling the agent on the node", compile_on(conn, timeout=t)), "target_compile"
    else:
        beam, how = None, "local_erlc"
        target_rel = await step("reading the OTP release", otp_release(conn, t))
        for peer in peers:
            if peer is conn or peer.closed.is_set():
                continue
            try:
                if await has_compiler(peer, t) and await otp_release(peer, t) <= target_rel:
                    beam, how = await compile_on(peer, timeout=t), "peer_compile"
                    break
            except (TimeoutError, RpcError, RpcTimeout, AgentLoadError):
                continue
        if beam is None:
            beam = await asyncio.to_thread(local_beam)
    await step("loading the agent (code:load_binary/3)", load_beam(conn, beam, t), _LEFT_LOADING)
    return await _checked(conn, want, how, have, note, timeouts)


async def _checked(conn: Connection, want: int, how: str, have: int | None, note: str,
                   timeouts: AttachTimeouts = DEFAULT_TIMEOUTS) -> LoadResult:
    got = await attach_step(conn, "the check of the loaded agent's version", _loaded_version(conn, timeouts.rpc),
                            waited=timeouts.rpc, left=_LEFT_LOADED, timeouts=timeouts)
    if got != want:
        raise AgentLoadError(f"loaded the agent on {conn.node_name} but it reports version {got}, not {want}")
    return LoadResult(conn.node_name, want, how, replaced=have, note=note)
