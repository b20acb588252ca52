"""What a diagnosis finds, as typed values: evidence pointing at recorded events, findings
made by detectors, and the report they add up to.

The JSON form of :class:`Report` is a stable, documented schema for automation
(``docs/diagnosis.md``); its version is :data:`REPORT_SCHEMA`. Every evidence item names an
event id of the recording, so a reader can check each claim against the store.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, field_validator

REPORT_SCHEMA = "elixir-scope/diagnosis-report@1"

NO_FUNCTION = "no function identified"


class Location(BaseModel):
    """A place in the sources (when a source path was given)."""

    file: str
    line: int
    function: str | None = None


class Culprit(BaseModel):
    """Who is at fault: module, function (``name/arity``) and the offending detail — a value,
    topic or message, written as an Elixir literal. A culprit may be a module alone (a process
    that ended with no traced callback of its own): ``function`` is then ``None`` (``null`` in
    the JSON), and people read it as the module with :data:`NO_FUNCTION` (:attr:`shown`)."""

    module: str
    function: str | None = Field(None, description="name/arity; null when no function was identified "
                                 "(the culprit is the module)")
    detail: str | None = None
    process: str | None = None
    node: str | None = None          # the node the process runs on (recordings of several nodes)
    location: Location | None = None

    @field_validator("function", mode="before")
    @classmethod
    def _no_function(cls, v: object) -> object:
        """An empty name, or a null written out as text (a model's JSON, ``str(None)``), is no
        function: never a culprit ``Letters.None``."""
        if isinstance(v, str) and v.strip() in ("", "None", "nil", "null"):
            return None
        return v

    @property
    def where(self) -> str:
        """``Module.name/arity``, or the module alone when no function was identified."""
        return f"{self.module}.{self.function}" if self.function else self.module

    @property
    def shown(self) -> str:
        """:attr:`where` for people: a module alone says that no function was identified."""
        return self.where if self.function else f"{self.module} ({NO_FUNCTION})"


class Evidence(BaseModel):
    """One recorded event (or a derived sample) that supports a finding."""

    event_id: int | None = Field(None, description="id of the event in the recording")
    kind: str
    ts: int | None = Field(None, description="node monotonic time (native units)")
    at_ms: float | None = Field(None, description="milliseconds since the recording started")
    pid: str | None = None
    process: str | None = None
    mfa: str | None = None
    summary: str


class StateChange(BaseModel):
    path: str
    op: Literal["added", "removed", "changed", "grown", "shrunk", "became_nil"]
    before: str | None = None
    after: str | None = None


class StateDiff(BaseModel):
    """A state transition of one process, with the event that caused it."""

    pid: str
    process: str | None = None
    event_id: int | None = None
    caused_by: str | None = None
    changes: list[StateChange]


class MessageArrow(BaseModel):
    """One arrow of the message sequence diagram."""

    sender: str
    receiver: str
    message: str
    send_event: int | None = None
    receive_event: int | None = None
    at_ms: float | None = None
    kind: Literal["call", "cast", "reply", "info", "send", "exit"] = "send"


class Finding(BaseModel):
    """A fact of the evidence layer (``agents/evidence``): something the recording proves, with
    the events that prove it, who would be at fault if it were the first cause, and — when
    another fact explains it — that fact's id (``caused_by``), so a report can follow a chain of
    failures back to its origin."""

    id: str = Field("", description="stable id of the fact within one diagnosis (kind#n)")
    detector: str = Field(description="the fact's kind (the analysis that proved it)")
    title: str
    summary: str
    severity: Literal["critical", "high", "medium", "low"] = "high"
    confidence: float = Field(ge=0.0, le=1.0)
    culprit: Culprit
    evidence: list[Evidence] = []
    causal_chain: list[Evidence] = []
    state_diffs: list[StateDiff] = []
    messages: list[MessageArrow] = []
    signatures: list[str] = Field(
        default_factory=list, description="trace-signature tokens, used to retrieve knowledge"
    )
    fix_hint: str | None = None
    caused_by: str | None = Field(None, description="id of the fact that caused this one")
    weak: str | None = Field(None, description="why this fact alone cannot name a root cause (a steady rate, "
                             "growth bounded by the work of a short capture): it ranks, but under the verdict bar")
    lifted_by: list[str] = Field(default_factory=list, description="symptom claims (agents/hypotheses.CLAIMS) that "
                                 "make a weak fact count in full: the user saw over time what the capture is too short to show")

    @property
    def event_ids(self) -> list[int]:
        return [e.event_id for e in self.evidence + self.causal_chain if e.event_id is not None]


class Hypothesis(BaseModel):
    """A candidate explanation, ranked: a knowledge-base pattern (or, with no knowledge base, a
    fact on its own) with the facts and events that support and contradict it."""

    id: str
    title: str
    score: float
    symptom_score: float = 0.0
    evidence_score: float = 0.0
    supporting_facts: list[str] = []
    contradicting_facts: list[str] = []
    supporting_events: list[int] = []
    contradicting_events: list[int] = []
    culprit: Culprit | None = None
    origin_fact: str | None = None
    record: list[str] = []
    why: list[str] = []
    # a knowledge pattern that is a candidate only by evidence it shares with other patterns:
    # why its signature does not fit (it ranks after every fitting hypothesis, its facts stand alone)
    misfit: str | None = None


class KnowledgeRef(BaseModel):
    id: str
    title: str
    score: float
    fix: str | None = None
    code_example: str | None = None


class PlannedSpec(BaseModel):
    spec: str
    why: str


class Plan(BaseModel):
    """What to capture, and why."""

    specs: list[PlannedSpec] = []
    state_modules: list[str] = []
    message_processes: list[str] = []
    lifecycle: bool = True
    seconds: float = 5.0
    max_events: int = 50_000
    reasons: list[str] = []


class RoundRecord(BaseModel):
    """One capture round of a diagnosis: what it recorded, what it concluded, and why another
    round followed (or not)."""

    round: int
    recording_id: int | None = None
    seconds: float | None = None
    plan_reasons: list[str] = []
    top: list[dict] = Field(default_factory=list, description="the leading hypotheses: id, title, score, culprit")
    decided: bool = False
    next: str = ""


class Narrative(BaseModel):
    source: Literal["template", "claude"]
    text: str
    model: str | None = None
    steps: int = 0


class Report(BaseModel):
    """The diagnosis report: Markdown for people (``agents.report.render_markdown``) and this
    JSON for automation."""

    schema_: str = Field(REPORT_SCHEMA, alias="schema")
    symptom: str
    node: str | None = None
    nodes: list[str] = Field(default_factory=list, description="every node recorded, when there were several")
    store: str | None = None
    recording_id: int | None = None
    verdict: Literal["root_cause_found", "problems_found", "inconclusive"]
    root_cause: Finding | None = None
    suspect: Finding | None = Field(None, description="with no root cause: where to look first — the best-ranked "
                                    "hypothesis's first cause, its confidence capped at that hypothesis's evidence")
    findings: list[Finding] = []
    hypotheses: list[Hypothesis] = Field(default_factory=list, description="ranked; the first is the verdict's")
    why_winner: str | None = None
    rounds: list[RoundRecord] = Field(default_factory=list, description="capture rounds, each its own recording")
    decided_by: Literal["rules", "model"] = Field("rules", description="who set the verdict: the offline rules, or the model with cited evidence")
    model_claims: list[str] = Field(default_factory=list, description="what became of the model's decision: applied, agreed, or uncited claims")
    replay_check: dict | None = Field(None, description="counterfactual replay of the blamed message, and the ExUnit test that fails as recorded")
    knowledge: list[KnowledgeRef] = []
    plan: Plan | None = None
    capture: dict = {}
    gaps: list[str] = []
    observations: list[Evidence] = Field(default_factory=list, description="with no root cause: what the recording "
                                         "shows that a developer would look at first (failing returns, one empty answer "
                                         "to every call, state that never changed, exceptions, slow calls), each at "
                                         "its event; leads, not evidence for a verdict")
    not_recorded: str | None = Field(None, description="why the live node could not be surveyed or recorded "
                                     "(too busy to answer, gone, another tracer on it): what was wrong, what was "
                                     "left on the node, what to do")
    fix: str | None = None
    fix_example: str | None = None
    fix_location: Location | None = None
    narrative: Narrative | None = None
    timings_ms: dict[str, float] = {}

    model_config = {"populate_by_name": True}

    def to_json(self) -> str:
        return self.model_dump_json(by_alias=True, indent=2)
