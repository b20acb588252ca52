"""Checks every capture test makes of a finished capture's counts."""

from __future__ import annotations


def check_counts(store, result) -> None:
    """What the agent offered was sent or dropped; all that was sent is stored; the recording
    holds exactly the stored events, and its gaps count exactly the drops (a ``node_down`` gap's
    count is unknown, not a drop)."""
    st = result.stats
    assert st.offered == st.sent + st.dropped, st
    assert st.stored == st.sent, st
    rec = store.recording(result.recording_id)
    assert rec.stats.event_count == st.stored
    assert sum(g.count for g in rec.gaps() if g.reason != "node_down") == st.dropped
