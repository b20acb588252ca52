"""Calling the agent's live-inspection entry point, ``elixir_scope_agent:live/2``.

Live tools look at a running node without a recording: a process's state or mailbox, ETS
tables, logs, scheduler and allocator figures, ports, application environment. They run on
the node inside the agent (loaded on first use, like a capture's), because that is where
terms can be redacted and cut *before* they leave it.

Names typed by people and models travel as binaries; the agent resolves them with
``binary_to_existing_atom`` (an unknown name is a clear "no such ..." error, never a new atom
on the target). Every term comes back as ``{EncodedBinary, Flags}`` (bit 0: truncated, bit 1:
redacted) and is decoded here into a ``Shown`` value.

Errors form one hierarchy below ``DistError``::

    LiveError
    ├── NoSuchTable          no ETS table of that name or id
    ├── PrivateTable         the table is private to its owner: nothing else may read it
    ├── NoSuchApplication    no loaded application of that name
    ├── NotSysProcess        the process does not answer sys calls (not an OTP behaviour)
    ├── LiveTimeout          the process did not answer in time (busy or stuck)
    ├── NoLogRing            read_logs before the log ring was installed (or after it stopped)
    ├── NoSuchRegistry       a via-name's Registry is not running on the node
    ├── NoSuchKey            no process is registered under that key in the Registry
    ├── AmbiguousKey         several processes hold the key (a duplicate Registry)
    ├── NoSuchPgScope        no :pg scope of that name runs on the node
    └── NoSuchPgGroup        the :pg scope has no group of that name

``ProcessNotFound`` (from ``processes``) is raised for an unknown process.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from ..agent import ensure_agent
from ..agent.loader import MODULE
from ..dist import Connection
from ..dist.errors import DistError
from ..etf import Atom, Pid, decode
from ..limits import DEFAULT_REDACT_KEYS
from .processes import ProcessNotFound
from .via import GlobalName, ViaName, name_text, parse_process_name, via_request

__all__ = [
    "LiveError", "NoSuchTable", "PrivateTable", "NoSuchApplication", "NotSysProcess", "LiveTimeout",
    "NoLogRing", "NoSuchRegistry", "NoSuchKey", "AmbiguousKey", "NoSuchPgScope", "NoSuchPgGroup", "LiveOptions", "Shown", "live_call", "shown", "process_ref", "table_ref",
    "reply_field", "atom_name",
]

PID_TEXT = re.compile(r"(?:#PID)?<(\d+)\.(\d+)\.(\d+)>\Z")
REF_TEXT = re.compile(r"#Ref(?:erence)?<([\d.]+)>\Z")


class LiveError(DistError):
    """A live inspection the node refused; the message says what and what to do."""


class NoSuchTable(LiveError, LookupError):
    pass


class PrivateTable(LiveError):
    pass


class NoSuchApplication(LiveError, LookupError):
    pass


class NotSysProcess(LiveError):
    pass


class LiveTimeout(LiveError, TimeoutError):
    pass


class NoLogRing(LiveError):
    pass


class NoSuchRegistry(LiveError, LookupError):
    pass


class NoSuchKey(LiveError, LookupError):
    pass


class AmbiguousKey(LiveError):
    pass


class NoSuchPgScope(LiveError, LookupError):
    pass


class NoSuchPgGroup(LiveError, LookupError):
    pass


@dataclass(frozen=True)
class LiveOptions:
    """What every live call may send back: at most ``max_bytes`` encoded bytes per term
    (bigger terms are cut on the node with ``'$truncated'`` markers), with values under
    ``redact_keys`` (case-insensitive, a key containing one matches) replaced by
    ``'[REDACTED]'`` on the node."""

    max_bytes: int = 4096
    redact_keys: tuple[str, ...] = DEFAULT_REDACT_KEYS
    redact_patterns: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if not 64 <= self.max_bytes <= 1_000_000:
            raise ValueError(f"max_bytes must be between 64 and 1000000, got {self.max_bytes}")

    def agent_opts(self) -> dict:
        return {Atom("max_bytes"): self.max_bytes,
                Atom("redact_keys"): [k.encode() for k in self.redact_keys],
                Atom("redact_patterns"): [p.encode() for p in self.redact_patterns]}


@dataclass(frozen=True)
class Shown:
    """A term as the node let it out: possibly cut (``truncated``) or with values redacted."""

    term: Any
    truncated: bool = False
    redacted: bool = False


def shown(raw: Any) -> Shown:
    """``{EncodedBinary, Flags}`` from the agent's payload/3 -> ``Shown``."""
    if isinstance(raw, tuple) and len(raw) == 2 and isinstance(raw[0], bytes) and isinstance(raw[1], int):
        return Shown(decode(raw[0]), bool(raw[1] & 1), bool(raw[1] & 2))
    raise LiveError(f"the agent sent a term in an unexpected form: {str(raw)[:80]}")


