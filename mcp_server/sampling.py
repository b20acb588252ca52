"""The MCP client's own model as the diagnosis model (``sampling/createMessage``).

When ``diagnose`` runs as an MCP tool, the server has no API key of its own, and the client
declared the ``sampling`` capability, the narrator asks the *client's* model through
``ctx.session.create_message`` — the user's own model and account, approved in the client.
``SamplingBackend`` implements ``agents.model_api.ModelBackend`` over it:

- with ``sampling.tools`` declared, the evidence tools travel as MCP ``Tool``s and the model's
  ``tool_use`` / the server's ``tool_result`` blocks as sampling content, so the same tool loop
  runs as over HTTP;
- without it, ``supports_tools`` is False: the narrator puts the evidence in the prompt and
  asks for a JSON answer (``agents.llm``).

Sampling reports no token usage: tokens are estimated (~4 characters a token) so the same
budgets apply. A refused or failed sampling request (the user declined, the client has no
model, the connection has no back-channel) is a ``ModelError``: the templated narrative
stands and the report says why. A client that declares sampling on a transport with no
back-channel for server-initiated requests (``session.can_send_request`` False, e.g. the
2026-07-28 protocol in process) gets no model: the offline narrative, as without sampling.
The SDK marks sampling deprecated as of protocol 2026-07-28 (SEP-2577) and warns on each
request; it still works on every session that negotiates an earlier protocol.
"""

from __future__ import annotations

from typing import Any

from mcp import types

from elixir_scope.agents.model_api import (
    Block,
    ModelError,
    ModelReply,
    ModelRequest,
    TextBlock,
    ToolUse,
    estimate_tokens,
)

__all__ = ["SamplingBackend", "sampling_backend", "client_offers_sampling"]

_STOP = {"endTurn": "end_turn", "toolUse": "tool_use", "maxTokens": "max_tokens", "stopSequence": "stop_sequence"}


def _has(session: Any, capability: types.ClientCapabilities) -> bool:
    try:
        return bool(session.check_client_capability(capability))
    except Exception:  # a session that cannot tell offers nothing
        return False


def client_offers_sampling(session: Any) -> bool:
    return _has(session, types.ClientCapabilities(sampling=types.SamplingCapability()))


def _content_out(b: Block) -> Any:
    if isinstance(b, TextBlock):
        return types.TextContent(type="text", text=b.text)
    if isinstance(b, ToolUse):
        return types.ToolUseContent(type="tool_use", id=b.id, name=b.name, input=b.input)
    return types.ToolResultContent(type="tool_result", tool_use_id=b.tool_use_id,
                                   content=[types.TextContent(type="text", text=b.content)], is_error=b.is_error)


def _content_in(c: Any) -> Block | None:
    if isinstance(c, types.TextContent):
        return TextBlock(c.text)
    if isinstance(c, types.ToolUseContent):
        return ToolUse(c.id, c.name, dict(c.input))
    return None  # images / audio: nothing the narrator can use


class SamplingBackend:
    """The client's model through one MCP session (``ctx.session``)."""

    name = "mcp-sampling"

    def __init__(self, session: Any, *, related_request_id: Any = None, model_hint: str | None = None) -> None:
        self.session = session
        self.related_request_id = related_request_id
        self.model_hint = model_hint
        self.supports_tools = _has(session, types.ClientCapabilities(
            sampling=types.SamplingCapability(tools=types.SamplingToolsCapability())))

    async def complete(self, request: ModelRequest) -> ModelReply:
        if request.tools and not self.supports_tools:
            raise ModelError("sampling without tools", "the client did not declare sampling.tools")
        messages = []
        for turn in request.turns:
            content = [_content_out(b) for b in turn.blocks]
            plain = len(content) == 1 and isinstance(content[0], types.TextContent)
            messages.append(types.SamplingMessage(role=turn.role, content=content[0] if plain else content))
        kwargs: dict[str, Any] = {}
        if request.tools:
            kwargs["tools"] = [types.Tool(name=t.name, description=t.description, input_schema=t.input_schema)
                               for t in request.tools]
        if self.model_hint:
            kwargs["model_preferences"] = types.ModelPreferences(hints=[types.ModelHint(name=self.model_hint)])
        try:
            result = await self.session.create_message(
                messages, max_tokens=request.max_tokens, system_prompt=request.system,
                related_request_id=self.related_request_id, **kwargs)
        except Exception as exc:  # MCPError (declined, unsupported), NoBackChannelError, a closed session
            raise ModelError("sampling failed", f"{type(exc).__name__}: {exc}") from exc
        content = result.content if isinstance(result.content, list) else [result.content]
        blocks = tuple(b for b in (_content_in(c) for c in content) if b is not None)
        stop = _STOP.get(result.stop_reason or "endTurn", result.stop_reason or "end_turn")
        tokens_in, tokens_out = estimate_tokens(request, blocks)
        return ModelReply(blocks, stop, result.model, tokens_in, tokens_out, tokens_estimated=True)


def sampling_backend(ctx: Any) -> SamplingBackend | None:
    """A backend over the calling client's model, when it offers sampling (else None)."""
    try:
        session = ctx.session
    except Exception:  # no request context (called outside a request)
        return None
    if session is None or not client_offers_sampling(session):
        return None
    if not getattr(session, "can_send_request", True):
        # declared, but this request's transport has no back-channel for server-initiated
        # requests (the 2026-07-28 protocol in-process, stateless HTTP): nothing can reach it
        return None
    return SamplingBackend(session, related_request_id=getattr(ctx, "request_id", None))

