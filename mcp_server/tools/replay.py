"""Replay tools: a recorded GenServer's callbacks re-run on the node, with or without a
suspected message, and the ExUnit test that fails the way the recording did
(docs/replay.md).

``generate_exunit`` reads only the store and is always served; ``run=true`` runs the
application's code in a local ``elixir``/``mix`` VM (its sources, its mix project, or the
node's own compiled code copied read-only with ``code:get_object_code``) and needs
``--allow-mutations``. ``replay`` runs the module's own code on the target (in a scratch
process, never the recorded one — but callbacks with side effects do them again): it exists
only when the server was started with ``--allow-mutations``, like the other tools that run
code.
"""

from __future__ import annotations

from dataclasses import replace as dc_replace
from pathlib import Path
from typing import Annotated, Any

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import BaseModel, Field

from ..config import ServerConfig
from ..errors import tool_errors
from ..replay_models import (
    MAX_SOURCE_CHARS,
    CounterfactualReport,
    ExUnitReport,
    ReplayReport,
    check_window,
    recorded_node,
    counterfactual_report,
    replay_report,
    run_notes,
)
from ..state import app_state
from .annotations import ADDITIVE, DESTRUCTIVE
from .common import RecordingArg, in_thread, latest_recording_id
from .recordings import SAFE_FILE, export_dir

ProcessArg = Annotated[str, Field(description="The recorded GenServer: pid text (<0.150.0>) or registered name "
                                  "(MyApp.Server). A name that a restart reused means the incarnation that crashed.")]
UntilEvent = Annotated[int | None, Field(description="Only callbacks up to this event id (typically the crash).")]
Last = Annotated[int | None, Field(ge=1, le=500, description="Only the last N callbacks of the window.")]
ModuleArg = Annotated[str | None, Field(description="The callback module, when the process ran several.")]


class ReplayAnswer(BaseModel):
    replay: ReplayReport | None = Field(description="The replay as recorded (when no without_event was given).")
    counterfactual: CounterfactualReport | None = Field(
        description="With without_event: both replays and whether the failure needs that invocation.")


def _run(ctx: Context, recording: int | None, process: str, module: str | None, until_event: int | None,
         last: int | None) -> tuple[Any, Any]:
    from elixir_scope.instrument.replay_recording import recorded_run

    store = app_state(ctx).store()
    rec = store.recording(latest_recording_id(store, recording))
    run = recorded_run(rec, process, module=module, until_event=until_event, last=last)
    check_window(run)
    return rec, run