def reply_field(reply: dict, key: str) -> Any:
    """``key`` of a map the agent replied with (its keys are atoms); None when absent."""
    return reply.get(Atom(key))


def atom_name(v: Any) -> str | None:
    """An atom's name; None for ``undefined`` and anything that is not an atom."""
    return v.name if isinstance(v, Atom) and v.name != "undefined" else None


def _elixir_name(text: str) -> str:
    name = text.strip().removeprefix(":")
    if name[:1].isupper() and not name.startswith("Elixir."):
        name = "Elixir." + name
    return name


def process_ref(process: str | Pid | ViaName | GlobalName) -> Any:
    """A process as the agent takes it: a pid, ``<0.1.2>`` text, a registered name as a
    binary (``SampleApp.Cart`` -> ``Elixir.SampleApp.Cart``, ``:logger`` -> ``logger``), or a
    via / global name (``{:via, Registry, {MyApp.Registry, "user-42"}}``, ``{:global, :x}``,
    or a ``ViaName`` / ``GlobalName``; see ``via``)."""
    if isinstance(process, Pid):
        return process
    if isinstance(process, (ViaName, GlobalName)):
        return via_request(process)
    text = process.strip()
    if not text:
        raise ValueError("name a process: a registered name (SampleApp.Cart, :logger), a pid (<0.123.0>) "
                         'or a via-name ({:via, Registry, {MyApp.Registry, "user-42"}})')
    m = PID_TEXT.match(text)
    if m:
        return f"<{m.group(1)}.{m.group(2)}.{m.group(3)}>".encode()
    named = parse_process_name(text)
    if named is not None:
        return via_request(named)
    return _elixir_name(text).encode()


def _named_in(request: Any) -> str:
    """The via / global name a request refers to, as text ('' if none): for error messages."""
    for x in request if isinstance(request, tuple) else ():
        if isinstance(x, tuple) and x and x[0] in (Atom("via"), Atom("global")):
            term = _unname(x[2] if x[0] == Atom("via") else x[1])
            if x[0] == Atom("via"):
                return name_text(ViaName(x[1].decode("utf-8", "replace"), term))
            return name_text(GlobalName(term))
    return ""


def _unname(term: Any) -> Any:
    """A term sent with ``names.literal_term`` back as it was typed."""
    if isinstance(term, tuple) and len(term) == 2 and term[0] == Atom("$es_name"):
        return Atom(term[1].decode("utf-8", "replace"))
    if isinstance(term, tuple):
        return tuple(_unname(x) for x in term)
    if isinstance(term, list):
        return [_unname(x) for x in term]
    if isinstance(term, dict):
        return {_unname(k): _unname(v) for k, v in term.items()}
    return term


def table_ref(table: str) -> bytes:
    """An ETS table as the agent takes it: a name (``:ac_tab``, ``MyApp.Cache``) or the
    ``#Ref<...>`` / ``#Reference<...>`` an unnamed table is listed under."""
    text = table.strip()
    if not text:
        raise ValueError("name a table: its name (ac_tab, MyApp.Cache) or its id (#Reference<0.1.2.3>) from ets_tables")
    m = REF_TEXT.match(text)
    if m:
        return f"#Ref<{m.group(1)}>".encode()
    return _elixir_name(text).encode()


