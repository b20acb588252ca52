"""The diagnosis run's configuration and live resources, passed to every graph node as the
LangGraph runtime context (never checkpointed: it holds the node connection, the open store
and the API key)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from elixir_scope.instrument.agent.attach import AttachTimeouts

from .llm import LLMConfig

Progress = Callable[[str, float], Awaitable[None]]


@dataclass
class DiagnosisContext:
    store: Any                          # elixir_scope.store.TraceStore (open, writable)
    conn: Any = None                    # elixir_scope.instrument.dist.Connection to the target
    peers: list[Any] = field(default_factory=list)  # connections to further nodes recorded with it
    # how to reach another node by name (same cookie): lets a round widen the recording to a node
    # the calls went to (None: the diagnosis records only the nodes it was given)
    connect_node: Callable[[str], Awaitable[Any]] | None = None
    dist_node: Any = None               # the local hidden node (for mailboxes)
    knowledge_dir: Path | None = None   # the Chroma index; None: the per-user default
    use_knowledge: bool = True
    llm: LLMConfig = field(default_factory=LLMConfig)
    sample_every: float = 0.25          # seconds between mailbox/process-count samples
    settle_seconds: float = 1.0         # keep recording this long after the trigger returned
    trigger_timeout: float = 30.0
    # how long each rpc of the survey may wait (a node too busy to answer: the report says so)
    survey_timeout: float = 10.0
    # how long loading and starting the agent may wait (instrument/agent/attach.py); the probe
    # wait is also the run-queue probe made after any rpc of the diagnosis timed out
    attach_timeouts: AttachTimeouts = field(default_factory=AttachTimeouts)
    # how long the end of a capture round waits for the agent's last records; past it the round
    # ends with `deadline` (a gap counting what the agent held) and the diagnosis goes on
    stop_timeout: float = 30.0
    max_events: int = 200_000
    confirm_by_replay: bool = False     # replay the blamed callbacks on the node (runs the module's code)
    prove_test: bool = True             # …and run the generated ExUnit test once to prove it fails
    progress: Progress | None = None
    # the sources' pitfall scans, by (path, include_tests): parsed once, read by every round
    source_scans: dict[tuple[str, bool], tuple] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        for name in ("survey_timeout", "stop_timeout"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 < v <= 600:
                raise ValueError(f"DiagnosisContext.{name} must be a number of seconds in (0, 600], got {v!r}")

    async def report_progress(self, message: str, fraction: float) -> None:
        if self.progress is not None:
            await self.progress(message, fraction)
