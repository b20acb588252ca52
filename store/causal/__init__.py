"""Causal order: happens-before from send→receive matching, Lamport clocks, causal past/future.

    from elixir_scope.store.causal import causal_past, happens_before, unmatched_sends
    page = causal_past(rec, event, limit=100)       # what could have caused this?
    page.events, page.clocks, page.next_cursor
    happens_before(rec, a, b)                       # could a have influenced b?

Everything here is derived from the recording, never from the live node, and computed in
three steps, one module each:

- ``matching`` — which send each receive (and each ``spawned``) belongs to: by receiver and
  message bytes within a node, across nodes within the clocks' error bounds, by message bytes
  for a send to a process alias. The result is the happens-before edges (``msg_links``).
- ``lamport_clocks`` — a Lamport clock per event from a topological sweep over process order
  plus those edges (``clocks``).
- ``derive`` — when the two run: once per recording on first use, stored (TEMP tables on a
  read-only store), and extended incrementally while the recording grows.

``walks`` answers the questions over the derived tables: causal past and future as paged
per-process horizons (``CausalPage``), ``happens_before``, an event's ``lamport`` clock and
the sends never received. Cross-node order between events the relation leaves unordered is
the common clock's (store/clocks.py).
"""

from .derive import ensure_causal
from .walks import (
    CausalPage,
    causal_future,
    causal_past,
    future_horizon,
    happens_before,
    lamport,
    past_horizon,
    unmatched_sends,
)

__all__ = [
    "CausalPage",
    "causal_future",
    "causal_past",
    "ensure_causal",
    "future_horizon",
    "happens_before",
    "lamport",
    "past_horizon",
    "unmatched_sends",
]
