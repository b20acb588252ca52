"""Which sends were never received — by message identity, not by content alone.

The matching itself is the causal-order analysis's (store/causal/, `ensure_causal`): a
receive takes the earliest still-unmatched send of identical bytes to that receiver, so two
identical messages sent twice and received once leave exactly one — the later — unmatched;
its result is `msg_links`. This module only decides which sends can be *judged*: a send to a
local pid whose process had `receive` tracing on (it has at least one recorded receive).
Sends addressed by name are judged when the analysis resolved and matched them; otherwise
they are reported as not judgeable, never as lost.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from elixir_scope.store.blocks import KIND_FROM
from elixir_scope.store.causal import ensure_causal

if TYPE_CHECKING:
    from .context import QueryContext


def traced_receivers(qc: "QueryContext") -> set[tuple[int, int]]:
    return {(n, p) for n, p in qc.db.query(
        f"SELECT DISTINCT e.node_id, e.pid FROM {KIND_FROM} WHERE k.recording_id = ? AND k.kind = 6",
        (qc.rid,))}


def received(qc: "QueryContext") -> dict[int, int]:
    """send id → ts of the receive it was matched to (msg_links, computed on first use)."""
    ensure_causal(qc.recording)
    return {s: ts for s, ts in qc.db.query(
        "SELECT m.send_id, r.ts FROM msg_links m JOIN events r ON r.id = m.recv_id "
        "WHERE m.recording_id = ? AND m.method != 'spawn'", (qc.rid,))}
