"""Frames broken by dropped events (agents/view_gaps.py), on recordings written into a real
store in the agent's record format: a return lost in a gap must not leave a loop's step open
with every later step nested in it, and the rules must not read such a frame as a call that
"never returned" or as a duration."""

from __future__ import annotations

from pathlib import Path

from elixir_scope.agents.detectors import slow_callback, slow_parts
from elixir_scope.agents.evidence.waits import _open_frames
from elixir_scope.agents.findings import Culprit, Evidence, Finding
from elixir_scope.agents.gap_facts import GAP_CONFIDENCE, temper
from elixir_scope.agents.view import RecordingView
from elixir_scope.store import EventKind, TraceStore
from elixir_scope.store.batch import SyntheticTrace

NS = 1_000_000_000
MOD = "Elixir.Batch.Worker"


class Script:
    """One process's calls and returns, a gap where asked, written to a real store."""

    def __init__(self) -> None:
        self.t = SyntheticTrace("app@host", step=1_000_000)   # 1 ms per record
        self.proc = self.t.new_pid(200, initial_call=(MOD, "init", 1))

    def call(self, fun: str, arity: int, *args) -> int:
        f = self.t.builder.mfa((MOD, fun, arity))
        self.t.builder.add(EventKind.CALL, self.proc[1], f, list(args), ts=self.t.tick())
        return self.t.ts

    def ret(self, fun: str, arity: int, value=None) -> int:
        f = self.t.builder.mfa((MOD, fun, arity))
        self.t.builder.add(EventKind.RETURN, self.proc[1], f, value if value is not None else 0, ts=self.t.tick())
        return self.t.ts

    def gap(self, count: int = 900) -> int:
        return self.t.gap("rate", count)

    def wait(self, ms: int) -> None:
        self.t.ts += ms * 1_000_000

    def view(self, path: Path) -> RecordingView:
        store = TraceStore.open(path / "t.db")
        rec = store.create_recording("gaps", spec={}, limits={})
        node = rec.add_node("app@host", otp_release="25", time_unit=NS, time_offset=0)
        b = self.t.take()
        rec.ingest_batch(node, b.dict_entries, b.events)
        rec.finish("stopped")
        view = RecordingView.from_recording(store.recording(rec.id))
        store.close()
        return view


def _named(view: RecordingView, fun: str) -> list:
    return [c for c in view.calls if c.function == fun]


def _loop(s: Script, *, drop: bool, steps: int = 6, lost: int = 2) -> None:
    """``run/1`` calls ``check/1`` once per item; step ``lost``'s return is dropped (or, with
    ``drop`` false, simply missing from the records, as an untraced exception would leave it)."""
    s.call("run", 1, [1, 2, 3])
    for i in range(steps):
        s.call("check", 1, i)
        if i == lost:
            if drop:
                s.gap()
            continue
        s.ret("check", 1)
    s.ret("run", 1)


def test_a_loop_step_whose_return_was_dropped_is_broken_and_the_next_steps_are_its_siblings(tmp_path):
    s = Script()
    _loop(s, drop=True)
    view = s.view(tmp_path)
    run, = _named(view, "run")
    checks = _named(view, "check")
    assert [c.parent is run for c in checks] == [True] * 6, [(c.parent and c.parent.function) for c in checks]
    assert {c.depth for c in checks} == {1}
    lost = checks[2]
    assert lost.broken and lost.end_ts is None and not lost.open
    assert lost.end_by == checks[3].ts   # the next step began: it had ended by then
    assert [c.broken for c in checks] == [False, False, True, False, False, False]
    assert run.outcome == "return" and not run.broken
    assert not any(c.open for c in view.calls)
    assert view.crosses_gap(lost) and view.crosses_gap(run) and not view.crosses_gap(checks[0])
    # nothing is stuck, and the broken step is not where the process was at a later moment
    assert not _open_frames(view, max(c.ts for c in view.calls))
    assert view.open_call_at(checks[4].pid, checks[4].ts) is checks[4]


