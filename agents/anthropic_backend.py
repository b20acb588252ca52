"""The Anthropic Messages API as a ``ModelBackend`` (plain SDK calls, no LangChain wrapper).

Typed blocks become the API's content dicts on the way out and come back from the SDK's
``Message``; every SDK error (connection, authentication, rate limit, bad request) becomes a
``ModelError`` named after the SDK's class, so the caller's fallback does not depend on the
SDK. ``anthropic`` is imported on first use (about 2 s), never at start-up.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .model_api import Block, ModelError, ModelReply, ModelRequest, TextBlock, ToolUse

if TYPE_CHECKING:
    from .llm import LLMConfig

__all__ = ["AnthropicBackend"]


def _block_out(b: Block) -> dict[str, Any]:
    if isinstance(b, TextBlock):
        return {"type": "text", "text": b.text}
    if isinstance(b, ToolUse):
        return {"type": "tool_use", "id": b.id, "name": b.name, "input": b.input}
    return {"type": "tool_result", "tool_use_id": b.tool_use_id, "content": b.content, "is_error": b.is_error}


class AnthropicBackend:
    """``LLMConfig``'s key, model, base URL and (tests) HTTP client."""

    name = "anthropic"
    supports_tools = True

    def __init__(self, config: "LLMConfig") -> None:
        self.config = config
        self._client: Any = None

    def _sdk(self) -> Any:
        if self._client is None:
            import anthropic

            kwargs: dict[str, Any] = {"api_key": self.config.api_key, "max_retries": 0}
            if self.config.base_url:
                kwargs["base_url"] = self.config.base_url
            if self.config.http_client is not None:
                kwargs["http_client"] = self.config.http_client
            self._client = anthropic.AsyncAnthropic(**kwargs)
        return self._client

    async def complete(self, request: ModelRequest) -> ModelReply:
        import anthropic

        client = self._sdk()
        kwargs: dict[str, Any] = {}
        if request.tools:
            kwargs["tools"] = [{"name": t.name, "description": t.description, "input_schema": t.input_schema}
                               for t in request.tools]
        try:
            reply = await client.messages.create(
                model=self.config.model, max_tokens=request.max_tokens, system=request.system,
                messages=[{"role": t.role, "content": [_block_out(b) for b in t.blocks]} for t in request.turns],
                **kwargs)
        except anthropic.APIError as exc:
            raise ModelError(type(exc).__name__, str(exc)) from exc
        blocks: list[Block] = []
        for b in reply.content:
            if b.type == "text":
                blocks.append(TextBlock(b.text))
            elif b.type == "tool_use":
                blocks.append(ToolUse(b.id, b.name, dict(b.input)))
        return ModelReply(tuple(blocks), reply.stop_reason or "end_turn", reply.model,
                          reply.usage.input_tokens, reply.usage.output_tokens)

