"""The model behind the diagnosis, as a small interface with two implementations.

The diagnosis talks to a model through ``ModelBackend.complete(ModelRequest) -> ModelReply``
and nothing else: a conversation of user/assistant ``Turn``s made of text, ``tool_use`` and
``tool_result`` blocks, an optional list of tools, a token cap. Two backends implement it:

- ``agents.anthropic_backend.AnthropicBackend`` — the Anthropic Messages API over HTTP
  (``ANTHROPIC_API_KEY``; ``base_url`` for a proxy or the scripted test server);
- ``mcp_server.sampling.SamplingBackend`` — the MCP client's own model, through
  ``sampling/createMessage`` when ``diagnose`` runs as an MCP tool (tools over sampling when
  the client declares ``sampling.tools``, else ``supports_tools`` is False and the caller puts
  the evidence in the prompt).

Both answer with the same typed reply, report the tokens used (estimated when the transport
has no usage figures) and raise ``ModelError`` — never a transport's own exception — when
no usable answer came back, so budgets and the fallback to the templated narrative work the
same over either.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, Union, runtime_checkable

__all__ = ["TextBlock", "ToolUse", "ToolResult", "Block", "Turn", "ToolSpec", "ModelRequest", "ModelReply",
           "ModelError", "ModelBackend", "estimate_tokens"]


@dataclass(frozen=True)
class TextBlock:
    text: str


@dataclass(frozen=True)
class ToolUse:
    """The model asks for a tool: ``name`` with ``input``; answer with a ``ToolResult`` of ``id``."""

    id: str
    name: str
    input: dict[str, Any]


@dataclass(frozen=True)
class ToolResult:
    tool_use_id: str
    content: str
    is_error: bool = False


Block = Union[TextBlock, ToolUse, ToolResult]


@dataclass(frozen=True)
class Turn:
    role: Literal["user", "assistant"]
    blocks: tuple[Block, ...]

    @classmethod
    def user(cls, text: str) -> "Turn":
        return cls("user", (TextBlock(text),))


@dataclass(frozen=True)
class ToolSpec:
    """A tool the model may call: JSON-schema ``input_schema`` (an object)."""

    name: str
    description: str
    input_schema: dict[str, Any]

    @classmethod
    def from_definition(cls, d: dict[str, Any]) -> "ToolSpec":
        """From the Anthropic-style dict (``name``, ``description``, ``input_schema``)."""
        return cls(d["name"], d.get("description", ""), d["input_schema"])


@dataclass(frozen=True)
class ModelRequest:
    system: str
    turns: tuple[Turn, ...]
    max_tokens: int
    tools: tuple[ToolSpec, ...] = ()  # empty: the model must answer without tools


@dataclass(frozen=True)
class ModelReply:
    blocks: tuple[Block, ...]
    stop_reason: str  # end_turn | tool_use | max_tokens | stop_sequence | refusal | ...
    model: str
    input_tokens: int
    output_tokens: int
    tokens_estimated: bool = False  # True when the transport reports no usage (sampling)

    @property
    def text(self) -> str:
        return "".join(b.text for b in self.blocks if isinstance(b, TextBlock)).strip()

    @property
    def tool_uses(self) -> list[ToolUse]:
        return [b for b in self.blocks if isinstance(b, ToolUse)]

    @property
    def tokens(self) -> int:
        return self.input_tokens + self.output_tokens


class ModelError(Exception):
    """The backend got no usable answer (network, authentication, refusal, malformed reply).
    ``kind`` is a short name for reports (e.g. ``AuthenticationError``, ``sampling refused``)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(f"{kind}: {message}")
        self.kind = kind


@runtime_checkable
class ModelBackend(Protocol):
    """Where the model's answers come from."""

    @property
    def name(self) -> str: ...  # "anthropic" | "mcp-sampling"

    @property
    def supports_tools(self) -> bool: ...

    async def complete(self, request: ModelRequest) -> ModelReply: ...


def estimate_tokens(request: ModelRequest, reply_blocks: tuple[Block, ...] = ()) -> tuple[int, int]:
    """(input, output) tokens at ~4 characters a token, for transports that report none."""
    def size(blocks: tuple[Block, ...]) -> int:
        n = 0
        for b in blocks:
            if isinstance(b, TextBlock):
                n += len(b.text)
            elif isinstance(b, ToolUse):
                n += len(b.name) + len(str(b.input))
            else:
                n += len(b.content)
        return n

    chars_in = len(request.system) + sum(size(t.blocks) for t in request.turns)
    chars_in += sum(len(t.name) + len(t.description) + len(str(t.input_schema)) for t in request.tools)
    return max(1, chars_in // 4), max(1, size(reply_blocks) // 4)


@dataclass
class LoopRun:
    """What a tool loop produced: the final text (None when it stopped without one)."""

    text: str | None
    model: str | None
    steps: int
    tool_calls: list[tuple[str, dict]] = field(default_factory=list)
    tokens_used: int = 0
    stopped_by: str = "end_turn"  # end_turn | max_steps | token_budget | error: ...
