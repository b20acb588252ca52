"""Export one recording to one file and import it into another store (ids remapped)."""

from __future__ import annotations

import pytest

from elixir_scope.instrument.etf import Atom
from elixir_scope.store import ArchiveError, StatePolicy, TraceStore
from elixir_scope.store.batch import SyntheticTrace

NS = 1_000_000_000


def record(store, name, calls):
    rec = store.create_recording(name, spec={"specs": [name]}, limits={"max_events": 10},
                                 meta={"who": "test"}, state_policy=StatePolicy(full_max_bytes=100))
    node = rec.add_node("test@localhost", otp_release="25", time_unit=NS, time_offset=7)
    t = SyntheticTrace()
    server, client = t.new_pid(reg_name="srv"), t.new_pid()
    state = {Atom("log"): [b"e"] * 30}
    t.checkpoint(server, state)
    for i in range(calls):
        new = {Atom("log"): state[Atom("log")] + [i]}
        t.gen_call(client, server, "Elixir.Srv", i, state, new, Atom("ok"))
        state = new
    t.gap("rate_limit", 4)
    b = t.take()
    rec.ingest_batch(node, b.dict_entries, b.events)
    rec.finish("stopped", {"offered": b.count + 4, "dropped": 4})
    r = store.recording(rec.id)
    r.causal_past(r.events(descending=True, limit=1)[0])  # fill causal tables: they travel too
    return rec.id, state


def test_export_then_import_elsewhere_remaps_ids(tmp_path):
    src = TraceStore.open(tmp_path / "src.db")
    record(src, "first", 3)
    rid, final = record(src, "second", 12)
    out = src.export_recording(rid, tmp_path / "shared.esrec")
    assert out.is_file() and not (tmp_path / "shared.esrec-wal").exists()
    with pytest.raises(ArchiveError, match="already exists"):
        src.export_recording(rid, out)

    dst = TraceStore.open(tmp_path / "dst.db")
    record(dst, "local", 5)  # ids in the target are taken: the import must remap
    new_id = dst.import_recording(out)
    assert new_id == 2
    a, b = src.recording(rid), dst.recording(new_id)
    assert (b.info.name, b.info.spec, b.info.meta, b.info.end_reason) == ("second", {"specs": ["second"]},
                                                                          {"who": "test"}, "stopped")
    ea, eb = a.events(limit=10_000), b.events(limit=10_000)
    assert [(e.kind, e.ts, e.payload_bytes) for e in ea] == [(e.kind, e.ts, e.payload_bytes) for e in eb]
    assert all(e.id > 0 for e in eb) and eb[0].id != ea[0].id
    assert b.state_at("srv", eb[-1].ts).state == final
    assert [g.count for g in b.gaps()] == [4] and b.info.dropped_count == 4
    last = eb[-2]
    assert len(b.causal_past(last).events) == len(a.causal_past(ea[-2]).events) > 0
    assert dst.db.query_one("PRAGMA integrity_check")[0] == "ok"
    # the export itself is a store that opens read-only
    alone = TraceStore.open(out, readonly=True)
    assert [r.name for r in alone.recordings()] == ["second"]
    alone.close()
    src.close()
    dst.close()


def test_import_refuses_non_recording_files(tmp_path):
    multi = TraceStore.open(tmp_path / "multi.db")
    record(multi, "a", 1)
    record(multi, "b", 1)
    multi.close()
    dst = TraceStore.open(tmp_path / "dst.db")
    with pytest.raises(ArchiveError, match="holds 2 recordings"):
        dst.import_recording(tmp_path / "multi.db")
    with pytest.raises(ArchiveError, match="no recording file"):
        dst.import_recording(tmp_path / "missing.esrec")
    junk = tmp_path / "junk.esrec"
    junk.write_bytes(b"junk" * 1000)
    with pytest.raises(ArchiveError, match="not a readable"):
        dst.import_recording(junk)
    assert dst.recordings() == []
    dst.close()
