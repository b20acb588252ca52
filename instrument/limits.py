"""The safety limits of one capture, in one record with a comment per field (as redbug does).

Every capture has a count limit, a time limit and a rate limit; there is no unlimited default.
When a limit trips, the capture ends with a reason naming it (docs/capture.md says which field
to raise). Everything dropped on the way is counted and stored as a gap.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields
from typing import Any

from .etf import Atom

# Matched on the node after normalising both sides (lower case, `-`, `_`, `.`, `:`, `/` and
# spaces removed): a key of 5+ characters matches inside a key (`x-api-key`, `DB_PASSWORD`),
# a shorter one only as a whole word (`pwd`, `user-pass`, but not `passenger`).
DEFAULT_REDACT_KEYS: tuple[str, ...] = (
    "password", "passwd", "passphrase", "pass", "pwd", "secret", "token", "authorization",
    "auth", "cookie", "api_key", "private_key", "access_key", "secret_key", "credential",
    "bearer", "jwt", "session_id", "session_key", "signing_key", "encryption_key", "salt",
)


class LimitsError(ValueError):
    """A limit value that makes no sense (zero, negative, wrong type)."""


@dataclass(frozen=True)
class CaptureLimits:
    # Stop after this many records (calls, returns, messages, states ...): the count limit.
    max_events: int = 50_000
    # Stop after this many seconds: the time limit.
    max_seconds: float = 30.0
    # Python waits at most max_seconds + this for the agent to end (its own end takes up to
    # ~8 s: trace messages delivered, last batches acknowledged); then it ends the capture
    # itself with `deadline`, so the CLI and MCP never hang on a stuck agent.
    grace_seconds: float = 20.0
    # Records per second kept; above it, records are shed (counted in a `rate` gap).
    max_rate: int = 20_000
    # Stop with `max_rate` after this many consecutive seconds over max_rate.
    rate_trip_seconds: int = 5
    # Agent mailbox length that triggers shedding (drain and count) - redbug's max_queue.
    max_queue: int = 5_000
    # Stop with `overload_queue` after this many sheds in one capture.
    queue_shed_limit: int = 10
    # Agent process memory (bytes) that stops the capture with `overload_memory`.
    max_memory: int = 100_000_000
    # Encoded payload bytes per record; bigger terms are cut on the BEAM side with
    # '$truncated' markers (flags bit 0) - redbug's max message size.
    max_term_bytes: int = 4_096
    # Encoded bytes of one GenServer / gen_statem state record.
    max_state_bytes: int = 65_536
    # Records per batch sent to Python.
    batch_size: int = 2_000
    # A partly filled batch is sent after this many milliseconds.
    batch_ms: int = 100
    # Unacknowledged batches in flight; beyond, records wait in the agent's buffer.
    window: int = 8
    # Records buffered on the agent while the window is full; beyond, dropped (`backpressure` gap).
    max_buffer: int = 20_000
    # How often (in trace messages) the agent checks its own mailbox and memory.
    check_every: int = 500
    # Stack guard: a process calling a function traced with its returns whose stack grows by
    # this many words (8 bytes each) across the agent's ticks without coming down - a
    # self-tail-recursive loop keeps one return frame (3 words) per call - has that
    # function's return tracing removed (its calls stay traced): a `stack_guard` gap.
    stack_guard_words: int = 20_000
    # Tracer processes on the node at most (docs/capture.md, "Tracer shards"): when the capture
    # traces processes given by pid on a node with several schedulers, up to this many share
    # them (one per online scheduler and per traced process at most); 1 keeps one tracer.
    tracer_shards: int = 4
    # Keys whose values are replaced by '[REDACTED]' (map, keyword/proplist, struct keys; atom,
    # binary or charlist; case-insensitive; a key *containing* one of these matches).
    redact_keys: tuple[str, ...] = DEFAULT_REDACT_KEYS
    # Extra regular expressions matched (case-insensitively) against the key text.
    redact_patterns: tuple[str, ...] = field(default_factory=tuple)
    # Also redact strings that look like secrets wherever they are (URL user info
    # `https://u:[REDACTED]@h`, JWTs, PEM blocks, `Bearer <token>`).
    redact_values: bool = True

    def __post_init__(self) -> None:
        for f in fields(self):
            v = getattr(self, f.name)
            if f.name in ("redact_keys", "redact_patterns"):
                if isinstance(v, str) or not all(isinstance(x, str) for x in v):
                    raise LimitsError(f"{f.name} must be a tuple of strings, got {v!r}")
                continue
            if f.name == "redact_values":
                if not isinstance(v, bool):
                    raise LimitsError(f"redact_values must be True or False, got {v!r}")
                continue
            if isinstance(v, bool) or not isinstance(v, (int, float)) or v <= 0:
                raise LimitsError(f"{f.name} must be a positive number, got {v!r} "
                                  f"(default {f.default!r})")
        for p in self.redact_patterns:
            try:
                re.compile(p)
            except re.error as exc:
                raise LimitsError(f"redact pattern {p!r} is not a regular expression: {exc}") from None
        if self.max_term_bytes < 64:
            raise LimitsError("max_term_bytes below 64 leaves nothing readable; use 64 or more")

    def with_(self, **changes: Any) -> CaptureLimits:
        from dataclasses import replace
        return replace(self, **changes)

    def agent_config(self) -> dict:
        """The limits as the agent's config map entries (atom keys)."""
        out: dict = {}
        for f in fields(self):
            v = getattr(self, f.name)
            if f.name in ("redact_keys", "redact_patterns"):
                out[Atom(f.name)] = [x.encode() for x in v]
            elif f.name == "redact_values":
                out[Atom(f.name)] = bool(v)
            elif f.name == "max_seconds":
                out[Atom(f.name)] = float(v)
            else:
                out[Atom(f.name)] = int(v)
        return out

    def as_dict(self) -> dict:
        return {f.name: (list(getattr(self, f.name)) if f.name in ("redact_keys", "redact_patterns")
                         else getattr(self, f.name))
                for f in fields(self)}
