"""``replay`` and ``exunit``: a recorded GenServer's callbacks, re-run on the node or written
down as an ExUnit test (docs/replay.md).

``replay`` needs the node (the module's own code runs there, in a scratch process; never in
the recorded process); ``--without EVENT`` replays twice, with and without that invocation,
and says whether the failure needs it (counterfactual replay). ``exunit`` reads only the
store; ``--run`` runs the generated test once to prove it fails the way the recording did:
with the node's own compiled code (``--node``; copied with ``code:get_object_code``), with
``--app-file``s (``elixir -r``), or with ``mix test`` in ``--mix-project``.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..errors import CliError
from ..render import Output
from ..session import attached, config_from, opened_store

REPLAY_HELP = """\
examples:
  elixir-scope replay CorruptedState.Accounts --recording 3
  elixir-scope replay "<0.150.0>" --until-event 40 --last 5
  elixir-scope replay CorruptedState.Accounts --without 19       # is event 19 the cause?
Replay runs the module's code for real on the node (not in the recorded process): callbacks
with side effects (ETS, messages to others, files) do them again."""

EXUNIT_HELP = """\
examples:
  elixir-scope exunit CorruptedState.Accounts --out test/accounts_replay_test.exs
  elixir-scope exunit CorruptedState.Accounts --run --node app@host     # the node's own code
  elixir-scope exunit CorruptedState.Accounts --run --app-file lib/corrupted_state.ex
  elixir-scope exunit CorruptedState.Accounts --run --mix-project ."""


def _window_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("process", help="pid text (<0.150.0>) or registered name (MyApp.Server) in the recording")
    p.add_argument("--recording", type=int, help="recording id (default: the most recent)")
    p.add_argument("--until-event", type=int, help="only callbacks up to this event id (e.g. the crash)")
    p.add_argument("--last", type=int, help="only the last N callbacks of the window")
    p.add_argument("--module", help="the callback module, when the process ran several")


def register(sub, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("replay", parents=[common], help="re-run a recorded GenServer's callbacks in a scratch process",
                       epilog=REPLAY_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    _window_args(p)
    p.add_argument("--without", type=int, metavar="EVENT",
                   help="counterfactual: also replay without this invocation (its call, receive or state event id)")
    p.add_argument("--step-timeout", type=float, default=5.0, help="seconds per callback (default 5)")
    p.add_argument("--allow-redacted", action="store_true", help="replay even if the capture redacted values")
    p.set_defaults(run=run_replay)

    p = sub.add_parser("exunit", parents=[common], help="write the ExUnit test that fails the way a recording did",
                       epilog=EXUNIT_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    _window_args(p)
    p.add_argument("--out", type=Path, help="write the test file here (default: print it)")
    p.add_argument("--run", dest="run_once", action="store_true",
                   help="run the test once to prove it fails as recorded (with --node: the node's compiled code)")
    p.add_argument("--app-file", type=Path, action="append", default=[],
                   help="an application source file the test needs (repeatable; with --run)")
    p.add_argument("--mix-project", type=Path, help="run with `mix test` inside this mix project (with --run)")
    p.add_argument("--plain-structs", action="store_true", help="write structs as maps with __struct__")
    p.set_defaults(run=run_exunit)


def _default_to_recorded_node(args: argparse.Namespace, rec: Any) -> None:
    """Without --node (or ELIXIR_SCOPE_NODE), use the node the recording was made on."""
    from elixir_scope.mcp_server.replay_models import recorded_node

    if not config_from(args).default_node:
        args.node = recorded_node(rec)


def _recorded_run(store: Any, args: argparse.Namespace) -> tuple[Any, Any]:
    from elixir_scope.instrument.replay_recording import recorded_run
    from elixir_scope.mcp_server.replay_models import check_window

    from .history import _rec

    rec = _rec(store, args.recording)
    run = recorded_run(rec, args.process, module=args.module, until_event=args.until_event, last=args.last)
    check_window(run)
    return rec, run


async def run_replay(args: argparse.Namespace, out: Output) -> int:
    from elixir_scope.instrument.counterfactual import counterfactual, find_suspect
    from elixir_scope.instrument.replay_recording import replay_run
    from elixir_scope.mcp_server.replay_models import counterfactual_report, replay_report, run_notes

    if args.step_timeout <= 0:
        raise CliError(f"--step-timeout must be positive, got {args.step_timeout}", "e.g. --step-timeout 5")
    options = {"step_timeout": args.step_timeout, "allow_redacted": args.allow_redacted}
    with opened_store(args) as store:
        rec, run = _recorded_run(store, args)
        suspect = find_suspect(rec, run, args.without) if args.without is not None else None
        notes = run_notes(run)
        _default_to_recorded_node(args, rec)
        async with attached(args) as conn:
            if suspect is None:
                result = await replay_run(conn, run, **options)
            else:
                cf = await counterfactual(conn, run.module, run.initial_state, run.invocations, suspect,
                                          notes=notes, **options)
    if suspect is None:
        if out.json_mode:
            out.emit_json(replay_report(result, process=run.process, window=run.description, notes=notes,
                                        initial_state=run.initial_state))
        else:
            out.note(run.description)
            out.line(result.describe())
            for n in notes:
                out.note(n)
        return 0
    cf = replace(cf, source=run.description)
    if out.json_mode:
        out.emit_json(counterfactual_report(cf, process=run.process, initial_state=run.initial_state))
    else:
        out.line(cf.describe())
    return 0


async def run_exunit(args: argparse.Namespace, out: Output) -> int:
    from elixir_scope.instrument.exunit import exunit_module_name, generate_test, run_test

    if not args.run_once and (args.app_file or args.mix_project):
        raise CliError("--app-file and --mix-project are for --run", "add --run to run the test once")
    from_node = args.run_once and not (args.app_file or args.mix_project)
    if args.app_file and args.mix_project:
        raise CliError("give --app-file or --mix-project, not both")
    with opened_store(args) as store:
        rec, run = _recorded_run(store, args)
        if from_node:
            _default_to_recorded_node(args, rec)
    if from_node and not config_from(args).default_node:
        raise CliError("--run needs the application's code",
                       "pass --node to run it with the node's own compiled code, --app-file FILE (repeatable) "
                       "for its sources, or --mix-project DIR")
    source = generate_test(run.module, run.initial_state, run.invocations, description=run.description,
                           structs=not args.plain_structs)
    failure = run.failure
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(source)
    ex = None
    if args.run_once:
        if failure is None:
            raise CliError(f"nothing failed in that window of {run.process}: there is no failure to prove",
                           "widen the window (--until-event the crash, or no --last) or drop --run")
        if from_node:
            ex = await _run_with_node_code(args, out, run.module, source, failure.recorded)
        else:
            ex = run_test(source, app_files=args.app_file, mix_project=args.mix_project, expected=failure.recorded)
    if out.json_mode:
        from elixir_scope.mcp_server.replay_models import ExUnitReport

        out.emit_json(ExUnitReport(
            module=exunit_module_name(run.module), window=run.description,
            failing_callback=f"{failure.callback.value} [{failure.source}]" if failure else None,
            source=source, path=str(args.out) if args.out else None, ran=ex is not None,
            fails_as_recorded=ex.fails_as_recorded if ex else None,
            failure_banner=ex.failures[0].banner if ex and ex.failures else None,
            output_tail=ex.output[-2000:] if ex else None))
    else:
        if args.out:
            out.note(f"wrote {args.out} ({run.description})")
        else:
            out.line(source)
        if ex is not None:
            if ex.fails_as_recorded:
                out.note(f"the test fails as recorded: {ex.failures[0].banner}")
            else:
                out.error("the test does not fail the way the recording did",
                          "see the output below; the failure may depend on other processes")
                out.err.print(ex.output[-3000:], markup=False)
    return 1 if ex is not None and not ex.fails_as_recorded else 0


async def _run_with_node_code(args: argparse.Namespace, out: Output, module: Any, source: str, expected: Any) -> Any:
    """Copy the node's compiled code of the module's application, run the test against it."""
    import tempfile

    from elixir_scope.instrument.exunit import run_test
    from elixir_scope.instrument.object_code import fetch_object_code

    with tempfile.TemporaryDirectory(prefix="es_beams_") as folder:
        async with attached(args) as conn:
            code = await fetch_object_code(conn, module, Path(folder))
        out.note(f"running with {len(code.modules)} module(s) of {code.application or 'the node'} "
                 f"copied from {conn.node_name}")
        return run_test(source, code_paths=[code.folder], expected=expected)
