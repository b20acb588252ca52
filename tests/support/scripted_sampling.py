"""A scripted model on the MCP client's side: a ``sampling_callback`` for the SDK's ``Client``
that answers the server's ``sampling/createMessage`` requests from a script and records them.

    script = SamplingScript([asks("state_at", {...}), final("The digest crashed at [#41] ...")])
    async with Client(server, mode="legacy", sampling_callback=script,
                      sampling_capabilities=types.SamplingCapability(tools=types.SamplingToolsCapability())):
        ...
    script.requests[1].messages[-1]  # the tool_result the server sent back

A reply is a result model, an ``ErrorData`` (the user declined), or a callable taking the
request's params (to answer from what was asked). The last reply repeats.
"""

from __future__ import annotations

from mcp import types

__all__ = ["SamplingScript", "answer", "asks", "final"]


class SamplingScript:
    """Answers sampling requests in order (the last repeats); records every request."""

    def __init__(self, replies):
        if not replies:
            raise ValueError("the script needs at least one reply")
        self.replies = list(replies)
        self.requests: list[types.CreateMessageRequestParams] = []

    async def __call__(self, context, params: types.CreateMessageRequestParams):
        self.requests.append(params)
        reply = self.replies[min(len(self.requests), len(self.replies)) - 1]
        return reply(params) if callable(reply) else reply


def answer(text: str, model: str = "client-model") -> types.CreateMessageResult:
    """A plain text answer (a request without tools)."""
    return types.CreateMessageResult(role="assistant", content=types.TextContent(type="text", text=text),
                                     model=model, stop_reason="endTurn")


def asks(name: str, arguments: dict, model: str = "client-model") -> types.CreateMessageResultWithTools:
    """The model asks for one tool (a request with tools)."""
    return types.CreateMessageResultWithTools(
        role="assistant", model=model, stop_reason="toolUse",
        content=[types.TextContent(type="text", text="Checking."),
                 types.ToolUseContent(type="tool_use", id=f"call_{name}", name=name, input=arguments)])


def final(text: str, model: str = "client-model") -> types.CreateMessageResultWithTools:
    """A final answer to a request with tools."""
    return types.CreateMessageResultWithTools(role="assistant", model=model, stop_reason="endTurn",
                                              content=[types.TextContent(type="text", text=text)])
