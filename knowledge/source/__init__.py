"""Static analysis of Elixir sources with tree-sitter-elixir: complexity, OTP roles, the
interaction graph between processes, risk flags, and ranked instrumentation candidates.

    from elixir_scope.knowledge.source import analyze_tree, rank_candidates
    result = analyze_tree("path/to/umbrella")
    for flag in result.flags: print(flag.kind, flag.message)
    for c in rank_candidates(result, "checkout times out"): print(c.spec, c.reasons)

Never talks to a live node. The counting rules are in complexity.py and
docs/source-analysis.md.
"""

from .analyze import analyze_file, analyze_source, analyze_tree
from .candidates import SymptomClass, classify_symptom, rank_candidates
from .errors import SourceAnalysisError, SourcePathError, SymptomError
from .model import (
    CallEdge,
    Candidate,
    EtsAccess,
    Flag,
    FlagKind,
    FunctionInfo,
    InteractionGraph,
    Location,
    ModuleInfo,
    ParseProblem,
    RoleKind,
    SourceAnalysis,
    SupervisorInfo,
    TopicUse,
)
from .report import render_markdown

__all__ = [
    "CallEdge",
    "Candidate",
    "EtsAccess",
    "Flag",
    "FlagKind",
    "FunctionInfo",
    "InteractionGraph",
    "Location",
    "ModuleInfo",
    "ParseProblem",
    "RoleKind",
    "SourceAnalysis",
    "SourceAnalysisError",
    "SourcePathError",
    "SupervisorInfo",
    "SymptomClass",
    "SymptomError",
    "TopicUse",
    "analyze_file",
    "analyze_source",
    "analyze_tree",
    "classify_symptom",
    "rank_candidates",
    "render_markdown",
]
