"""OTP and framework role detection, and the callbacks each role's module implements.

A role is read from what the module writes, in this order of evidence:
`use X` (GenServer, Supervisor, DynamicSupervisor, Agent, Task, Application,
Phoenix.Controller/Channel/LiveView/LiveComponent, Ecto.Schema/Ecto.Repo), `@behaviour X`
(including `:gen_statem` and `:gen_server`), the Phoenix convention `use MyAppWeb, :live_view`
(the second argument names the role: :controller, :channel, :live_view, :live_component), and
calls the module makes (`Supervisor.init/2` → supervisor, `Agent.start_link(..., name:)` →
agent, `Task.Supervisor.*` → task_supervisor_user, `Registry.*` → registry_user,
`Phoenix.PubSub.*` → pubsub_user). Macros are not expanded: a module whose `use` goes through
a project macro that is not the Phoenix convention is not given a role it cannot be seen to
have.
"""

from __future__ import annotations

from .facts import ModuleFacts
from .model import FunctionInfo, RoleKind

USE_ROLES: dict[str, RoleKind] = {
    "GenServer": RoleKind.GENSERVER,
    ":gen_server": RoleKind.GENSERVER,
    "Supervisor": RoleKind.SUPERVISOR,
    ":supervisor": RoleKind.SUPERVISOR,
    "DynamicSupervisor": RoleKind.DYNAMIC_SUPERVISOR,
    "Application": RoleKind.APPLICATION,
    ":application": RoleKind.APPLICATION,
    "Agent": RoleKind.AGENT,
    "Task": RoleKind.TASK,
    ":gen_statem": RoleKind.GEN_STATEM,
    "GenStateMachine": RoleKind.GEN_STATEM,
    "Phoenix.Controller": RoleKind.PHOENIX_CONTROLLER,
    "Phoenix.Channel": RoleKind.PHOENIX_CHANNEL,
    "Phoenix.LiveView": RoleKind.PHOENIX_LIVE_VIEW,
    "Phoenix.LiveComponent": RoleKind.PHOENIX_LIVE_COMPONENT,
    "Ecto.Schema": RoleKind.ECTO_SCHEMA,
    "Ecto.Repo": RoleKind.ECTO_REPO,
}

#: `use MyAppWeb, :live_view` — the Phoenix generator's convention.
WEB_OPTIONS: dict[str, RoleKind] = {
    ":controller": RoleKind.PHOENIX_CONTROLLER,
    ":channel": RoleKind.PHOENIX_CHANNEL,
    ":live_view": RoleKind.PHOENIX_LIVE_VIEW,
    ":live_component": RoleKind.PHOENIX_LIVE_COMPONENT,
}

HINT_ROLES: dict[str, RoleKind] = {
    "supervisor_init": RoleKind.SUPERVISOR,
    "dynamic_supervisor_init": RoleKind.DYNAMIC_SUPERVISOR,
    "agent": RoleKind.AGENT,
    "task_supervisor_user": RoleKind.TASK_SUPERVISOR_USER,
    "registry_user": RoleKind.REGISTRY_USER,
    "pubsub_user": RoleKind.PUBSUB_USER,
}

#: The callbacks (name/arity) each role defines; the ones a module writes are reported.
CALLBACKS: dict[RoleKind, tuple[str, ...]] = {
    RoleKind.GENSERVER: ("init/1", "handle_call/3", "handle_cast/2", "handle_info/2", "handle_continue/2",
                         "terminate/2", "code_change/3", "format_status/1", "format_status/2"),
    RoleKind.SUPERVISOR: ("init/1",),
    RoleKind.DYNAMIC_SUPERVISOR: ("init/1",),
    RoleKind.APPLICATION: ("start/2", "stop/1", "prep_stop/1", "config_change/3", "start_phase/3"),
    RoleKind.GEN_STATEM: ("init/1", "callback_mode/0", "handle_event/4", "terminate/3", "code_change/4",
                          "format_status/1", "format_status/2"),
    RoleKind.PHOENIX_CHANNEL: ("join/3", "handle_in/3", "handle_out/3", "handle_info/2", "handle_call/3",
                               "handle_cast/2", "terminate/2"),
    RoleKind.PHOENIX_LIVE_VIEW: ("mount/3", "handle_params/3", "handle_event/3", "handle_info/2",
                                 "handle_call/3", "handle_cast/2", "handle_async/3", "render/1", "terminate/2"),
    RoleKind.PHOENIX_LIVE_COMPONENT: ("mount/1", "update/2", "update_many/1", "preload/1", "handle_event/3",
                                      "handle_async/3", "render/1"),
    RoleKind.ECTO_REPO: ("init/2",),
    RoleKind.TASK: ("start_link/1", "run/1"),
    RoleKind.AGENT: ("start_link/1",),
}

#: Roles whose callbacks run inside the module's own long-lived process.
PROCESS_ROLES = frozenset({RoleKind.GENSERVER, RoleKind.GEN_STATEM, RoleKind.AGENT, RoleKind.PHOENIX_CHANNEL,
                           RoleKind.PHOENIX_LIVE_VIEW, RoleKind.SUPERVISOR, RoleKind.DYNAMIC_SUPERVISOR})

#: Callbacks that run in the server process when another process talks to it.
SERVER_CALLBACKS = frozenset({"init", "handle_call", "handle_cast", "handle_info", "handle_continue",
                              "terminate", "handle_event", "handle_in", "mount", "handle_params", "code_change"})


def detect_roles(facts: ModuleFacts) -> tuple[RoleKind, ...]:
    roles: list[RoleKind] = []

    def add(role: RoleKind) -> None:
        if role not in roles:
            roles.append(role)

    for target, option in facts.uses:
        role = USE_ROLES.get(target)
        if role is not None:
            add(role)
        elif option in WEB_OPTIONS:
            add(WEB_OPTIONS[option])
    for behaviour in facts.behaviours:
        role = USE_ROLES.get(behaviour)
        if role is not None:
            add(role)
    for hint in sorted(facts.hints):
        role = HINT_ROLES.get(hint)
        if role is None:
            continue
        # Supervisor.start_link(children, strategy: ...) in an Application starts a supervisor
        # but does not make the application module one.
        if role is RoleKind.SUPERVISOR and RoleKind.APPLICATION in roles:
            continue
        add(role)
    return tuple(roles)


def callbacks_of(roles: tuple[RoleKind, ...], functions: tuple[FunctionInfo, ...],
                 state_functions: bool = False) -> tuple[str, ...]:
    defined = {f.key for f in functions}
    found: list[str] = []
    for role in roles:
        for cb in CALLBACKS.get(role, ()):
            if cb in defined and cb not in found:
                found.append(cb)
        if role is RoleKind.PHOENIX_CONTROLLER:
            # Controller actions are the public functions of arity 2 (conn, params).
            for f in functions:
                if f.public and f.arity == 2 and f.key not in found:
                    found.append(f.key)
        if role is RoleKind.GEN_STATEM and state_functions:
            for f in functions:
                if f.public and f.arity == 3 and f.key not in found:
                    found.append(f.key)
    return tuple(found)


def is_process(roles: tuple[RoleKind, ...]) -> bool:
    return any(r in PROCESS_ROLES for r in roles)
