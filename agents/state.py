"""The diagnosis graph's state.

The input is narrower than the full state: a caller gives a symptom and where to look; the
graph fills in knowledge, the plan, the recording, the findings and the report. Everything
here is checkpointed (so a long diagnosis can be inspected or resumed) — which is why the
node's cookie and live connections are not: they live in the run's context
(:mod:`~elixir_scope.agents.context`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .findings import Evidence, Finding, Hypothesis, KnowledgeRef, Plan, Report


@dataclass(kw_only=True)
class DiagnosisInput:
    """What the asker says: a symptom, and optionally where to look."""

    symptom: str
    node: str | None = None            # "app@host": a live node to survey and record (the trigger runs here)
    nodes: list[str] = field(default_factory=list)   # further nodes recorded with it (one recording)
    focus: list[str] = field(default_factory=list)   # modules or processes to look at first
    source_path: str | None = None     # Elixir sources to analyse
    include_tests: bool = False        # analyse test/ folders and .exs scripts too
    trigger: str | None = None         # Elixir expression run on the node to reproduce the problem
    seconds: float = 5.0               # how long to record (after the trigger, if any)
    recording_id: int | None = None    # diagnose an existing recording instead of capturing
    max_rounds: int = 3                # capture rounds at most (a live node only)
    time_budget: float = 180.0         # seconds for the whole diagnosis; no new round starts past it


@dataclass(kw_only=True)
class DiagnosisState(DiagnosisInput):
    """Everything the graph learns along the way."""

    knowledge: list[KnowledgeRef] = field(default_factory=list)
    signatures: list[str] = field(default_factory=list)
    candidates: list[dict] = field(default_factory=list)      # ranked source candidates
    tail_loops: list[str] = field(default_factory=list)       # "Mod.fun/arity" looping through tail calls: no returns traced
    loops_returned: list[str] = field(default_factory=list)   # …of which the next rounds trace the returns (rounds.unseen_loops)
    option_keys: list[list[str]] = field(default_factory=list)  # [target, key, kind]: literal keys read with Keyword.get/3, Map.get/3
    env_reads: list[dict] = field(default_factory=list)       # settings the sources read with a literal default (knowledge/source)
    source_summary: dict = field(default_factory=dict)
    survey: dict = field(default_factory=dict)
    plan: Plan | None = None
    capture: dict = field(default_factory=dict)               # stats and end reason
    findings: list[Finding] = field(default_factory=list)        # the evidence layer's facts, most relevant first
    hypotheses: list[Hypothesis] = field(default_factory=list)   # ranked explanations
    claims: list[str] = field(default_factory=list)              # what the symptom claims (quiet, never, slow …)
    chain: list[str] = field(default_factory=list)               # fact ids from the first cause to the winner's evidence
    gaps: list[str] = field(default_factory=list)
    observations: list[Evidence] = field(default_factory=list)  # leads from the recording (agents/observations.py)
    lead: Finding | None = None                                  # the strongest lead, the suspect when nothing else is
    recorded_nodes: list[str] = field(default_factory=list)      # every node of the recording (when several)
    unrecorded: list[list[str]] = field(default_factory=list)    # [node, caller]: calls into nodes not recorded, unanswered
    report: Report | None = None
    timings_ms: dict[str, float] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    round: int = 1                                               # the capture round under way
    rounds: list[dict] = field(default_factory=list)             # one summary per finished round (RoundRecord)
    needs: list[str] = field(default_factory=list)               # what the next plan must record (knowledge `record` needs)
    best_round: dict = field(default_factory=dict)               # the round whose evidence was strongest so far
    refines_earlier: bool = False                                # this round's culprit is best_round's or a deeper function of it
    trigger_runs: list[dict] = field(default_factory=list)       # per recorded round: did the trigger run, how it failed
    another_round: bool = False                                  # judge's decision: plan and capture again
    not_recorded: str = ""                                       # why the live node could not be surveyed or recorded
    started_at: float = 0.0                                      # wall clock (time.time) when the diagnosis started
