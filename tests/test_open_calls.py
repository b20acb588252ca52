"""``RecordingView.open_call_at`` answers by bisection (agents/open_calls.py) exactly what the
scan over the process's calls answered: compared question by question on a real recording —
every call's start and end, the moments around them, every send and receive — and on the
orders a recording can hold (calls that never ended, equal depths, starts out of order)."""

from __future__ import annotations

import pytest

from elixir_scope.agents.open_calls import OpenCalls
from elixir_scope.agents.view import Call, is_app_module

from support.fact_recording import record_view
from test_evidence_reported import APP, SPECS


def scanned(calls, ts, app_only=True):
    """The scan open_call_at made before the index: the reference."""
    best = None
    for c in calls:
        if c.ts > ts:
            break
        if (c.end_ts is None or c.end_ts >= ts) and (not app_only or is_app_module(c.module)):
            if best is None or c.depth >= best.depth:
                best = c
    return best


STUCK = r'''
defmodule Stuck do
  def start, do: spawn(fn -> wait() end)
  def wait do
    _ = inner(3)
    receive do
      :never -> :ok
    end
  end
  def inner(0), do: :ok
  def inner(n), do: inner(n - 1)
end
'''


@pytest.fixture(scope="module")
def view(tmp_path_factory):
    async def stuck(conn, session):
        # a process still inside a call when the recording ends: a call that never ended
        await conn.rpc("Elixir.Stuck", "start", [])

    return record_view(tmp_path_factory.mktemp("open_calls"), APP + STUCK, start="ReportedApp.start()",
                       run="Elixir.ReportedApp", before_run=stuck,
                       specs=SPECS + ["Date.from_iso8601/1 :: return", "Stuck.wait/0 :: return", "Stuck.inner/1 :: return"],
                       state_modules=("Elixir.Methods",), lifecycle_procs="all")


def _moments(view, pid):
    out = set()
    for c in view.calls_by_pid.get(pid, []):
        out.update((c.ts - 1, c.ts, c.ts + 1))
        if c.end_ts is not None:
            out.update((c.end_ts - 1, c.end_ts, c.end_ts + 1))
    for m in view.messages:
        if m.sender == pid and m.send_ts is not None:
            out.add(m.send_ts)
        if m.receiver == pid and m.receive_ts is not None:
            out.add(m.receive_ts)
    return sorted(out)


def test_the_index_answers_what_the_scan_answered_on_a_real_recording(view):
    asked = found = deep = 0
    pids = sorted(view.calls_by_pid)
    assert len(pids) >= 10 and sum(1 for c in view.calls if c.end_ts is None) >= 1   # some never ended
    assert any(not is_app_module(c.module) for c in view.calls)                      # Date among them
    for pid in pids:
        calls = view.calls_by_pid[pid]
        for ts in _moments(view, pid) + [calls[0].ts - 10**9, calls[-1].ts + 10**12]:
            for app_only in (True, False):
                want = scanned(calls, ts, app_only)
                got = view.open_call_at(pid, ts, app_only=app_only)
                assert got is want, (pid, ts, app_only, want and want.mfa, got and got.mfa)
                asked += 1
                found += want is not None
                deep += want is not None and want.depth > 0
    assert found > 100 and deep > 10, (asked, found, deep)   # nested calls were asked about
    assert view.open_call_at(-12345, 0) is None             # a process with no calls


def _call(i, ts, end, depth, module="Elixir.App"):
    return Call(i, 1, module, "f", 0, ts, [], end_ts=end, depth=depth)


@pytest.mark.parametrize("calls", [
    # nested, a sibling, a call that never ended
    [_call(1, 10, 50, 0), _call(2, 12, 20, 1), _call(3, 25, 30, 1), _call(4, 40, None, 1)],
    # equal depths open at once: the one listed last
    [_call(1, 10, 40, 1), _call(2, 10, 40, 1), _call(3, 15, 35, 1)],
    # starts out of order: the scan stops at the first later start, so later entries wait for it
    [_call(1, 10, 30, 0), _call(2, 50, 60, 1), _call(3, 20, 55, 2), _call(4, 5, 100, 3)],
    # a call that ended before the scan could reach it is never the answer
    [_call(1, 30, 40, 0), _call(2, 10, 20, 1)],
    # library frames are skipped with app_only, answered without it
    [_call(1, 10, 90, 0), _call(2, 20, 80, 1, "ets"), _call(3, 30, None, 2, "Elixir.Enum"), _call(4, 35, 36, 1)],
])
def test_the_index_answers_what_the_scan_answered_on_any_order(calls):
    for app_only in (True, False):
        index = OpenCalls(calls, is_app_module if app_only else None)
        for ts in range(0, 120):
            assert index.at(ts) is scanned(calls, ts, app_only), (ts, app_only)
    # the callback a state step belongs to (agents/evidence/values.py): the last listed that
    # started by then and had not ended one unit before, whatever its depth
    running = OpenCalls(calls, deepest=False, scan_stops=False, grace=1)
    for ts in range(0, 120):
        last = None
        for c in calls:
            if c.ts <= ts and (c.end_ts is None or c.end_ts >= ts - 1):
                last = c
        assert running.at(ts) is last, ts


def test_the_other_indexes_answer_what_their_scans_answered_on_a_real_recording(view):
    """The children of a call, the sends during one, the callback a state step belongs to: each
    was a scan per question in the facts (agents/evidence), each an index now."""
    sends: dict[int, list[int]] = {}
    for m in view.messages:
        if m.sender is not None and m.send_ts is not None:
            sends.setdefault(m.sender, []).append(m.send_ts)
    nested = sent = 0
    for c in view.calls:
        kids = [x for x in view.calls_by_pid.get(c.pid, []) if x.parent is c]
        assert view.children(c) == kids
        end = c.end_ts or c.ts
        was_sent = any(c.ts <= t <= end for t in sends.get(c.pid, []))
        assert view.sent_during(c.pid, c.ts, end) is was_sent, c.mfa
        nested += bool(kids)
        sent += was_sent
    assert nested > 10 and sent > 10, (nested, sent)
    steps = [s for ss in view.state_steps().values() for s in ss]
    assert len(steps) >= 3
    owned = 0
    for s in steps:
        callbacks = [c for c in view.calls_by_pid.get(s.pid, []) if c.function.startswith("handle_") and c.args]
        last = None
        for c in callbacks:
            if c.ts <= s.ts and (c.end_ts is None or c.end_ts >= s.ts - 1):
                last = c
        assert OpenCalls(callbacks, deepest=False, scan_stops=False, grace=1).at(s.ts) is last
        owned += last is not None
    assert owned >= 2, owned
