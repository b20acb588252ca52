"""Output models for live introspection (node overview, processes, supervision trees).

Converted once from ``instrument.introspect``'s dataclasses: pids, names and MFAs become
Elixir text (``#PID<0.123.0>``, ``SampleApp.Cart``, ``:gen_server.loop/7``), so the MCP tools
and the command line's ``--json`` say the same thing in the same words.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from elixir_scope.instrument.etf import Atom
from elixir_scope.instrument.etf.inspect import inspect
from elixir_scope.instrument.etf.syntax import ELIXIR, TermSyntax

from .models import term_text
from .pg_models import PgMembershipRow, membership_rows


def name_text(name: str | None) -> str | None:
    """A module or registered name as Elixir prints it (``SampleApp.Cart``, ``:logger``)."""
    return inspect(Atom(name)) if name else None


def mfa_text(mfa: Any) -> str | None:
    """``SampleApp.Cart.init/1`` / ``:gen_server.loop/7``."""
    if mfa is None:
        return None
    if mfa.module == "supervisor" and mfa.arity == 1:  # proc_lib's {supervisor, CallbackModule, 1}
        return f":supervisor ({name_text(mfa.function)})"
    return f"{name_text(mfa.module)}.{inspect(Atom(mfa.function))[1:] if _needs_quotes(mfa.function) else mfa.function}/{mfa.arity}"


def _needs_quotes(fun: str) -> bool:
    return inspect(Atom(fun)).startswith(':"')


def duration_text(ms: int) -> str:
    s = ms // 1000
    d, s = divmod(s, 86400)
    h, s = divmod(s, 3600)
    m, s = divmod(s, 60)
    return (f"{d}d " if d else "") + f"{h:02d}:{m:02d}:{s:02d}"


class ApplicationRow(BaseModel):
    name: str
    version: str
    description: str


class NodeOverview(BaseModel):
    """What runs on a node, at a glance."""

    node: str
    otp_release: str
    erts_version: str
    elixir_version: str | None
    architecture: str
    uptime: str
    uptime_ms: int
    process_count: int
    process_limit: int
    port_count: int
    schedulers: int
    schedulers_online: int
    memory_bytes: dict[str, int] = Field(description="erlang:memory/0 by category, in bytes.")
    applications: list[ApplicationRow]


def node_overview_model(info: Any) -> NodeOverview:
    mem = info.memory
    return NodeOverview(
        node=info.name, otp_release=info.otp_release, erts_version=info.erts_version,
        elixir_version=info.elixir_version, architecture=info.system_architecture,
        uptime=duration_text(info.uptime_ms), uptime_ms=info.uptime_ms,
        process_count=info.process_count, process_limit=info.process_limit, port_count=info.port_count,
        schedulers=info.schedulers, schedulers_online=info.schedulers_online,
        memory_bytes={f: getattr(mem, f) for f in mem.__dataclass_fields__},
        applications=[ApplicationRow(name=a.name, version=a.version, description=a.description)
                      for a in info.applications],
    )


class ProcessRow(BaseModel):
    """One live process."""

    pid: str
    name: str | None = Field(description="Registered name, if any.")
    initial_call: str | None
    current_function: str | None
    behaviour: str | None = Field(description="gen_server, supervisor, gen_statem, ... when known.")
    status: str
    message_queue_len: int
    memory: int = Field(description="Bytes.")
    reductions: int
    label: str | None = Field(default=None, description="The process label (proc_lib:set_label/1 on OTP 27+, the '$process_label' dictionary entry), when it has one.")
    process_name: str | None = Field(default=None, description="The name the application keeps in the process dictionary under process_name (RabbitMQ style), when it has one.")
    global_name: str | None = Field(default=None, description="The name it is registered under with global ({:global, name} / {global, Name} via names), when it has one.")
    registry_names: list[str] = Field(default_factory=list, description="The Elixir Registry names it holds, as {Registry, key} (first 5): pass one to get_state / peek_mailbox / process_details as process='{:via, Registry, {MyApp.Registry, key}}' or as registry + key.")


def mfa_in(mfa: Any, sx: TermSyntax) -> str | None:
    """An MFA in ``sx``'s syntax (Elixir keeps ``mfa_text``'s wording)."""
    if not sx.erlang or mfa is None:
        return mfa_text(mfa)
    if mfa.module == "supervisor" and mfa.arity == 1:
        return f"supervisor ({sx.name(mfa.function)})"
    return sx.mfa(mfa.module, mfa.function, mfa.arity)


def process_row(p: Any, sx: TermSyntax = ELIXIR, names: Any = None) -> ProcessRow:
    """A live process summary; ``names`` its ``AppNames`` (label, process_name) when known."""
    return ProcessRow(
        pid=sx.pid(p.pid), name=sx.name(p.registered_name), initial_call=mfa_in(p.initial_call, sx),
        current_function=mfa_in(p.current_function, sx), behaviour=p.behaviour, status=p.status,
        message_queue_len=p.message_queue_len, memory=p.memory, reductions=p.reductions,
        label=_app_name(names.label if names else None, sx),
        process_name=_app_name(names.process_name if names else None, sx),
        global_name=_app_name(names.global_name if names else None, sx),
        registry_names=[_via_text(reg, key, sx) for reg, key in (names.registry_names if names else ())],
    )


def _via_text(registry: str, key: Any, sx: TermSyntax) -> str:
    """``{MyApp.Registry, "user-42"}`` (the ``{Registry, key}`` of a via-name) in ``sx``'s syntax."""
    return sx.term((Atom(registry), key.term), limit=10, printable_limit=200)


