"""Live inspection from the terminal: ``state``, ``mailbox``, ``ets``, ``logs``,
``schedulers``, ``memory``, ``ports``, ``env``, ``pg``. The same calls and models as the MCP live
tools (``mcp_server.inspect_models``): terms redacted and cut on the node, printed in the
node's syntax (``--syntax`` overrides), ``--json`` for scripts."""

from __future__ import annotations

import argparse
import asyncio

from elixir_scope.mcp_server import inspect_models as im

from ..process_arg import add_process_args, process_of, process_text
from ..render import Output, human_bytes
from ..session import attached, term_syntax

LEVELS = ["debug", "info", "notice", "warning", "error", "critical", "alert", "emergency"]
TEXT_BUDGET = 64_000  # bytes of terms a command prints (a terminal is not a context window, but still bounded)


def register(sub, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("state", parents=[common], help="live state of a GenServer / gen_statem (sys:get_state)")
    add_process_args(p)
    p.add_argument("--timeout-ms", type=int, default=5000, help="how long the process may take to answer")
    p.add_argument("--max-bytes", type=int, default=65536, help="largest encoded state sent back (cut on the node)")
    p.set_defaults(run=run_state)

    p = sub.add_parser("mailbox", parents=[common], help="the first messages waiting in a process's mailbox")
    add_process_args(p)
    p.add_argument("--limit", type=int, default=10)
    p.set_defaults(run=run_mailbox)

    p = sub.add_parser("ets", parents=[common], help="ETS tables, or the first objects of one table")
    p.add_argument("table", nargs="?", help="a table name or #Ref<...> id: show its first objects")
    p.add_argument("--find", metavar="TEXT", help="only tables whose name or owner contains TEXT")
    p.add_argument("--sort", choices=["memory", "size", "name"], default="memory")
    p.add_argument("--limit", type=int, default=30)
    p.set_defaults(run=run_ets)

    p = sub.add_parser("logs", parents=[common], help="log events of the node while this command watches")
    p.add_argument("--seconds", type=float, default=10.0, help="how long to collect (logger keeps no history)")
    p.add_argument("--level", choices=LEVELS, default="debug", help="lowest level shown")
    p.add_argument("--grep", metavar="TEXT", default="", help="only events whose text contains TEXT")
    p.add_argument("--limit", type=int, default=200)
    p.set_defaults(run=run_logs)

    p = sub.add_parser("schedulers", parents=[common], help="scheduler utilization over an interval")
    p.add_argument("--interval-ms", type=int, default=1000)
    p.set_defaults(run=run_schedulers)

    p = sub.add_parser("memory", parents=[common], help="memory by kind and by allocator")
    p.set_defaults(run=run_memory)

    p = sub.add_parser("ports", parents=[common], help="sockets, open files and programs with their owners")
    p.add_argument("--kind", choices=["all", "sockets", "files", "programs"], default="all")
    p.add_argument("--limit", type=int, default=100)
    p.set_defaults(run=run_ports)

    p = sub.add_parser("env", parents=[common], help="an application's environment (secrets redacted), or the list")
    p.add_argument("application", nargs="?", help="e.g. sample_app; omit to list the applications")
    p.set_defaults(run=run_env)

    p = sub.add_parser("pg", parents=[common], help=":pg process groups: the scopes, a scope's groups, one group's members")
    p.add_argument("scope", nargs="?", help="pg (the default scope) or an app's scope (MyApp.PubSub); omit to list the scopes")
    p.add_argument("--group", metavar="LITERAL", help='one group, as an Elixir literal: :workers, \'"lobby"\', \'{:room, 42}\'')
    p.add_argument("--limit", type=int, default=100, help="groups to list (default 100, at most 500)")
    p.add_argument("--members", type=int, default=10, help="members shown per group (default 10, at most 100)")
    p.set_defaults(run=run_pg)


async def run_state(args: argparse.Namespace, out: Output) -> int:
    from elixir_scope.instrument.introspect import LiveOptions, get_state

    who = process_of(args)
    async with attached(args) as conn:
        sx = await term_syntax(args, conn)
        st = await get_state(conn, who, timeout_ms=args.timeout_ms,
                             options=LiveOptions(max_bytes=args.max_bytes))
        model = im.state_result(conn.node_name, st, sx)
    if out.json_mode:
        out.emit_json(model)
        return 0
    pairs = [("pid", model.pid), ("module", model.module or "-"), ("behaviour", model.behaviour or "-")]
    if model.state_name is not None:
        pairs += [("state name", model.state_name), ("data", model.data or "")]
    else:
        pairs.append(("state", model.state))
    notes = [n for n, on in (("cut on the node (--max-bytes)", model.truncated), ("values redacted", model.redacted)) if on]
    if notes:
        pairs.append(("note", "; ".join(notes)))
    out.fields(f"State of {process_text(who)}", pairs)
    return 0


async def run_mailbox(args: argparse.Namespace, out: Output) -> int:
    from elixir_scope.instrument.introspect import peek_mailbox

    who = process_of(args)
    async with attached(args) as conn:
        sx = await term_syntax(args, conn)
        model = im.mailbox_result(conn.node_name, await peek_mailbox(conn, who, limit=args.limit), sx, TEXT_BUDGET)
    if out.json_mode:
        out.emit_json(model)
    elif model.too_long_to_copy:
        out.line(f"{process_text(who)} {model.pid}: {model.length} messages waiting, too many to copy safely")
    else:
        out.table(f"{process_text(who)} {model.pid}: {model.length} waiting, first {model.shown}", ["#", "message"],
                  [[str(i + 1), m] for i, m in enumerate(model.messages)])
    return 0


async def run_ets(args: argparse.Namespace, out: Output) -> int:
    from elixir_scope.instrument.introspect import ets_sample, ets_tables

    async with attached(args) as conn:
        sx = await term_syntax(args, conn)
        if args.table:
            model = im.sample_result(conn.node_name, await ets_sample(conn, args.table, limit=args.limit), sx, TEXT_BUDGET)
        else:
            tables, _total = await ets_tables(conn)
            rows = [im.table_row(t, sx) for t in tables]
    if args.table:
        if out.json_mode:
            out.emit_json(model)
        else:
            t = model.table
            out.table(f"{t.table}: {t.size} objects ({t.type}/{t.protection}, owner {t.owner_name or t.owner}), "
                      f"first {model.shown}", ["#", "object"], [[str(i + 1), o] for i, o in enumerate(model.objects)])
        return 0
    if args.find:
        needle = args.find.lower()
        rows = [r for r in rows if needle in r.name.lower() or needle in (r.owner_name or "").lower()]
    rows.sort(key={"memory": lambda r: -r.memory_bytes, "size": lambda r: -r.size, "name": lambda r: r.name}[args.sort])
    rows = rows[: args.limit]
    if out.json_mode:
        out.emit_json(rows)
    else:
        out.table(f"ETS tables by {args.sort}", ["table", "objects", "memory", "type", "protection", "owner"],
                  [[r.table, str(r.size), human_bytes(r.memory_bytes), r.type, r.protection, r.owner_name or r.owner or ""]
                   for r in rows], right=["objects", "memory"])
    return 0


async def run_logs(args: argparse.Namespace, out: Output) -> int:
    from elixir_scope.instrument.introspect import read_logs, release_log_ring, start_log_ring

    if not 0 < args.seconds <= 3600:
        from ..errors import CliError

        raise CliError(f"--seconds must be between 0 and 3600, got {args.seconds}", "e.g. --seconds 30")
    async with attached(args) as conn:
        sx = await term_syntax(args, conn)
        owner = conn.node.mailbox()
        ring = await start_log_ring(conn, owner.pid)
        out.note(f"collecting log events from {conn.node_name} for {args.seconds:g} s (logger keeps no history)")
        after, rows = ring.last_seq, []
        deadline = asyncio.get_running_loop().time() + args.seconds
        while True:
            page = await read_logs(conn, after_seq=after, min_level=args.level, text=args.grep, limit=500)
            for e in page.events:
                row = im.log_row(e, sx)
                rows.append(row)
                if not out.json_mode:
                    out.line(f"{row.time} [{row.level}] {row.pid or ''} {row.text}")
            after = page.events[-1].seq if page.events else page.last_seq
            if len(rows) >= args.limit or asyncio.get_running_loop().time() >= deadline:
                break
            await asyncio.sleep(0.25)
        await release_log_ring(conn, owner.pid)
    if out.json_mode:
        out.emit_json(rows[: args.limit])
    elif not rows:
        out.line("no log events in that time")
    return 0


async def run_schedulers(args: argparse.Namespace, out: Output) -> int:
    from elixir_scope.instrument.introspect import scheduler_usage

    async with attached(args) as conn:
        model = im.scheduler_result(conn.node_name, await scheduler_usage(conn, interval_ms=args.interval_ms))
    if out.json_mode:
        out.emit_json(model)
        return 0
    out.line(f"over {model.interval_ms} ms: normal {model.normal_average:.0%}, dirty cpu {model.dirty_cpu_average:.0%}, "
             f"dirty io {model.dirty_io_average:.0%}; {model.online} online; run queue {model.run_queue}")
    out.table(None, ["scheduler", "type", "busy"], [[str(s.id), s.type, f"{s.utilization:.1%}"] for s in model.schedulers],
              right=["busy"])
    return 0


async def run_memory(args: argparse.Namespace, out: Output) -> int:
    from elixir_scope.instrument.introspect import memory_usage

    async with attached(args) as conn:
        model = im.memory_result(conn.node_name, await memory_usage(conn))
    if out.json_mode:
        out.emit_json(model)
        return 0
    out.fields(f"Memory of {model.node}", [(k, human_bytes(v)) for k, v in model.by_kind.items()])
    out.table("Allocators", ["allocator", "held from OS", "in use", "used"],
              [[a.allocator, human_bytes(a.carriers_bytes), human_bytes(a.blocks_bytes), f"{a.utilization:.0%}"]
               for a in model.allocators], right=["held from OS", "in use", "used"])
    return 0


async def run_ports(args: argparse.Namespace, out: Output) -> int:
    from elixir_scope.instrument.introspect import ports

    async with attached(args) as conn:
        sx = await term_syntax(args, conn)
        rows = im.filter_ports(im.port_rows(await ports(conn), sx), args.kind)
    total = len(rows)
    rows = rows[: args.limit]
    if out.json_mode:
        out.emit_json(rows)
        return 0
    out.table(f"{total} {args.kind if args.kind != 'all' else 'ports, files and sockets'}"
              + (f" (first {len(rows)})" if total > len(rows) else ""),
              ["kind", "id", "local / path", "peer", "owner"],
              [[r.kind, r.id, r.local or "", r.peer or "", r.owner_name or r.owner or ""] for r in rows])
    return 0


async def run_env(args: argparse.Namespace, out: Output) -> int:
    from elixir_scope.instrument.introspect import app_env, applications

    async with attached(args) as conn:
        sx = await term_syntax(args, conn)
        if args.application is None:
            apps = await applications(conn)
        else:
            env = await app_env(conn, args.application)
            entries = im.env_entries(env, sx)
    if args.application is None:
        if out.json_mode:
            out.emit_json([{"application": a.application, "running": a.running, "env_keys": a.env_keys} for a in apps])
        else:
            out.table("Applications", ["application", "running", "env keys"],
                      [[a.application, "yes" if a.running else "loaded", str(a.env_keys)] for a in apps], right=["env keys"])
        return 0
    if out.json_mode:
        out.emit_json(entries)
    else:
        out.table(f"Environment of {env.application}", ["key", "value"], [[e.key, e.value] for e in entries])
    return 0


async def run_pg(args: argparse.Namespace, out: Output) -> int:
    from elixir_scope.mcp_server.process_rows import pg_view

    async with attached(args) as conn:
        sx = await term_syntax(args, conn)
        model = await pg_view(conn, sx, args.scope, args.group, limit=args.limit, member_limit=args.members)
    if out.json_mode:
        out.emit_json(model)
    elif args.scope is None:
        out.table(f":pg scopes on {model.node}", ["scope", "groups"], [[s.scope, str(s.groups)] for s in model.scopes],
                  right=["groups"])
    else:
        out.table(f"{model.scope}: {model.total_groups} groups", ["group", "members", "first members"],
                  [[g.group, str(g.members), ", ".join(g.first_members)] for g in model.groups], right=["members"])
    if model.hint and not out.json_mode:
        out.line(model.hint)
    return 0
