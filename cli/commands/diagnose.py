"""``analyze`` (static analysis of Elixir sources) and ``diagnose`` (symptom → root cause with
evidence; docs/diagnosis.md). Both import their heavy libraries only when run."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ..errors import CliError
from ..render import Output
from ..session import config_from, opened_store, recording_syntax, term_syntax


def register(sub, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("analyze", parents=[common], help="static analysis of Elixir sources: roles, risk flags, what to trace")
    p.add_argument("path", type=Path, help="folder with the .ex files (an app, umbrella root or lib/)")
    p.add_argument("--symptom", help="rank trace specs for this problem, e.g. 'checkout times out'")
    p.add_argument("--focus", action="append", default=[], help="a module or function you suspect (repeatable)")
    p.add_argument("--limit", type=int, default=10)
    p.add_argument("--include-tests", action="store_true", help="also analyze test/ folders and .exs scripts")
    p.set_defaults(run=run_analyze)

    p = sub.add_parser("diagnose", parents=[common], help="find the root cause of a symptom, with evidence",
                       description="Record what matters for SYMPTOM on the node (or read --recording), run the "
                       "failure detectors and explain the root cause with evidence and a fix.")
    p.add_argument("target", nargs="?", help="node name@host (or use --node); omit with --recording")
    p.add_argument("--cluster", action="store_true",
                   help="also record every node connected to the target (its erlang:nodes()); or name the further "
                        "nodes with --node repeated. The trigger runs on the target")
    p.add_argument("symptom", help="what goes wrong, in words")
    p.add_argument("--recording", type=int, help="diagnose this existing recording instead of recording anew")
    p.add_argument("--trigger", help="Elixir expression run on the node to reproduce the problem")
    p.add_argument("--sources", help="folder with the application's Elixir sources (for code locations)")
    p.add_argument("--include-tests", action="store_true", help="with --sources: also analyze test/ folders and .exs scripts")
    p.add_argument("--focus", action="append", default=[], help="a module or process you suspect (repeatable)")
    p.add_argument("--seconds", type=float, default=5.0, help="how long to record (after the trigger)")
    p.add_argument("--max-rounds", type=int, default=3,
                   help="capture rounds at most: an undecided round is followed by a refocused one (default 3)")
    p.add_argument("--time-budget", type=float, default=180.0,
                   help="seconds for the whole diagnosis; no new round starts past it (default 180)")
    p.add_argument("--rpc-timeout", type=float, metavar="SECONDS",
                   help="how long each call of the survey and of loading the agent may wait for a busy node "
                        "before the diagnosis ends with a report saying so (default: 10 s the survey, 20 s the "
                        "agent; the question of the node's language waits at most 5 s)")
    p.add_argument("--stop-timeout", type=float, default=30.0, metavar="SECONDS",
                   help="how long the end of a round waits for the agent's last records; past it the round ends "
                        "with `deadline` and the diagnosis goes on (default 30)")
    p.add_argument("--confirm-by-replay", action="store_true",
                   help="replay the blamed callbacks on the node with and without the suspected message, and run "
                        "the generated ExUnit test once (runs the module's code on the node)")
    p.add_argument("--report", type=Path, help="also write the Markdown report to this file")
    p.add_argument("--checkpoint", type=Path, help="checkpoint the diagnosis graph in this SQLite file")
    p.add_argument("--thread", help="with --checkpoint: the diagnosis's id in that file (default: a new one, printed)")
    p.add_argument("--resume", action="store_true",
                   help="with --checkpoint and --thread: continue an interrupted diagnosis from its last completed step")
    p.set_defaults(run=run_diagnose)


def run_analyze(args: argparse.Namespace, out: Output) -> int:
    from elixir_scope.knowledge.source import analyze_tree, rank_candidates
    from elixir_scope.knowledge.source.pitfalls import CATALOGUE, scan_tree

    if not args.path.is_dir():
        raise CliError(f"{args.path} is not a folder", "pass the folder holding the application's .ex files")
    result = analyze_tree(args.path, include_tests=args.include_tests)
    cands = rank_candidates(result, args.symptom, limit=args.limit, focus=args.focus) if args.symptom else []
    flags = result.flags[: args.limit]
    pitfalls = scan_tree(args.path, include_tests=args.include_tests).hits[: args.limit]
    if out.json_mode:
        out.emit_json({
            "root": str(args.path), "files": result.files, "lines": result.lines,
            "modules": [{"name": m.name, "roles": [str(getattr(r, "value", r)) for r in m.roles], "file": m.file}
                        for m in result.modules],
            "flags": [{"kind": str(getattr(f.kind, "value", f.kind)), "severity": f.severity, "message": f.message,
                       "where": [str(x) for x in f.locations]} for f in flags],
            "candidates": [{"spec": c.spec, "score": c.score, "reasons": list(c.reasons)} for c in cands],
            "pitfalls": [{"pitfall": h.pitfall, "family": h.family, "title": h.title, "spec": h.spec,
                          "where": f"{h.file}:{h.line}", "code": h.code, "fix": CATALOGUE[h.pitfall].fix}
                         for h in pitfalls],
        })
        return 0
    out.fields(f"{args.path}", [("files", str(result.files)), ("lines", str(result.lines)),
                                ("modules", str(len(result.modules)))])
    roled = [m for m in result.modules if m.roles]
    if roled:
        out.table("Processes", ["module", "roles", "file"],
                  [[m.name, ", ".join(str(getattr(r, "value", r)) for r in m.roles), f"{m.file}:{m.line}"] for m in roled])
    if flags:
        out.table("Risk flags", ["kind", "severity", "message", "where"],
                  [[str(getattr(f.kind, "value", f.kind)), f.severity, f.message, "\n".join(str(x) for x in f.locations[:3])]
                   for f in flags])
    if pitfalls:
        out.table("Known pitfalls (docs/source-analysis.md)", ["pitfall", "function", "where", "code"],
                  [[h.title, h.spec, f"{h.file}:{h.line}", h.code] for h in pitfalls])
    if cands:
        out.table(f"What to trace first for {args.symptom!r}", ["spec", "score", "why"],
                  [[c.spec, f"{c.score:.1f}", "; ".join(c.reasons)] for c in cands])
    return 0


async def run_diagnose(args: argparse.Namespace, out: Output) -> int:
    from elixir_scope.agents.context import DiagnosisContext
    from elixir_scope.agents.graph import diagnose
    from elixir_scope.agents.report import render_markdown
    from elixir_scope.agents.state import DiagnosisInput
    from elixir_scope.instrument.cluster import ClusterError, cluster_members, connect_nodes
    from elixir_scope.instrument.dist import Node
    from elixir_scope.instrument.etf.syntax import printing
    from elixir_scope.mcp_server.tools.diagnose import llm_config

    config = config_from(args)
    waits = _waits(args, config)
    node_name = args.target or config.default_node
    if args.recording is None and not node_name:
        raise CliError("no target node given", "pass the node (diagnose app@host \"symptom\"), --node, or --recording ID")
    further = [n for n in (getattr(args, "nodes", None) or []) if n != node_name]
    if args.recording is not None and (further or args.cluster):
        raise CliError("--recording diagnoses a saved recording: it takes no further nodes",
                       "drop --cluster / the extra --node, or drop --recording to record the nodes anew")

    async def progress(message: str, fraction: float) -> None:
        out.note(f"[{fraction * 100:3.0f}%] {message}")

    if (args.resume or args.thread) and not args.checkpoint:
        raise CliError("--resume and --thread need --checkpoint FILE", "pass the checkpoint file the diagnosis wrote")
    if args.resume and not args.thread:
        raise CliError("--resume needs --thread ID", "the id was printed when the diagnosis started")
    checkpointer = None
    thread = args.thread
    if args.checkpoint:
        import uuid

        thread = thread or f"diagnosis-{uuid.uuid4().hex[:12]}"
        out.note(f"checkpointing as thread {thread} in {args.checkpoint} (resume with --checkpoint "
                 f"{args.checkpoint} --thread {thread} --resume)")
        from elixir_scope.agents.checkpoints import sqlite_checkpointer

        saver_cm = sqlite_checkpointer(args.checkpoint)
        checkpointer = await saver_cm.__aenter__()
    try:
        with opened_store(args, must_exist=args.recording is not None) as store:
            async with Node() as dist:
                conn, peers = None, []
                if args.recording is None:
                    conn = await dist.connect(node_name, cookie=config.cookie, timeout=args.timeout)
                    try:
                        if args.cluster:  # every node connected to the target (its erlang:nodes())
                            members = await cluster_members(dist, node_name, cookie=config.cookie)
                            further += [n for n in members[1:] if n not in further]
                        peers = await connect_nodes(dist, further, cookie=config.cookie, timeout=args.timeout) \
                            if further else []
                    except ClusterError as exc:
                        raise CliError(str(exc), "check the node names (name@host) and that they share the cookie") \
                            from exc
                    if peers:
                        out.note("recording " + ", ".join([conn.node_name, *(p.node_name for p in peers)]))
                ctx = DiagnosisContext(store=store, conn=conn, peers=peers, dist_node=dist if conn else None,
                                       connect_node=(lambda n: dist.connect(n, cookie=config.cookie,
                                                                            timeout=args.timeout)) if conn else None,
                                       knowledge_dir=config.knowledge_dir, llm=llm_config(config), progress=progress,
                                       confirm_by_replay=args.confirm_by_replay, **waits)
                sx = await term_syntax(args, conn, min(5.0, args.rpc_timeout or 5.0)) if conn is not None \
                    else _recording_syntax(args, store)
                with printing(sx):  # the report speaks the node's language
                    if args.resume:
                        from elixir_scope.agents.graph import resume

                        try:
                            report = await resume(ctx, checkpointer=checkpointer, thread_id=thread)
                        except ValueError as exc:
                            raise CliError(str(exc), "check --checkpoint and --thread") from exc
                    else:
                        report = await diagnose(DiagnosisInput(
                            symptom=args.symptom, node=node_name if conn else None,
                            nodes=[p.node_name for p in peers], focus=args.focus,
                            source_path=args.sources, include_tests=args.include_tests, trigger=args.trigger,
                            seconds=args.seconds, max_rounds=args.max_rounds, time_budget=args.time_budget,
                            recording_id=args.recording), ctx, checkpointer=checkpointer, thread_id=thread)
    finally:
        if checkpointer is not None:
            await saver_cm.__aexit__(None, None, None)
    with printing(sx):
        md = render_markdown(report)
    if args.report:
        args.report.write_text(md)
    if out.json_mode:
        out.console.file.write(report.to_json() + "\n")
    else:
        out.markdown(md)
    return 0 if report.verdict != "inconclusive" else 3


def _waits(args: argparse.Namespace, config: Any) -> dict[str, Any]:
    """``--rpc-timeout`` and ``--stop-timeout`` as the diagnosis context's waits, over the
    configuration's attach timeouts (checked here: a wrong value is a clear error before
    anything is connected)."""
    from dataclasses import replace

    from elixir_scope.instrument.agent.attach import DEFAULT_TIMEOUTS

    base = config.attach_timeouts or DEFAULT_TIMEOUTS
    for flag, v in (("--rpc-timeout", args.rpc_timeout), ("--stop-timeout", args.stop_timeout)):
        if v is not None and not 0 < v <= 600:
            raise CliError(f"{flag} must be a number of seconds in (0, 600], got {v:g}", f"pass e.g. {flag} 5")
    waits: dict[str, Any] = {"stop_timeout": args.stop_timeout, "attach_timeouts": base}
    if args.rpc_timeout is not None:
        rpc = args.rpc_timeout
        waits["survey_timeout"] = rpc
        waits["attach_timeouts"] = replace(base, rpc=rpc, probe=min(rpc, base.probe))
    return waits


def _recording_syntax(args: argparse.Namespace, store: Any) -> Any:
    """The language of ``--recording``'s node; Elixir when it cannot be read (the diagnosis
    then says why)."""
    from elixir_scope.instrument.etf.syntax import ELIXIR

    try:
        return recording_syntax(args, store.recording(args.recording))
    except Exception:
        return ELIXIR
