"""A recorded GenServer failure as an ExUnit test that fails the same way — and a runner that
proves it does.

``generate_test`` writes an ``.exs`` file that calls the module's callbacks directly (no
process is started): it rebuilds the recorded initial state as an Elixir literal, then calls
``handle_cast`` / ``handle_call`` / ``handle_info`` / ``handle_continue`` (or ``init``) with
the recorded messages in order, threading the state as ``gen_server`` would. Nothing is
asserted about the bug: the test is the *regression* test for it. Today it fails with the
recorded error; once the bug is fixed it passes, and it stays in the suite::

    source = generate_test("CorruptedState.Accounts", state, invocations,
                           description="weekly digest crash, recording 3")
    run = run_test(source, app_files=[...], expected=invocations[-1].recorded)
    run.fails_as_recorded      # True: FunctionClauseError in String.downcase/2, as recorded

Terms with no literal (pids, refs, ports, anonymous funs) become stand-in variables bound
at the top of the test, each with a comment saying what it stands for (see
``elixir_literal``). Truncated terms are refused (``LiteralError``); redacted values are
kept as the atom ``:"[REDACTED]"`` with a warning comment.

``run_test`` runs the file the way a developer would — ``elixir -r <app files> test.exs``
(ExUnit autoruns), or ``mix test <file>`` inside a given mix project — with a small extra
ExUnit formatter (``_HARNESS``) that writes every failure as ETF to a file. The recorded
error is normalised on the BEAM exactly as ExUnit normalises the real one
(``Exception.normalize/3`` with the failure's stacktrace: the raw ``:function_clause`` of a
trace becomes the ``%FunctionClauseError{}`` ExUnit reports), so "fails the same way" is a
term comparison, not a regex over console output.

Errors: ``ExUnitError`` (bad input, no elixir/mix, a run that produced no result).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from .elixir_literal import Literal, module_source
from .etf import Atom, decode, encode
from .replay import Callback, Invocation, Outcome, ReplayInputError, module_atom, same_term

__all__ = ["ExUnitError", "generate_test", "run_test", "ExUnitRun", "ExUnitFailure", "exunit_module_name"]


class ExUnitError(Exception):
    """Generating or running a replay test failed (the message says what to do)."""


_CALLS = {
    Callback.INIT: "{mod}.init({msg})",
    Callback.CALL: "{mod}.handle_call({msg}, {{self(), make_ref()}}, state)",
    Callback.CAST: "{mod}.handle_cast({msg}, state)",
    Callback.INFO: "{mod}.handle_info({msg}, state)",
    Callback.CONTINUE: "{mod}.handle_continue({msg}, state)",
}


def exunit_module_name(module: str | Atom) -> str:
    """``CorruptedState.Accounts`` → ``ElixirScope.Replay.CorruptedStateAccountsTest``."""
    mod = module_atom(module).name
    base = mod[7:] if mod.startswith("Elixir.") else mod
    camel = "".join(p[:1].upper() + p[1:] for p in re.split(r"[._]", base) if p)
    camel = re.sub(r"[^A-Za-z0-9]", "", camel) or "Module"
    return f"ElixirScope.Replay.{camel}Test"


def _describe(outcome: Outcome | None) -> str:
    if outcome is None:
        return "not recorded"
    if outcome.kind == "exception":
        return f"raised {outcome.error_class.name} {_short(outcome.reason)}"
    return f"returned {_short(outcome.value)}"


def _short(term: Any, limit: int = 100) -> str:
    from .etf.inspect import inspect

    text = inspect(term, limit=8, printable_limit=40)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def generate_test(
    module: str | Atom,
    initial_state: Any,
    invocations: Sequence[Invocation],
    *,
    description: str | None = None,
    test_name: str | None = None,
    structs: bool = True,
) -> str:
    """The source of an ExUnit test file replaying ``invocations`` from ``initial_state``.

    The last invocation is normally the one that failed in the recording (its ``recorded``
    outcome is written in a comment). ``structs=False`` writes structs as plain maps with a
    ``__struct__`` key (no compile-time dependency on the struct's module)."""
    mod = module_atom(module)
    invocations = list(invocations)
    if not invocations:
        raise ReplayInputError("nothing to put in a test: give at least one Invocation")
    for i, inv in enumerate(invocations):
        if inv.callback is Callback.INIT and i:
            raise ReplayInputError(f"invocation {i}: init can only be the first step")
    mod_src = module_source(mod)
    lit = Literal(structs=structs)
    starts_with_init = invocations[0].callback is Callback.INIT
    state_src = None if starts_with_init else lit.render(initial_state)

    body: list[str] = []
    for i, inv in enumerate(invocations, 1):
        msg = lit.render(inv.message)
        call = _CALLS[inv.callback].format(mod=mod_src, msg=msg)
        what = f"{inv.callback.value}({_short(inv.message, 70)})"
        src = f" [{inv.source}]" if inv.source else ""
        rec = f" — recorded: {_describe(inv.recorded)}" if inv.recorded is not None else ""
        body.append(f"    # {i}. {what}{src}{rec}")
        var = "_state" if i == len(invocations) else "state"
        helper = "init_state" if inv.callback is Callback.INIT else "next_state"
        body.append(f"    {var} = {helper}({call})")
        body.append("")
    last = invocations[-1]
    failing = last.recorded is not None and last.recorded.crashed
    if test_name:
        name = test_name
    elif failing:
        name = (f"{mod_src}.{last.callback.value}/{last.callback.arity} no longer fails after the "
                f"recorded sequence ({len(invocations)} callbacks)")
    else:
        name = f"{mod_src} runs the recorded sequence ({len(invocations)} callbacks)"

    header = [
        f"# Generated by ElixirScope: replays a recorded {'failure' if failing else 'sequence'} of {mod_src}.",
    ]
    if description:
        header.append(f"# Source: {description}")
    if failing:
        header.append(f"# Recorded failure: {last.callback.value} {_describe(last.recorded)}")
    header += [
        "#",
        "# The callbacks are called directly (no process is started), from the recorded state,",
        "# with the recorded messages, in order. The test fails the way the recording did until",
        "# the bug is fixed; then it passes. Side effects of the callbacks (ETS, messages to other",
        "# processes, calls to other servers) happen for real: run it where the app's processes",
        "# it needs are available (e.g. start them in setup).",
    ]
    if lit.bindings:
        header.append("#")
        header.append("# Stand-ins: these recorded values cannot be written as literals; the test")
        header.append("# binds fresh stand-ins of the same type (identity within the test is kept):")
        header += [f"#   {b.name} stands for {b.stands_for}" for b in lit.bindings]
    if lit.redacted:
        header.append("#")
        header.append(f'# WARNING: {lit.redacted} value(s) were redacted by the capture and appear as :"[REDACTED]";')
        header.append("# the replayed state differs from the real one there.")

    lines = [*header, "", "ExUnit.start()", "", f"defmodule {exunit_module_name(mod)} do",
             "  use ExUnit.Case", "", f"  test {_string(name)} do"]
    lines += [f"    {b.line}" for b in lit.bindings]
    if state_src is not None:
        lines.append(f"    state = {state_src}")
    lines.append("")
    lines += body[:-1]
    helpers = _HELPERS if starts_with_init else _HELPERS[: _HELPERS.index("")]
    lines += ["  end", "", *helpers, "end", ""]
    return "\n".join(lines)


def _string(text: str) -> str:
    from .elixir_literal import _binary

    return _binary(text.encode())


_HELPERS = [
    "  # gen_server's reading of a callback's return value",
    "  defp next_state({:reply, _reply, state}), do: state",
    "  defp next_state({:reply, _reply, state, _action}), do: state",
    "  defp next_state({:noreply, state}), do: state",
    "  defp next_state({:noreply, state, _action}), do: state",
    "  defp next_state({:stop, reason, _reply, _state}), do: flunk(\"the server stopped: #{inspect(reason)}\")",
    "  defp next_state({:stop, reason, _state}), do: flunk(\"the server stopped: #{inspect(reason)}\")",
    "  defp next_state(other), do: flunk(\"bad callback return value: #{inspect(other)}\")",
    "",
    "  defp init_state({:ok, state}), do: state",
    "  defp init_state({:ok, state, _action}), do: state",
    "  defp init_state(other), do: flunk(\"init/1 returned #{inspect(other)}\")",
]


# --- running ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExUnitFailure:
    """One failed test as ExUnit saw it: ``kind`` (error/exit/throw), the normalised
    ``reason`` (an exception struct for errors), the first stack frame, ExUnit's banner line,
    and the recorded outcome normalised the same way (None when none was given)."""

    test: str
    kind: Atom
    reason: Any
    top_frame: Any
    banner: str
    expected_reason: Any = None


@dataclass(frozen=True)
class ExUnitRun:
    exit_status: int
    tests: int
    failures: list[ExUnitFailure]
    output: str
    expected: Outcome | None = None
    path: Path | None = None

    @property
    def fails_as_recorded(self) -> bool:
        """Exactly one test ran, it failed, and with the recorded class and (normalised) reason."""
        if self.expected is None or not self.expected.crashed or self.tests != 1 or len(self.failures) != 1:
            return False
        f = self.failures[0]
        return f.kind is self.expected.error_class and same_term(f.expected_reason, f.reason)

    @property
    def passed(self) -> bool:
        return self.tests > 0 and not self.failures and self.exit_status == 0


_HARNESS = r'''
defmodule ElixirScope.ReplayHarness do
  @moduledoc false
  # An ExUnit formatter that writes each failure, and the recorded outcome normalised the
  # same way, as ETF to $ES_REPLAY_RESULT (rewritten after every test, so nothing is lost
  # if the VM halts right after the suite).
  use GenServer

  def init(_opts), do: {:ok, %{tests: 0, failures: []}}

  def handle_cast({:test_finished, %ExUnit.Test{} = test}, state) do
    failures =
      case test.state do
        {:failed, list} -> Enum.map(list, &describe(test, &1)) ++ state.failures
        {:invalid, _} -> [describe(test, {:error, %RuntimeError{message: "invalid test (setup_all failed)"}, []}) | state.failures]
        _ -> state.failures
      end

    state = %{state | tests: state.tests + 1, failures: failures}
    write(state)
    {:noreply, state}
  end

  def handle_cast(_event, state), do: {:noreply, state}

  defp describe(test, {kind, reason, stack}) do
    expected =
      case expected() do
        {class, raw} when class == kind -> Exception.normalize(class, raw, stack)
        {_class, raw} -> raw
        nil -> nil
      end

    %{test: to_string(test.name), kind: kind, reason: reason, top: List.first(stack),
      banner: Exception.format_banner(kind, reason, stack), expected: expected}
  end

  defp expected do
    case System.get_env("ES_REPLAY_EXPECTED") do
      nil -> nil
      path -> path |> File.read!() |> :erlang.binary_to_term()
    end
  end

  defp write(state) do
    File.write!(System.fetch_env!("ES_REPLAY_RESULT"), :erlang.term_to_binary(state))
  end
end

if System.get_env("ES_REPLAY_START") == "1" do
  ExUnit.start(formatters: [ExUnit.CLIFormatter, ElixirScope.ReplayHarness])
end
'''


def run_test(
    source: str,
    *,
    app_files: Sequence[Path] = (),
    expected: Outcome | None = None,
    mix_project: Path | None = None,
    code_paths: Sequence[Path] = (),
    timeout: float = 120.0,
    keep_dir: Path | None = None,
) -> ExUnitRun:
    """Run a generated test and report how it failed.

    Without ``mix_project``: ``elixir -pa <code_paths...> -r <app_files...> test.exs`` in a
    scratch directory (``code_paths``: folders of compiled ``.beam`` files, e.g. the node's own
    code fetched by ``object_code.fetch_object_code``).
    With it: the file goes to ``<mix_project>/test/elixir_scope_replay/`` and runs with
    ``mix test <that file>`` (the project must compile offline). ``expected`` is the recorded
    outcome of the failing step (``Invocation.recorded``)."""
    if expected is not None and not expected.crashed:
        raise ExUnitError("expected must be a recorded exception (Outcome.exception), not a return")
    work = Path(keep_dir or tempfile.mkdtemp(prefix="es_exunit_"))
    work.mkdir(parents=True, exist_ok=True)
    harness = work / "elixir_scope_replay_harness.exs"
    harness.write_text(_HARNESS)
    result = work / "result.etf"
    env = {**os.environ, "ES_REPLAY_RESULT": str(result), "MIX_ENV": "test"}
    if expected is not None:
        exp = work / "expected.etf"
        exp.write_bytes(encode((expected.error_class, expected.reason)))
        env["ES_REPLAY_EXPECTED"] = str(exp)

    if mix_project is None:
        if shutil.which("elixir") is None:
            raise ExUnitError("elixir is not on PATH; install Elixir (apt-get install -y elixir)")
        missing = [str(f) for f in app_files if not Path(f).is_file()]
        if missing:
            raise ExUnitError(f"app files not found: {', '.join(missing)}")
        path = work / "replay_test.exs"
        path.write_text(source)
        env["ES_REPLAY_START"] = "1"
        argv = ["elixir"]
        for folder in code_paths:
            if not Path(folder).is_dir():
                raise ExUnitError(f"code path not found: {folder}")
            argv += ["-pa", str(Path(folder).resolve())]
        for f in app_files:
            argv += ["-r", str(Path(f).resolve())]
        argv += ["-r", str(harness), str(path)]
        cwd = work
    else:
        project = Path(mix_project)
        if not (project / "mix.exs").is_file():
            raise ExUnitError(f"{project} is not a mix project (no mix.exs)")
        if shutil.which("mix") is None:
            raise ExUnitError("mix is not on PATH; install Elixir (apt-get install -y elixir)")
        folder = project / "test" / "elixir_scope_replay"
        folder.mkdir(parents=True, exist_ok=True)
        snake = re.sub(r"(?<!^)(?=[A-Z])", "_", _module_of(source)).lower()
        path = folder / f"{snake}_test.exs"
        path.write_text(source)
        argv = ["elixir", "-r", str(harness), "-S", "mix", "test", str(path.relative_to(project)),
                "--formatter", "ExUnit.CLIFormatter", "--formatter", "ElixirScope.ReplayHarness"]
        cwd = project
    try:
        proc = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        raise ExUnitError(f"the test did not finish within {timeout}s: {' '.join(argv)}") from exc
    output = proc.stdout + proc.stderr
    if not result.is_file():
        raise ExUnitError(
            f"the test produced no ExUnit result (exit status {proc.returncode}); it probably did not "
            f"compile. Output:\n{output[-3000:]}")
    data = decode(result.read_bytes())
    failures = [
        ExUnitFailure(
            test=f[Atom("test")].decode(), kind=f[Atom("kind")], reason=f[Atom("reason")],
            top_frame=f[Atom("top")], banner=f[Atom("banner")].decode(), expected_reason=f[Atom("expected")])
        for f in reversed(data[Atom("failures")])
    ]
    return ExUnitRun(proc.returncode, data[Atom("tests")], failures, output, expected, path)


def _module_of(source: str) -> str:
    m = re.search(r"^defmodule ElixirScope\.Replay\.(\w+)Test do", source, re.M)
    return m.group(1) if m else "Replay"