def register(server: MCPServer, config: ServerConfig) -> None:
    @server.tool(annotations=ADDITIVE)
    @tool_errors
    async def generate_exunit(
        ctx: Context,
        process: ProcessArg,
        recording: RecordingArg = None,
        until_event: UntilEvent = None,
        last: Last = None,
        module: ModuleArg = None,
        file_name: Annotated[str | None, Field(description="Also write the test to this file (a name ending in .exs, no "
                                               "folders) in the server's exports folder.")] = None,
        run: Annotated[bool, Field(description="Run the test once to prove it fails as recorded (needs --allow-mutations). "
                                   "Without app_files or mix_project it runs with the node's own compiled code.")] = False,
        app_files: Annotated[list[str], Field(description="With run: the application's source files the test loads.")] = [],
        mix_project: Annotated[str | None, Field(description="With run: run with `mix test` inside this mix project.")] = None,
        node: Annotated[str | None, Field(description="With run and no sources: the node whose compiled code to use; "
                                          "omit for the node the recording was made on.")] = None,
    ) -> ExUnitReport:
        """The ExUnit test that replays a recorded GenServer failure: the recorded state as a
        literal, then the recorded messages, calling the callbacks directly. It fails with the
        recorded error until the bug is fixed — the regression test to keep. With run=true it is
        run once (locally, in a fresh VM) to prove it fails the way the recording did."""
        import tempfile

        from elixir_scope.instrument.exunit import exunit_module_name, generate_test, run_test

        if run and not config.allow_mutations:
            raise ToolError("run=true runs the application's code: start the server with --allow-mutations, "
                            "or call without run and run the test yourself")
        if app_files and mix_project:
            raise ToolError("give app_files or mix_project, not both")
        path = None
        if file_name is not None:
            if not SAFE_FILE.match(file_name) or ".." in file_name or not file_name.endswith(".exs"):
                raise ToolError(f"invalid file name {file_name!r}: a name ending in .exs with letters, digits, '.', "
                                "'_' or '-' only, no folders (it is written to the server's exports folder)")
            path = export_dir(app_state(ctx).config) / file_name

        def build() -> tuple[Any, str, str | None]:
            rec, rec_run = _run(ctx, recording, process, module, until_event, last)
            source = generate_test(rec_run.module, rec_run.initial_state, rec_run.invocations,
                                   description=rec_run.description)
            if run and rec_run.failure is None:
                raise ToolError(f"nothing failed in that window of {rec_run.process}, so there is no failure to "
                                "prove: widen the window (until_event = the crash, no last) or call without run")
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(source)
            return rec_run, source, recorded_node(rec)

        rec_run, source, rec_node = await in_thread(build)
        failure = rec_run.failure
        ex = None
        if run and (app_files or mix_project):
            ex = await in_thread(run_test, source, app_files=[Path(f) for f in app_files],
                                 mix_project=Path(mix_project) if mix_project else None, expected=failure.recorded)
        elif run:
            from elixir_scope.instrument.object_code import fetch_object_code

            conn = await app_state(ctx).connection(node or rec_node)
            with tempfile.TemporaryDirectory(prefix="es_beams_") as folder:
                code = await fetch_object_code(conn, rec_run.module, Path(folder))
                ex = await in_thread(run_test, source, code_paths=[code.folder], expected=failure.recorded)
        return ExUnitReport(
            module=exunit_module_name(rec_run.module), window=rec_run.description,
            failing_callback=f"{failure.callback.value} [{failure.source}]" if failure else None,
            source=source[:MAX_SOURCE_CHARS], source_truncated=len(source) > MAX_SOURCE_CHARS,
            path=str(path) if path is not None else None,
            ran=ex is not None, fails_as_recorded=ex.fails_as_recorded if ex else None,
            failure_banner=ex.failures[0].banner if ex and ex.failures else None,
            output_tail=ex.output[-1500:] if ex else None)

    if not config.allow_mutations:
        return

    @server.tool(annotations=DESTRUCTIVE)
    @tool_errors
    async def replay(
        ctx: Context,
        process: ProcessArg,
        recording: RecordingArg = None,
        until_event: UntilEvent = None,
        last: Last = None,
        module: ModuleArg = None,
        without_event: Annotated[int | None, Field(
            description="Counterfactual: also replay without this invocation (its call event id, the receive "
                        "event of its message, or a state event of it) and say whether the failure needs it.")] = None,
        step_timeout: Annotated[float, Field(gt=0, le=60, description="Seconds per callback.")] = 5.0,
        node: Annotated[str | None, Field(description="Node to replay on (name@host); omit for the node the "
                                          "recording was made on.")] = None,
    ) -> ReplayAnswer:
        """Re-run a recorded GenServer's callbacks in a scratch process on the node, from the
        recorded state with the recorded messages, and compare each outcome with the recording
        (verdict reproduced / diverged). With without_event, test a hypothesis: confirmed (the
        failure goes away without that message), refuted (it persists) or undetermined (why).
        RUNS THE MODULE'S CODE on the node (never in the recorded process): callbacks with side
        effects do them again."""
        from elixir_scope.instrument.counterfactual import counterfactual, find_suspect
        from elixir_scope.instrument.replay_recording import replay_run

        rec, rec_run = await in_thread(_run, ctx, recording, process, module, until_event, last)
        notes = run_notes(rec_run)
        conn = await app_state(ctx).connection(node or recorded_node(rec))
        if without_event is None:
            result = await replay_run(conn, rec_run, step_timeout=step_timeout)
            return ReplayAnswer(replay=replay_report(result, process=rec_run.process, window=rec_run.description,
                                                     notes=notes, initial_state=rec_run.initial_state),
                                counterfactual=None)
        index = await in_thread(find_suspect, rec, rec_run, without_event)
        cf = await counterfactual(conn, rec_run.module, rec_run.initial_state, rec_run.invocations, index,
                                  notes=notes, step_timeout=step_timeout)
        cf = dc_replace(cf, source=rec_run.description)
        return ReplayAnswer(replay=None, counterfactual=counterfactual_report(
            cf, process=rec_run.process, initial_state=rec_run.initial_state))
