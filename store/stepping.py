"""Stepping through a recording like a debugger: the next or previous event from one event,
within the recording, a process, a module or along the causal chain, and an event's
neighbours in its process.

Order: within one node, node time ``(ts, uniq, id)``; across nodes, the common clock
(store/clocks.py) with ties broken by node; along the causal chain, the matched send→receive
links (store/causal/).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .blocks import KIND_FROM, kind_where, qualified, step_sql
from .clocks import common_ns
from .errors import RecordingNotFound
from .events import Event
from .reader import EVENT_COLUMNS, EventList
from .timeblocks import first_at_or_after, last_at_or_before, neighbour

_ORDER = ("e.ts", "e.uniq", "e.id")
"""A node's own order of its events."""

if TYPE_CHECKING:
    from .reader import Recording


SCOPES = ("recording", "process", "module", "causal")


def step(rec: "Recording", event: Event, direction: int = 1, scope: str = "recording",
         module: str | None = None) -> Event | None:
    """The next (``direction=1``) or previous (``-1``) event from ``event`` within ``scope``:

    * ``recording`` — the whole recording, in node time order ``(ts, uniq, id)``; with several
      nodes, across them on the common clock (store/clocks.py), ties by node;
    * ``process`` — the same process, in its own order;
    * ``module`` — call/return/exception/state events of ``module`` (default: the event's own
      module), in time order;
    * ``causal`` — along the causal chain: forward from a ``send`` to its matched ``receive``
      (from a ``spawn`` to the child's ``spawned``), otherwise to the next event of the same
      process; backward from a ``receive`` to its matched ``send``, otherwise to the previous
      event of the same process.

    None at either end."""
    if direction not in (1, -1):
        raise ValueError("direction must be 1 (next) or -1 (previous)")
    if scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r}; use one of {', '.join(SCOPES)}")
    nxt = direction == 1
    op, order = (">", "ASC") if nxt else ("<", "DESC")
    if scope == "process" or scope == "causal":
        if scope == "causal":
            from .causal import ensure_causal

            ensure_causal(rec)
            if nxt:
                row = rec.db.query_one("SELECT recv_id FROM msg_links WHERE send_id = ?", (event.id,))
            else:
                row = rec.db.query_one("SELECT send_id FROM msg_links WHERE recv_id = ?", (event.id,))
            if row is not None:
                return rec.event(row[0])
        at = event.id + 1 if nxt else event.id - 1
        row = rec.db.query_one(step_sql(EVENT_COLUMNS, nxt),
                               (at, event.node_id, event.pid, at, at) if nxt else (at, event.node_id, event.pid, at))
    elif scope == "module":
        mod = module or (event.mfa.module if event.mfa else None)
        if mod is None:
            raise ValueError(f"event {event.id} has no module; pass module=")
        keys = [i for (n, i), m in rec.context.functions.items() if n == event.node_id
                and (m.module == mod or m.module == "Elixir." + mod)]
        if not keys:
            raise RecordingNotFound(f"module {mod!r} has no traced function in recording {rec.id}")
        row = rec.db.query_one(
            f"SELECT {qualified(EVENT_COLUMNS)} FROM {KIND_FROM} WHERE {kind_where((1, 2, 3, 13))} "
            f"AND k.aux IN ({','.join('?' * len(keys))}) AND e.node_id = ? AND (e.ts, e.uniq, e.id) "
            f"{op} (?, ?, ?) ORDER BY e.ts {order}, e.uniq {order}, e.id {order} LIMIT 1",
            (rec.id, *keys, event.node_id, event.ts, event.uniq, event.id))
    elif len(rec.context.nodes) > 1:
        return _step_across_nodes(rec, event, nxt)
    else:
        # through the time blocks, the event's own row first
        row = neighbour(rec.db, rec.id, (event.id, event.node_id, event.ts, event.uniq),
                        qualified(EVENT_COLUMNS), nxt)
    return rec.events_from_rows([row])[0] if row else None


def _step_across_nodes(rec: "Recording", event: Event, nxt: bool) -> Event | None:
    """The next / previous event of a multi-node recording on its common clock (store/clocks.py),
    ties broken by node, then the node's own order: each node's nearest candidate, the
    nearest of those."""
    nodes = rec.context.nodes
    c = common_ns(nodes[event.node_id], event.ts)
    op = ">" if nxt else "<"
    best: tuple | None = None
    for n in nodes.values():
        if n.id == event.node_id:
            at, cond, params = event.ts, f"(e.ts, e.uniq, e.id) {op} (?, ?, ?)", (event.ts, event.uniq, event.id)
        else:
            # same common time: this node's events come after the event's node if its id is higher
            later_on_tie = n.id > event.node_id
            if nxt:
                edge = c if later_on_tie else c + 1  # first common ns allowed
                at, cond, params = -((-edge * n.time_unit) // 1_000_000_000) - n.time_offset, "", ()
            else:
                edge = c if not later_on_tie else c - 1  # last common ns allowed
                at, cond, params = ((edge + 1) * n.time_unit - 1) // 1_000_000_000 - n.time_offset, "", ()
        near = first_at_or_after if nxt else last_at_or_before  # through the time blocks
        row = near(rec.db, rec.id, at, qualified(EVENT_COLUMNS), node_id=n.id, where=cond, params=params,
                   order=_ORDER)
        if row is None:
            continue
        e = rec.events_from_rows([row])[0]
        key = (common_ns(n, e.ts), n.id, e.ts, e.uniq, e.id)
        if best is None or (key < best[0] if nxt else key > best[0]):
            best = (key, e)
    return best[1] if best else None


def events_around(rec: "Recording", event: Event, before: int = 5, after: int = 5) -> EventList:
    """Context of an event in its process: up to ``before`` earlier and ``after`` later ones."""
    prev = rec.events(pid=(event.node_id, event.pid), before_id=event.id, limit=max(before, 1),
                      descending=True)[:before]
    nxt = rec.events(pid=(event.node_id, event.pid), after_id=event.id, limit=max(after, 1))[:after]
    evs = list(reversed(prev)) + [event] + list(nxt)
    return EventList(evs, rec.gaps(evs[0].ts, evs[-1].ts, node_id=event.node_id), None)