def _elixir_text(name: str) -> str:
    return name.removeprefix("Elixir.")


def _show(x: Any) -> str:
    if isinstance(x, bytes):
        return x.decode("utf-8", "replace")
    if isinstance(x, Atom):
        return x.name
    return str(x)


def _raise(reason: Any, node: str, named: str = "") -> None:
    tag = reason[0].name if isinstance(reason, tuple) and reason and isinstance(reason[0], Atom) else (
        reason.name if isinstance(reason, Atom) else None)
    arg = _show(reason[1]) if isinstance(reason, tuple) and len(reason) > 1 else ""
    if tag == "no_such_process":
        raise ProcessNotFound(arg, node)
    if tag == "no_such_global":
        raise ProcessNotFound(f"registered with :global as {named}", node)
    if tag == "no_such_registry":
        raise NoSuchRegistry(f"no Registry {_elixir_text(arg)} runs on {node} (in {named}): a Registry is named by "
                             "the name: option of Registry.start_link; list_processes shows the via-names "
                             "processes hold")
    if tag == "no_such_key":
        raise NoSuchKey(f"no process is registered under {named} on {node}: check the key's type and "
                        'quotes ("user-42" is a string, :user_42 an atom); find_processes shows the '
                        "via-names processes hold")
    if tag == "ambiguous_key":
        pids = ", ".join(_show(p) for p in reason[1]) if isinstance(reason[1], list) else arg
        raise AmbiguousKey(f"several processes are registered under {named} on {node} (a duplicate "
                           f"Registry): {pids}; name one of them by its pid")
    if tag == "no_such_pg_scope":
        raise NoSuchPgScope(f"no :pg scope {_elixir_text(arg)} runs on {node}: a scope is the name given to "
                            ":pg.start_link/1 (the default scope is pg); pg_groups with no scope lists the running ones")
    if tag == "no_such_pg_group":
        raise NoSuchPgGroup(f"in :pg scope {_elixir_text(arg)} on {node}: check the group's type and quotes "
                            '("lobby" is a string, :lobby an atom); pg_groups with the scope alone lists its groups')
    if tag == "no_such_table":
        raise NoSuchTable(f"no ETS table {arg} on {node}: list them with ets_tables")
    if tag == "private_table":
        raise PrivateTable(f"the table is private to its owner {arg}: only that process may read it "
                           "(look at the owner's state with get_state instead)")
    if tag == "no_such_application":
        raise NoSuchApplication(f"no loaded application {arg} on {node}: list them with app_env and no application")
    if tag == "not_sys_process":
        raise NotSysProcess(f"process {arg} does not answer sys:get_state (it is not a GenServer, "
                            "gen_statem or other OTP behaviour): use process_details or peek_mailbox")
    if tag == "timeout":
        raise LiveTimeout(f"the process did not answer sys:get_state within {arg} ms: it is busy or "
                          "stuck (process_details shows its current function); retry with a larger timeout_ms")
    if tag in ("no_log_ring", "log_ring_timeout"):
        raise NoLogRing(f"no log ring runs on {node}: read_logs installs it (logs are kept from then on)")
    raise LiveError(f"the live inspection failed on {node}: {_show(reason)[:300]}")


async def live_call(conn: Connection, request: Any, options: LiveOptions | None = None,
                    *, timeout: float = 15.0) -> Any:
    """``elixir_scope_agent:live(Request, Opts)`` on ``conn``'s node (loading the agent if
    needed); the ``{ok, Result}`` value, or the matching ``LiveError``."""
    await ensure_agent(conn)
    opts = (options or LiveOptions()).agent_opts()
    reply = await conn.rpc(MODULE, "live", [request, opts], timeout=timeout)
    if isinstance(reply, tuple) and len(reply) == 2 and reply[0] == Atom("ok"):
        return reply[1]
    if isinstance(reply, tuple) and len(reply) == 2 and reply[0] == Atom("error"):
        _raise(reply[1], conn.node_name, _named_in(request))
    raise LiveError(f"unexpected reply from the agent on {conn.node_name}: {str(reply)[:200]}")
