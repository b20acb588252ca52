"""How live node facts look in a terminal: node overview, process tables, supervision trees.

Shared by ``overview``/``processes``/``process``/``tree`` and ``demo``. Input is the typed
models of ``mcp_server.live_models`` (the same the MCP tools return), so the terminal and an
LLM client see the same facts in the same Elixir notation.
"""

from __future__ import annotations

from rich.tree import Tree

from elixir_scope.mcp_server.live_models import (
    NodeOverview,
    ProcessDetailsModel,
    ProcessRow,
    SupervisorModel,
)

from .render import Output, human_bytes, safe


def show_overview(out: Output, ov: NodeOverview) -> None:
    mem = ov.memory_bytes
    out.fields(f"Node {ov.node}", [
        ("OTP / ERTS", f"{ov.otp_release} / {ov.erts_version}"),
        ("Elixir", ov.elixir_version or "-"),
        ("uptime", ov.uptime),
        ("processes", f"{ov.process_count} of {ov.process_limit}"),
        ("ports", str(ov.port_count)),
        ("schedulers", f"{ov.schedulers_online} online of {ov.schedulers}"),
        ("memory", f"{human_bytes(mem.get('total'))} total, {human_bytes(mem.get('processes'))} processes, "
                   f"{human_bytes(mem.get('ets'))} ETS, {human_bytes(mem.get('binary'))} binaries, "
                   f"{human_bytes(mem.get('code'))} code"),
        ("applications", ", ".join(f"{a.name} {a.version}" for a in ov.applications)),
    ])


def process_names(r: ProcessRow) -> str:
    """``SampleApp.Cart``, ``[cart 42]`` (a process label or app-kept name), ``[via {MyApp.Registry,
    "user-42"}]`` (a Registry name), several of them, or else the initial call."""
    names = [r.name] if r.name else []
    names += [f"[{n}]" for n in (r.label, r.process_name) if n]
    names += [f"[global {r.global_name}]"] if r.global_name else []
    names += [f"[via {v}]" for v in r.registry_names]
    return " ".join(names) or r.initial_call or ""


def show_processes(out: Output, rows: list[ProcessRow], title: str) -> None:
    out.table(title, ["pid", "process", "current function", "behaviour", "mailbox", "memory", "reductions"],
              [[r.pid, process_names(r), r.current_function or "", r.behaviour or "",
                str(r.message_queue_len), human_bytes(r.memory), str(r.reductions)]
               for r in rows],
              right=("mailbox", "memory", "reductions"))


def show_details(out: Output, d: ProcessDetailsModel) -> None:
    p = d.process
    out.fields(f"Process {p.pid}" + (f" ({p.name})" if p.name else f" [{d.label}]" if d.label else ""), [
        ("initial call", p.initial_call or "-"), ("current function", p.current_function or "-"),
        ("behaviour", p.behaviour or "-"), ("status", p.status),
        ("mailbox", str(p.message_queue_len)), ("memory", human_bytes(p.memory)),
        ("reductions", str(p.reductions)), ("trap_exit", str(d.trap_exit).lower()),
        ("priority", d.priority), ("heap / stack (words)", f"{d.total_heap_size} / {d.stack_size}"),
        ("links", ", ".join(d.links) or "-"), ("monitors", ", ".join(d.monitors) or "-"),
        ("monitored by", ", ".join(d.monitored_by) or "-"), ("group leader", d.group_leader),
        ("dictionary keys", ", ".join(d.dictionary_keys) or "-"),
    ])
    for m in d.pg_groups:
        more = f" (+{m.count - len(m.groups)} more)" if m.count > len(m.groups) else ""
        out.line(f":pg scope {m.scope}: {', '.join(m.groups)}{more}" + (" (a large scope: only part of it was read)" if m.partial else ""))
    if d.pg_note:
        out.line(d.pg_note)
    if d.current_stacktrace:
        out.line("stacktrace:")
        for frame in d.current_stacktrace:
            out.line(f"  {frame}")


def _sup_label(s: SupervisorModel) -> str:
    name = safe(s.name or s.pid)
    extra = f" [dim]{safe(str(s.kind))}, {safe(s.strategy or '?')} {safe(s.pid)}[/dim]"
    app = f" [cyan](application {safe(s.application)})[/cyan]" if s.application else ""
    return f"[bold]{name}[/bold]{extra}{app}"


def _add(tree: Tree, s: SupervisorModel) -> None:
    for c in s.children:
        if c.supervisor is not None:
            _add(tree.add(_sup_label(c.supervisor)), c.supervisor)
        else:
            label = c.id if c.id not in ("nil", ":undefined") else ", ".join(c.modules)
            tree.add(f"{safe(label)} [dim]{safe(str(c.type))}, {safe(str(c.restart or '?'))} "
                     f"{safe(str(c.pid or c.status))}[/dim]")
    if s.truncated:
        tree.add("[yellow]... more children (--max-children)[/yellow]")


def show_trees(out: Output, trees: list[SupervisorModel]) -> None:
    if not trees:
        out.line("no application has a supervision tree")
        return
    for s in trees:
        root = Tree(_sup_label(s))
        _add(root, s)
        out.tree(root)
