"""Knowledge tools: the OTP-pattern knowledge base, and static analysis of Elixir sources.

Both run locally (no node, no network). The knowledge base's vector index and embedding
model load on the first search — seconds, once per server — never at start-up, which is
why their imports live inside the tool bodies.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import BaseModel, Field

from ..config import ServerConfig
from ..errors import tool_errors
from ..state import app_state
from .annotations import READ_ONLY_LOCAL
from .common import in_thread

FIX_CHARS = 900


class KnowledgeHit(BaseModel):
    id: str
    title: str
    category: str
    score: float
    summary: str
    symptoms: list[str]
    fix: str
    why: list[str] = Field(description="Why it ranked here (closest text, keywords, matched signatures).")


class KnowledgeHits(BaseModel):
    query: str | None
    signatures: list[str]
    hits: list[KnowledgeHit]


class SourceFlag(BaseModel):
    kind: str
    severity: str
    message: str
    where: list[str]


class SourceCandidate(BaseModel):
    spec: str = Field(description="A trace spec ready for start_capture.")
    score: float
    reasons: list[str]


class SourceSummary(BaseModel):
    root: str
    files: int
    lines: int
    modules: int
    processes: list[str] = Field(description="Modules with an OTP role (GenServer, Supervisor, ...).")
    flags: list[SourceFlag]
    candidates: list[SourceCandidate] = Field(description="What to trace first for the symptom, best first.")
    parse_errors: list[str]


def _retriever(ctx: Context) -> Any:
    state = app_state(ctx)
    if "retriever" not in state.cache:
        from elixir_scope.knowledge.retrieve import Retriever

        state.cache["retriever"] = Retriever.open(state.config.knowledge_dir)
    return state.cache["retriever"]


def register(server: MCPServer, config: ServerConfig) -> None:
    @server.tool(annotations=READ_ONLY_LOCAL)
    @tool_errors
    async def knowledge_search(
        ctx: Context,
        text: Annotated[str | None, Field(description="The symptom in words, e.g. 'callers time out after five seconds'.")] = None,
        signatures: Annotated[list[str], Field(description="Observed trace signature tokens, e.g. ['call:cycle', 'exception:timeout:GenServer.call'].")] = [],
        k: Annotated[int, Field(ge=1, le=20, description="How many entries.")] = 5,
    ) -> KnowledgeHits:
        """Search the OTP failure-pattern knowledge base (GenServer call cycles, mailbox growth,
        lost updates, crash loops...) by symptom text and/or observed signatures; each hit has
        the pattern, its symptoms and the fix. The first search loads the index (a few seconds)."""
        def run() -> KnowledgeHits:
            hits = _retriever(ctx).search(text, list(signatures), k=k)
            return KnowledgeHits(query=text, signatures=list(signatures), hits=[KnowledgeHit(
                id=h.entry.id, title=h.entry.title, category=h.entry.category, score=round(h.score, 4),
                summary=h.entry.summary, symptoms=list(h.entry.symptoms),
                fix=h.entry.fix[:FIX_CHARS] + ("…" if len(h.entry.fix) > FIX_CHARS else ""),
                why=list(h.why)) for h in hits])
        return await in_thread(run)

    @server.tool(annotations=READ_ONLY_LOCAL)
    @tool_errors
    async def analyze_source(
        ctx: Context,
        path: Annotated[str, Field(description="Folder with the Elixir sources on the server's machine (an app, an umbrella root, or lib/).")],
        symptom: Annotated[str | None, Field(description="Describe the problem to get ranked trace specs, e.g. 'checkout times out'.")] = None,
        focus: Annotated[list[str], Field(description="Modules or functions you already suspect.")] = [],
        limit: Annotated[int, Field(ge=1, le=50, description="Flags and candidates to return.")] = 10,
        include_tests: Annotated[bool, Field(description="Also analyze test/ folders and .exs scripts (by default only the application's .ex files).")] = False,
    ) -> SourceSummary:
        """Static analysis of an Elixir code base: OTP roles, risk flags (call cycles, unbounded
        mailboxes, ETS races...), and — given a symptom — which functions to trace first."""
        from elixir_scope.knowledge.source import analyze_tree, rank_candidates

        root = Path(path).expanduser()
        if not root.is_dir():
            raise ToolError(f"{path} is not a folder on the server's machine: pass the folder holding the .ex files")

        def run() -> SourceSummary:
            result = analyze_tree(root, include_tests=include_tests)
            cands = rank_candidates(result, symptom, limit=limit, focus=list(focus)) if symptom else []
            return SourceSummary(
                root=str(root), files=result.files, lines=result.lines, modules=len(result.modules),
                processes=[f"{m.name} ({', '.join(str(getattr(r, 'value', r)) for r in m.roles)})"
                           for m in result.modules if m.roles][:100],
                flags=[SourceFlag(kind=str(getattr(f.kind, "value", f.kind)), severity=f.severity, message=f.message,
                                  where=[str(loc) for loc in f.locations[:3]]) for f in result.flags[:limit]],
                candidates=[SourceCandidate(spec=c.spec, score=round(c.score, 3), reasons=list(c.reasons))
                            for c in cands],
                parse_errors=[f"{e.file}:{e.line}: {e.message}" for e in result.errors[:10]],
            )
        return await in_thread(run)