def _app_name(value: Any, sx: TermSyntax) -> str | None:
    """A label as text: a string label bare (``cart 42``), any other term in ``sx``'s syntax."""
    if value is None:
        return None
    term = value.term
    if isinstance(term, bytes) and not value.truncated:
        try:
            text = term.decode("utf-8")
            if text.isprintable():
                return text[:200]
        except UnicodeDecodeError:
            pass
    return sx.term(term, limit=10, printable_limit=200)


class ProcessDetailsModel(BaseModel):
    """One process in depth: what it is, what it is linked to, where it is now."""

    process: ProcessRow
    label: str | None = Field(default=None, description="The process label (proc_lib:set_label/1) or the process_name the application keeps, when it has one.")
    links: list[str]
    monitors: list[str]
    monitored_by: list[str]
    dictionary_keys: list[str]
    heap_size: int = Field(description="Words.")
    total_heap_size: int = Field(description="Words.")
    stack_size: int = Field(description="Words.")
    trap_exit: bool
    group_leader: str
    priority: str
    current_stacktrace: list[str]
    pg_groups: list[PgMembershipRow] = Field(default_factory=list, description="The :pg groups it is in, per running scope (pg_groups lists a scope's groups and members).")
    pg_note: str | None = Field(default=None, description="Why the :pg groups could not be read, when they could not.")


def process_details_model(d: Any, sx: TermSyntax = ELIXIR, pg: list[Any] = (),
                          pg_note: str | None = None) -> ProcessDetailsModel:
    """``d`` (``ProcessDetails``) with ``pg``, the ``PgMembership``s of the process."""
    t = sx.term
    return ProcessDetailsModel(
        process=process_row(d.summary, sx), label=t(d.label) if d.label is not None else None,
        links=[t(x) for x in d.links],
        monitors=[t(x) for x in d.monitors], monitored_by=[t(x) for x in d.monitored_by],
        dictionary_keys=[t(x) for x in d.dictionary_keys], heap_size=d.heap_size,
        total_heap_size=d.total_heap_size, stack_size=d.stack_size, trap_exit=d.trap_exit,
        group_leader=sx.pid(d.group_leader) or "", priority=d.priority,
        current_stacktrace=[_frame(f, sx) for f in d.current_stacktrace],
        pg_groups=membership_rows(list(pg), sx), pg_note=pg_note,
    )


