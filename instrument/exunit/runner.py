"""Running a generated ExUnit test and reading how it failed (see the package docs).

``run_test`` runs the file with ``elixir`` (or ``mix test`` in a project) plus a small ExUnit
formatter (``_HARNESS``) that writes every failure, and the recorded outcome normalised the
same way, as ETF to a file; ``ExUnitRun.fails_as_recorded`` compares the two as terms.
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

from ..etf import Atom, decode, encode
from ..replay import Outcome, same_term


class ExUnitError(Exception):
    """Generating or running a replay test failed (the message says what to do)."""


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
