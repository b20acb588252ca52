"""Messages that reach the wrong process: an address (a registered name, a Registry key, a
cached pid) that resolves to a process that cannot handle what it is sent.

| kind | what | culprit |
| --- | --- | --- |
| ``sent_to_supervisor`` | application messages (casts, calls, plain messages) sent to a supervisor, whose children run the module that handles them — the child's name was registered from ``start_link``, which runs in the supervisor | the child module's ``start_link`` |
"""

from __future__ import annotations

from collections import defaultdict

from ..findings import Culprit, Finding
from ..view import Message, RecordingView, fmt, is_app_module, is_atom, mod_name
from .book import FactBook

def _app_payload(msg: object) -> object | None:
    """The application part of a message: the request of a cast/call, or the message itself;
    None for the system's own traffic (supervisor calls, system messages, exits)."""
    if isinstance(msg, tuple) and msg and is_atom(msg[0], "$gen_cast") and len(msg) == 2:
        return msg[1]
    if isinstance(msg, tuple) and msg and is_atom(msg[0], "$gen_call") and len(msg) == 3:
        req = msg[2]
        if isinstance(req, tuple) and req and any(is_atom(req[0], a) for a in (
                "start_child", "terminate_child", "restart_child", "delete_child", "which_children",
                "count_children", "get_childspec", "get_status", "get_state")):
            return None
        return None if is_atom(req, "which_children") or is_atom(req, "count_children") else req
    if isinstance(msg, tuple) and msg and any(is_atom(msg[0], a) for a in ("system", "EXIT", "DOWN", "$gen_call")):
        return None
    return msg


def sends_to_supervisors(view: RecordingView, book: FactBook) -> None:
    sups: dict[str, tuple[str, list]] = {}   # supervisor pid text -> (its name, its children)
    for phase in ("start", "end"):
        for info in view.supervisors.get(phase, []):
            sups.setdefault(info.pid, (info.name or info.pid, list(info.children)))
    if not sups:
        return
    by_pid_text = {p.pid: p for p in view.procs.values()}
    hits: dict[str, list[Message]] = defaultdict(list)
    for m in view.messages:
        target = fmt(m.to, 60).removeprefix("#PID")
        rec = view.proc(m.receiver) if m.receiver is not None else None
        key = rec.pid if rec is not None and rec.pid in sups else target if target in sups else None
        if key is None or m.sender is None or _app_payload(m.msg) is None:
            continue
        sender = view.proc(m.sender)
        if sender is not None and sender.pid in sups:
            continue
        hits[key].append(m)
    for sup_pid, msgs in sorted(hits.items()):
        name, children = sups[sup_pid]
        mods = sorted({m for c in children
                       if (m := c.module or (p.init_module if (p := by_pid_text.get(c.pid or "")) else None))
                       and is_app_module(m)})
        if len(mods) != 1 or len(msgs) < 2:
            continue
        child_mod = mods[0]
        m0 = msgs[0]
        book.add(Finding(
            detector="sent_to_supervisor",
            title=f"{len(msgs)} application message(s) sent to the supervisor {name}, not to a {mod_name(child_mod)}",
            summary=(f"{view.label(m0.sender)} sent {len(msgs)} message(s) such as {fmt(m0.msg, 90)} to {name} "
                     f"({sup_pid}), a supervisor: it does not handle them (a cast is dropped, a call fails). Its "
                     f"children run {mod_name(child_mod)}, which does — the address the sender used leads to the "
                     f"supervisor: a name or Registry key registered from {mod_name(child_mod)}.start_link, which runs "
                     "in the supervisor's process, not in the child's."),
            severity="high", confidence=0.7,
            culprit=Culprit(module=mod_name(child_mod), function="start_link/1", detail=fmt(m0.msg, 150),
                            process=name),
            evidence=[view.evidence(x.send_id, "send", x.send_ts, x.sender,
                                    f"{view.label(x.sender)} sent {fmt(x.msg, 60)} to the supervisor {name}")
                      for x in msgs[:4]],
            signatures=["registry:registered_wrong_process", "message:no_effect"],
            fix_hint="Register in the process itself: in init/1 (Registry.register(reg, key, value) there), or "
                     "start it with name: {:via, Registry, {reg, key}}; the code in start_link runs in the caller."),
            pid=m0.sender, ts=m0.send_ts)
