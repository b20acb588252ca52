"""Generated ExUnit tests really run (``elixir`` and ``mix test``) and fail with the recorded error.

The recorded state comes from the live ``corrupted_state`` app (``:sys.get_state``), so the
test is built from a real term, not a hand-written one; the generated file is then run in a
fresh VM exactly as a developer would run it.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from support.nodes import REPO, start_node  # noqa: E402

from elixir_scope.instrument.dist import Node  # noqa: E402
from elixir_scope.instrument.etf import Atom  # noqa: E402
from elixir_scope.instrument.exunit import ExUnitError, generate_test, run_test  # noqa: E402
from elixir_scope.instrument.replay import Callback, Invocation, Outcome, ReplayInputError  # noqa: E402

A = Atom
NIL = A("nil")
APP = [REPO / "examples" / "corrupted_state" / "lib" / "corrupted_state.ex"]
CRASH = Outcome.exception("error", A("function_clause"))


@pytest.fixture(scope="module")
def live():
    """The live state of the accounts server, and a pid and a ref made on that node."""
    import asyncio

    node = start_node("elixir", elixir_files=APP, eval_code="{:ok, _} = CorruptedState.start()")

    async def read():
        async with Node() as n:
            conn = await n.connect(node.name, cookie=node.cookie)
            state = await conn.rpc("sys", "get_state", [A("Elixir.CorruptedState.Accounts")])
            (pid, ref), _ = await conn.rpc("Elixir.Code", "eval_string", [b"{self(), make_ref()}"])
            return state, pid, ref

    try:
        yield asyncio.run(read())
    finally:
        node.stop()


def sequence(*, with_bad_update=True, last=CRASH):
    steps = []
    if with_bad_update:
        steps.append(Invocation(Callback.CAST, (A("update_profile"), 2, {A("email"): NIL}), source="event 7"))
    steps.append(Invocation(Callback.CALL, (A("get"), 3), recorded=Outcome.returned(A("$truncated"))))
    steps.append(Invocation(Callback.CALL, A("weekly_digest"), recorded=last, source="event 31"))
    return steps


def test_generated_test_fails_with_the_recorded_error(live, tmp_path):
    state, _, _ = live
    invs = sequence()
    source = generate_test("CorruptedState.Accounts", state, invs, description="recording 1, <0.123.0>")
    assert "defmodule ElixirScope.Replay.CorruptedStateAccountsTest do" in source
    assert "CorruptedState.Accounts.handle_cast({:update_profile, 2, %{email: nil}}, state)" in source
    assert "# Recorded failure: handle_call raised error :function_clause" in source

    run = run_test(source, app_files=APP, expected=invs[-1].recorded, keep_dir=tmp_path)
    assert run.exit_status != 0 and run.tests == 1
    (failure,) = run.failures
    assert failure.banner == "** (FunctionClauseError) no function clause matching in String.downcase/2"
    assert failure.top_frame[:2] == (A("Elixir.String"), A("downcase"))
    assert run.fails_as_recorded, run.output
    assert "warning" not in run.output, run.output  # the generated code compiles cleanly
    assert (tmp_path / "replay_test.exs").read_text() == source


def test_without_the_bad_update_the_test_passes(live):
    state, _, _ = live
    invs = sequence(with_bad_update=False)
    run = run_test(generate_test("CorruptedState.Accounts", state, invs), app_files=APP, expected=invs[-1].recorded)
    assert run.passed and not run.fails_as_recorded, run.output


def test_a_different_recorded_error_is_not_a_match(live):
    state, _, _ = live
    timeout = Outcome.exception("exit", (A("timeout"), (A("Elixir.GenServer"), A("call"), [])))
    invs = sequence(last=timeout)
    run = run_test(generate_test("CorruptedState.Accounts", state, invs), app_files=APP, expected=timeout)
    assert len(run.failures) == 1 and not run.fails_as_recorded
    bad_arg = Outcome.exception("error", A("badarg"))
    run = run_test(generate_test("CorruptedState.Accounts", state, sequence(last=bad_arg)), app_files=APP,
                   expected=bad_arg)
    assert not run.fails_as_recorded  # ArgumentError expected, FunctionClauseError raised


def test_pids_and_refs_in_the_state_become_stand_ins(live):
    state, pid, ref = live
    state = {**state, A("owner"): pid, A("monitors"): {ref: pid}}
    invs = sequence()
    source = generate_test("CorruptedState.Accounts", state, invs)
    assert "pid_1 = spawn(fn -> Process.sleep(:infinity) end)" in source
    assert "ref_1 = make_ref()" in source
    assert "#   pid_1 stands for #PID<" in source
    assert "monitors: %{ref_1 => pid_1}" in source
    run = run_test(source, app_files=APP, expected=invs[-1].recorded)
    assert run.fails_as_recorded, run.output


def test_init_first_and_refusals():
    invs = [Invocation(Callback.INIT, {1: {A("name"): b"A", A("email"): NIL}}),
            Invocation(Callback.CALL, A("weekly_digest"), recorded=CRASH)]
    source = generate_test("CorruptedState.Accounts", None, invs)
    assert "state = init_state(CorruptedState.Accounts.init(%{1 => %{name: \"A\", email: nil}}))" in source
    assert run_test(source, app_files=APP, expected=CRASH).fails_as_recorded
    with pytest.raises(ReplayInputError):
        generate_test("CorruptedState.Accounts", {}, [])
    with pytest.raises(ExUnitError, match="not found"):
        run_test(source, app_files=[Path("/nonexistent/app.ex")])
    with pytest.raises(ExUnitError, match="did not compile"):
        run_test("defmodule Broken do\n  def x(, do: 1\nend\n", app_files=APP)
    with pytest.raises(ExUnitError, match="must be a recorded exception"):
        run_test(source, app_files=APP, expected=Outcome.returned(1))


def test_runs_under_mix_test(live, tmp_path):
    state, _, _ = live
    subprocess.run(["mix", "new", "accounts_app"], cwd=tmp_path, check=True, capture_output=True)
    project = tmp_path / "accounts_app"
    shutil.copy(APP[0], project / "lib" / "corrupted_state.ex")
    invs = sequence()
    run = run_test(generate_test("CorruptedState.Accounts", state, invs), mix_project=project,
                   expected=invs[-1].recorded)
    assert run.path.parent == project / "test" / "elixir_scope_replay"
    assert run.fails_as_recorded, run.output
