"""The diagnosis graph's state.

The input is narrower than the full state: a caller gives a symptom and where to look; the
graph fills in knowledge, the plan, the recording, the findings and the report. Everything
here is checkpointed (so a long diagnosis can be inspected or resumed) — which is why the
node's cookie and live connections are not: they live in the run's context
(:mod:`~elixir_scope.agents.context`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .findings import Finding, KnowledgeRef, Plan, Report


@dataclass(kw_only=True)
class DiagnosisInput:
    """What the asker says: a symptom, and optionally where to look."""

    symptom: str
    node: str | None = None            # "app@host": a live node to survey and record
    focus: list[str] = field(default_factory=list)   # modules or processes to look at first
    source_path: str | None = None     # Elixir sources to analyse
    include_tests: bool = False        # analyse test/ folders and .exs scripts too
    trigger: str | None = None         # Elixir expression run on the node to reproduce the problem
    seconds: float = 5.0               # how long to record (after the trigger, if any)
    recording_id: int | None = None    # diagnose an existing recording instead of capturing


@dataclass(kw_only=True)
class DiagnosisState(DiagnosisInput):
    """Everything the graph learns along the way."""

    knowledge: list[KnowledgeRef] = field(default_factory=list)
    signatures: list[str] = field(default_factory=list)
    candidates: list[dict] = field(default_factory=list)      # ranked source candidates
    source_summary: dict = field(default_factory=dict)
    survey: dict = field(default_factory=dict)
    plan: Plan | None = None
    capture: dict = field(default_factory=dict)               # stats and end reason
    findings: list[Finding] = field(default_factory=list)
    gaps: list[str] = field(default_factory=list)
    report: Report | None = None
    timings_ms: dict[str, float] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
