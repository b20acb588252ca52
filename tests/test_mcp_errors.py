"""Every hint names a real exception class (a rename must not orphan its advice), and the
translation to tool errors keeps the domain message and adds the next step once."""

from __future__ import annotations

import importlib
import inspect

from mcp.server.mcpserver.exceptions import ToolError

from elixir_scope.mcp_server.errors import to_tool_error
from elixir_scope.mcp_server.hints import HINTS, describe

ERROR_MODULES = [
    "elixir_scope.instrument.dist.errors", "elixir_scope.instrument.dist.cookie", "elixir_scope.instrument.introspect",
    "elixir_scope.instrument.specs", "elixir_scope.instrument.capture", "elixir_scope.instrument.limits",
    "elixir_scope.store.errors", "elixir_scope.store.query.errors", "elixir_scope.knowledge.errors",
    "elixir_scope.knowledge.source.errors", "elixir_scope.mcp_server.config", "elixir_scope.mcp_server.state",
    "elixir_scope.mcp_server.targets", "elixir_scope.mcp_server.history_models", "builtins",
    "elixir_scope.instrument.replay_model", "elixir_scope.instrument.exunit", "elixir_scope.instrument.elixir_literal",
    "elixir_scope.mcp_server.replay_models", "elixir_scope.instrument.object_code",
    "elixir_scope.mcp_server.process_pick", "elixir_scope.instrument.introspect.live_call",
    "elixir_scope.instrument.literal_text", "elixir_scope.instrument.agent.attach",
]


def test_every_hint_names_a_real_exception_class():
    known = {}
    for name in ERROR_MODULES:
        mod = importlib.import_module(name)
        for attr, obj in vars(mod).items():
            if inspect.isclass(obj) and issubclass(obj, BaseException):
                known[attr] = obj
    assert not set(HINTS) - set(known), f"hints for classes that do not exist: {set(HINTS) - set(known)}"


def test_domain_errors_become_actionable_tool_errors():
    from elixir_scope.instrument.dist.errors import NodeDown
    from elixir_scope.store.errors import RecordingNotFound

    err = to_tool_error(RecordingNotFound("no recording 7 in /x.db"))
    assert isinstance(err, ToolError)
    assert str(err) == "no recording 7 in /x.db. Next step: list_recordings shows the ids; recording_summary shows a recording's processes"
    assert "elixir-scope recordings" in describe(RecordingNotFound("x"), audience="cli").hint
    down = describe(NodeDown("app@host", "closed"))
    assert down.known and down.message.startswith("connection to app@host is down")


def test_unanticipated_errors_still_say_what_happened():
    d = describe(ZeroDivisionError("division by zero"))
    assert not d.known and d.message == "ZeroDivisionError: division by zero" and d.hint is None


def test_a_hint_the_message_already_gives_is_not_repeated():
    from elixir_scope.knowledge.source.errors import SourcePathError

    d = describe(SourcePathError("no such folder /x: pass the folder holding the application's .ex files"))
    assert d.known and d.hint is None
