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

Modules: ``generate`` (the test's source: literals, the callback sequence, the helpers that
thread the state) and ``runner`` (running it with ``elixir`` or ``mix test`` and reading the
harness's result).
"""

from .generate import exunit_module_name, generate_test
from .runner import ExUnitError, ExUnitFailure, ExUnitRun, run_test

__all__ = ["ExUnitError", "generate_test", "run_test", "ExUnitRun", "ExUnitFailure", "exunit_module_name"]
