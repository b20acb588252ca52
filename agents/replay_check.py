"""Confirm a finding by replay, and hand over the failing test.

A finding that blames an earlier message for a GenServer crash (a state diff caused by a
callback, then an exception in a later callback of the same process) is a counterfactual
claim: *without that message, no crash*. ``check_by_replay`` tests it on the live node —
replay the crashed process's recorded callbacks up to the crash, with and without each
suspect (``instrument.counterfactual``) — and writes the ExUnit test that fails the way the
recording did (``instrument.exunit``), optionally running it once to prove it::

    check = await check_by_replay(conn, recording, report.root_cause, run_test_with="node")
    check.verdict            # confirmed: without the suspect the crash goes away
    check.confirmed_events   # [the call event of the guilty cast]
    check.exunit_source      # the regression test; check.exunit_fails_as_recorded -> True

Suspects, in order: the events the finding's state diffs cite for the crashed process (the
state change and the callback that made it), newest first; else the callbacks just before
the crash. At most ``max_suspects`` are tried (each costs two replays). The verdict is
``confirmed`` if a suspect is confirmed, ``refuted`` if every suspect tried was refuted,
else ``undetermined`` (``reason`` says why). Nothing here formats a report: ``as_dict()``
gives plain data for one.

Replay runs the module's code on the node (docs/replay.md: not a sandbox), so a caller
decides whether that is allowed (the MCP server only with ``--allow-mutations``).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Sequence

from elixir_scope.instrument.counterfactual import Counterfactual, CounterfactualVerdict, counterfactual, find_suspect
from elixir_scope.instrument.replay_model import ReplayError

if TYPE_CHECKING:
    from elixir_scope.instrument.dist import Connection
    from elixir_scope.instrument.exunit import ExUnitRun
    from elixir_scope.store import Recording

    from .findings import Finding

__all__ = ["ReplayCheck", "check_by_replay"]

_CALLBACKS = ("init/1", "handle_call/3", "handle_cast/2", "handle_info/2", "handle_continue/2")


@dataclass(frozen=True)
class ReplayCheck:
    verdict: CounterfactualVerdict
    reason: str
    process: str | None = None  # pid text of the crashed process
    crash_event: int | None = None
    counterfactuals: list[Counterfactual] = field(default_factory=list)
    exunit_source: str | None = None
    exunit_run: "ExUnitRun | None" = None
    exunit_error: str | None = None  # why the test was not generated or not run

    @property
    def confirmed_events(self) -> list[int]:
        """The call events of the suspects the replay confirmed as necessary for the crash."""
        return [int(str(c.suspect.source).split()[-1]) for c in self.counterfactuals
                if c.verdict is CounterfactualVerdict.CONFIRMED and c.suspect.source]

    @property
    def exunit_fails_as_recorded(self) -> bool | None:
        return self.exunit_run.fails_as_recorded if self.exunit_run is not None else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict.value, "reason": self.reason, "process": self.process,
            "crash_event": self.crash_event, "confirmed_events": self.confirmed_events,
            "counterfactuals": [c.as_dict() for c in self.counterfactuals],
            "exunit": None if self.exunit_source is None and self.exunit_error is None else {
                "source": self.exunit_source, "ran": self.exunit_run is not None,
                "fails_as_recorded": self.exunit_fails_as_recorded,
                "banner": self.exunit_run.failures[0].banner if self.exunit_run and self.exunit_run.failures else None,
                "error": self.exunit_error},
        }


def _crash(finding: "Finding") -> Any:
    """The exception of a GenServer callback the finding cites (the last one), if any."""
    cited = [*finding.causal_chain, *finding.evidence]
    crashes = [e for e in cited if e.kind == "exception" and e.event_id is not None and e.pid
               and (e.mfa or "").endswith(_CALLBACKS)]
    return max(crashes, key=lambda e: e.event_id) if crashes else None


def _suspect_events(finding: "Finding", pid: str, crash_id: int) -> list[int]:
    ids = [d.event_id for d in finding.state_diffs if d.event_id is not None and d.pid == pid and d.event_id < crash_id]
    return sorted(set(ids), reverse=True)


async def check_by_replay(
    conn: "Connection",
    recording: "Recording",
    finding: "Finding",
    *,
    max_suspects: int = 3,
    run_test_with: Literal["none", "node"] | Sequence[Path] = "none",
    step_timeout: float = 5.0,
) -> ReplayCheck | None:
    """Test ``finding`` by counterfactual replay and generate its ExUnit test; None when the
    finding names no crashed GenServer callback (nothing to replay). ``run_test_with``:
    ``"node"`` runs the test with the node's compiled code, a list of source files with those,
    ``"none"`` only generates it."""
    from elixir_scope.instrument.replay_recording import recorded_run

    crash = _crash(finding)
    if crash is None:
        return None
    try:
        run = recorded_run(recording, crash.pid, until_event=crash.event_id)
    except ReplayError as exc:
        return ReplayCheck(CounterfactualVerdict.UNDETERMINED, f"the crashed process's callbacks cannot be "
                           f"replayed: {exc}", crash.pid, crash.event_id)
    failing = len(run.invocations) - 1
    suspects: list[int] = []
    for event_id in _suspect_events(finding, crash.pid, crash.event_id):
        try:
            index = find_suspect(recording, run, event_id)
        except ReplayError:
            continue
        if index < failing and index not in suspects:
            suspects.append(index)
    if not suspects:  # no diff to go by: the callbacks just before the crash, newest first
        suspects = [i for i in range(failing - 1, -1, -1) if run.invocations[i].callback.value != "init"]
    results: list[Counterfactual] = []
    for index in suspects[:max_suspects]:
        cf = await counterfactual(conn, run.module, run.initial_state, run.invocations, index,
                                  step_timeout=step_timeout)
        results.append(replace(cf, source=run.description))
        if cf.verdict is CounterfactualVerdict.CONFIRMED:
            break
        if cf.verdict is CounterfactualVerdict.UNDETERMINED and cf.without_suspect is None:
            break  # the replay itself cannot reproduce the crash: more suspects will not help
    verdict, reason = _overall(results)
    source, ex, error = await _exunit(conn, run, run_test_with)
    return ReplayCheck(verdict, reason, crash.pid, crash.event_id, results, source, ex, error)


def _overall(results: list[Counterfactual]) -> tuple[CounterfactualVerdict, str]:
    if not results:
        return CounterfactualVerdict.UNDETERMINED, "no earlier callback of the crashed process to suspect"
    confirmed = next((c for c in results if c.verdict is CounterfactualVerdict.CONFIRMED), None)
    if confirmed is not None:
        return CounterfactualVerdict.CONFIRMED, f"{confirmed.suspect.source}: {confirmed.reason}"
    if all(c.verdict is CounterfactualVerdict.REFUTED for c in results):
        return CounterfactualVerdict.REFUTED, (f"the crash happens without each of the {len(results)} suspect(s) "
                                               "tried: it does not need them")
    last = next(c for c in results if c.verdict is CounterfactualVerdict.UNDETERMINED)
    return CounterfactualVerdict.UNDETERMINED, last.reason


async def _exunit(conn: "Connection", run: Any, run_with: Any) -> tuple[str | None, Any, str | None]:
    from elixir_scope.instrument.exunit import ExUnitError, generate_test, run_test

    try:
        source = generate_test(run.module, run.initial_state, run.invocations, description=run.description)
    except (ReplayError, ValueError) as exc:  # LiteralError: a truncated term has no literal
        return None, None, f"no test: {exc}"
    if run_with == "none" or run.failure is None:
        return source, None, None
    try:
        if run_with == "node":
            import tempfile

            from elixir_scope.instrument.object_code import fetch_object_code

            with tempfile.TemporaryDirectory(prefix="es_beams_") as folder:
                code = await fetch_object_code(conn, run.module, Path(folder))
                ex = await asyncio.to_thread(run_test, source, code_paths=[code.folder], expected=run.failure.recorded)
                return source, ex, None
        ex = await asyncio.to_thread(run_test, source, app_files=list(run_with), expected=run.failure.recorded)
        return source, ex, None
    except (ExUnitError, ReplayError) as exc:
        return source, None, f"the test was not run: {exc}"