def test_a_return_missing_without_a_drop_nests_as_recorded_until_its_caller_returns(tmp_path):
    s = Script()
    _loop(s, drop=False)
    view = s.view(tmp_path)
    run, = _named(view, "run")
    checks = _named(view, "check")
    # no event was dropped: a later call of check/1 inside the open one is recursion as far as
    # the records tell, and run/1's return closes the frames left open inside it
    assert checks[3].parent is checks[2] and checks[3].depth == 2
    assert checks[2].broken and checks[2].end_by == run.end_ts
    assert not any(c.open for c in view.calls)
    assert not view.gaps and not view.crosses_gap(checks[2])


def test_a_recursion_seen_before_the_drop_stays_nested(tmp_path):
    s = Script()
    s.call("walk", 1, 3)          # walk(3) → walk(2) → walk(1), all seen, nothing dropped
    s.call("walk", 1, 2)
    s.call("walk", 1, 1)
    s.ret("walk", 1)
    s.ret("walk", 1)
    s.ret("walk", 1)
    s.call("walk", 1, 3)
    s.gap()
    s.call("walk", 1, 2)          # after a drop: still a recursion, not a loop's next step
    s.ret("walk", 1)
    s.ret("walk", 1)
    view = s.view(tmp_path)
    walks = _named(view, "walk")
    assert walks[4].parent is walks[3] and walks[4].depth == 1
    assert not any(c.broken for c in walks)


def test_a_call_stuck_after_a_drop_with_no_later_step_stays_open(tmp_path):
    s = Script()
    s.call("run", 1, [1, 2])
    s.call("check", 1, 0)
    s.ret("check", 1)
    s.call("check", 1, 1)
    s.gap()
    s.wait(900)
    s.call("audit", 0)            # another function called inside the open step: no loop evidence
    s.ret("audit", 0)
    view = s.view(tmp_path)
    run, = _named(view, "run")
    stuck = _named(view, "check")[1]
    assert stuck.open and not stuck.broken
    assert _named(view, "audit")[0].parent is stuck
    frames = _open_frames(view, max(c.ts for c in view.calls))
    assert [c.function for c in frames[stuck.pid]] == ["run", "check"]
    # still evidence, but events were dropped after it started: not a confident one
    assert view.crosses_gap(stuck) and view.dropped_in(stuck.pid, stuck.ts, None) == 900


def test_hot_path_and_spread_measure_no_broken_step_and_print_no_duration_across_a_drop(tmp_path):
    s = Script()
    s.call("handle_call", 3, b"go", 1, 2)
    s.call("scan", 1, [1, 2, 3, 4])
    for i in range(4):
        s.call("score", 1, i)
        if i == 1:
            s.wait(20)
            s.gap(500)            # the lost return
            continue
        s.wait(20)
        s.ret("score", 1)
    s.ret("scan", 1)
    s.ret("handle_call", 3)
    view = s.view(tmp_path)
    cb, = _named(view, "handle_call")
    scan, = _named(view, "scan")
    scores = _named(view, "score")
    assert scores[1].broken and all(c.parent is scan for c in scores)
    path = slow_callback.hot_path(view, cb)
    assert scores[1] not in path and path[:1] == [scan]
    sp = slow_parts.spread(view, scan, scan.end_ts)
    assert sp is not None and sp.calls == 4
    text = slow_parts.describe(view, sp)
    assert "500 events were dropped" in text and "ms each" not in text, text


def test_a_fact_resting_on_a_call_cut_by_a_drop_is_capped_and_said(tmp_path):
    s = Script()
    _loop(s, drop=True)
    view = s.view(tmp_path)
    lost = _named(view, "check")[2]
    first = _named(view, "check")[0]

    def fact(c, title):
        return Finding(detector="x", title=title, summary="s", confidence=0.95,
                       culprit=Culprit(module="Batch.Worker", function="check/1"),
                       evidence=[Evidence(event_id=c.call_id, kind="call", summary="e")])

    cut, whole = fact(lost, "cut"), fact(first, "whole")
    notes = temper(view, [cut, whole])
    assert cut.confidence == GAP_CONFIDENCE and whole.confidence == 0.95
    assert len(notes) == 1 and notes[0].startswith("cut: rests on Batch.Worker.check/1") \
        and "900 events were dropped" in notes[0] and "its end was among them" in notes[0], notes