def _frame(frame: Any, sx: TermSyntax = ELIXIR) -> str:
    """``{M, F, A, Location}`` as ``SampleApp.Cart.add/3 (lib/cart.ex:12)``."""
    if isinstance(frame, tuple) and len(frame) == 4 and isinstance(frame[0], Atom):
        m, f, a, loc = frame
        arity = a if isinstance(a, int) else len(a) if isinstance(a, list) else a
        where = ""
        if isinstance(loc, list):
            kv = {k.name: v for k, v in (x for x in loc if isinstance(x, tuple) and len(x) == 2)
                  if isinstance(k, Atom)}
            file, line = kv.get("file"), kv.get("line")
            if file is not None:
                ftxt = file.text if hasattr(file, "text") else term_text(file)
                where = f" ({ftxt}:{line})" if line is not None else f" ({ftxt})"
        if sx.erlang and isinstance(f, Atom):
            return f"{sx.mfa(m, f, arity)}{where}"
        return f"{inspect(m)}.{f.name if isinstance(f, Atom) else f}/{arity}{where}"
    return sx.term(frame)


class ChildRow(BaseModel):
    id: str
    pid: str | None
    status: str = Field(description="running, restarting, or undefined (not started).")
    type: str = Field(description="worker or supervisor")
    restart: str | None
    modules: list[str]
    supervisor: "SupervisorModel | None" = Field(default=None, description="The subtree, for a supervisor child.")


class SupervisorModel(BaseModel):
    pid: str
    name: str | None
    module: str | None
    strategy: str | None
    kind: str
    application: str | None
    children: list[ChildRow]
    truncated: bool = Field(description="More children exist than were listed (raise max_children).")


def supervisor_model(s: Any, sx: TermSyntax = ELIXIR) -> SupervisorModel:
    return SupervisorModel(
        pid=sx.pid(s.pid), name=sx.name(s.registered_name), module=sx.name(s.module),
        strategy=s.strategy, kind=s.kind, application=s.application, truncated=s.truncated,
        children=[ChildRow(
            id=sx.term(c.id, limit=5, printable_limit=80), pid=sx.pid(c.pid) if c.pid else None,
            status=c.status, type=c.type, restart=c.restart, modules=[sx.name(m) or m for m in c.modules],
            supervisor=supervisor_model(c.supervisor, sx) if c.supervisor is not None else None,
        ) for c in s.children],
    )


STRATEGY_MEANING = {
    "one_for_one": "a crashed child is restarted alone",
    "one_for_all": "a crashed child restarts all children",
    "rest_for_one": "a crashed child restarts itself and the children listed after it",
    "simple_one_for_one": "dynamic children of one spec, each restarted alone",
}


def tree_outline(sup: SupervisorModel, indent: str = "") -> list[str]:
    """A supervision tree as indented text lines (compact for a model to read); children of a
    static supervisor in start order."""
    head = sup.name or sup.pid
    meaning = STRATEGY_MEANING.get(sup.strategy or "")
    lines = [f"{indent}{head} [{sup.kind}, {sup.strategy or '?'}] {sup.pid}"
             + (f" (application {sup.application})" if sup.application else "")
             + (f" - {meaning}" if meaning else "")]
    for c in sup.children:
        if c.supervisor is not None:
            lines += tree_outline(c.supervisor, indent + "  ")
        else:
            label = c.id if c.id not in ("nil", ":undefined", "undefined") else ", ".join(c.modules)
            lines.append(f"{indent}  {label} [{c.type}, {c.restart or '?'}] {c.pid or c.status}")
    if sup.truncated:
        lines.append(f"{indent}  ... more children (raise max_children)")
    return lines


ChildRow.model_rebuild()
