"""Naming a recorded process the way people do, and choosing when a name is ambiguous.

A pid is accepted as ``<0.113.0>`` or ``#PID<0.113.0>`` (the form the tools print in Elixir
syntax); a registered name as ``SampleApp.Cart``, ``Elixir.SampleApp.Cart`` or ``:cart``.
A name that two processes held during the recording (one crashed and was restarted) is
ambiguous: the error lists both pids and says how to pick one - ``--pid`` on the command line,
the pid itself as ``process`` for a tool - instead of the store's ``(node_id, idx)``.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from elixir_scope.store.errors import RecordingNotFound

__all__ = ["AmbiguousProcess", "normalize", "pick_process"]

_PID = re.compile(r"#PID(<\d+\.\d+\.\d+>)\Z")


class AmbiguousProcess(RecordingNotFound):
    """A name held by several processes of a recording; the message lists them."""


def normalize(text: str) -> str:
    """``#PID<0.1.2>`` -> ``<0.1.2>``; ``:name`` -> ``name``; other text stripped."""
    t = text.strip()
    m = _PID.match(t)
    if m:
        return m.group(1)
    return t.removeprefix(":") if t.startswith(":") and not t.startswith(':"') else t


def pick_process(rec: Any, process: str, pid: str | None = None, *,
                 audience: Literal["cli", "mcp"] = "mcp") -> Any:
    """The one ``ProcessInfo`` that ``process`` (or, when given, ``pid``) names in ``rec``."""
    if pid:
        found = rec.resolve_processes(normalize(pid))
        if not found:
            raise RecordingNotFound(f"no process {pid} in recording {rec.id}")
        return found[0]
    found = rec.resolve_processes(normalize(process))
    if len(found) == 1:
        return found[0]
    if not found:
        raise RecordingNotFound(f"no process {process} in recording {rec.id}")
    pids = ", ".join(p.pid_text for p in found[:6])
    how = (f"pick one with --pid (e.g. --pid '{found[-1].pid_text}')" if audience == "cli"
           else f"pass the pid as process (e.g. process='{found[-1].pid_text}')")
    raise AmbiguousProcess(f"{process} was held by {len(found)} processes in recording {rec.id} "
                           f"(a restart?): {pids}; {how}")
