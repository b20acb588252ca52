"""The capture's store pipeline (instrument/ingest_pipeline.py) against a real store: batches
prepared in one thread and written in another are stored exactly as the serial path stores
them (ids, rows, side tables, blobs, block index), in order; the bound on what is received and
not yet stored holds; a refused batch stops the pipeline with nothing stored before it lost;
a closed pipeline refuses batches; the prepare thread's
header walk pauses (for the writer to take the GIL) without changing what it returns; the
store threads run at the priority asked (``SCHED_IDLE``, a niceness) and store the same. The
capture-level tests (real nodes) are in tests/test_capture_pipeline.py."""

from __future__ import annotations

import asyncio
import os
import threading
import time

import pytest
from elixir_scope.instrument.etf import Atom
from elixir_scope.instrument.ingest_pipeline import STORE_PRIORITY, StorePipeline
from elixir_scope.instrument.thread_priority import lower_priority
from elixir_scope.store import BatchFormatError, StatePolicy, StoreFullError, TraceStore
from elixir_scope.store import records
from elixir_scope.store.batch import SyntheticTrace

NS = 1_000_000_000
TABLES = {
    "events": "SELECT id, recording_id, node_id, kind, flags, ts, uniq, pid, aux, payload FROM events ORDER BY id",
    "states": "SELECT * FROM states ORDER BY id",
    "blobs": "SELECT hash, data FROM blobs ORDER BY hash",
    "block_procs": "SELECT * FROM block_procs ORDER BY node_id, pid, first_id",
    "block_kinds": "SELECT * FROM block_kinds ORDER BY recording_id, kind, aux, first_id",
    "processes": "SELECT node_id, idx, pid_text, born_ts, died_ts FROM processes ORDER BY node_id, idx",
    "recordings": "SELECT id, event_count, dropped_count FROM recordings ORDER BY id",
}


def _batches(n: int = 12) -> list:
    """GenServer calls with a growing state (large payloads cut into blobs, state records
    stored full and as deltas), messages, spawns and exits: every side table of a batch."""
    t = SyntheticTrace()
    server, client = t.new_pid(), t.new_pid()
    state = {Atom("log"): []}
    out, k = [], 0
    for b in range(n):
        for _ in range(40):
            new = {Atom("log"): state[Atom("log")] + [k] * 20}
            t.gen_call(client, server, "Elixir.Srv", k, state, new, Atom("ok"))
            state, k = new, k + 1
        child = t.new_pid()
        t.spawn(server, child, (Atom("Elixir.Srv"), Atom("child"), []))
        t.exit(child, Atom("normal"))
        out.append(t.take())
    return out


def _open(path):
    store = TraceStore.open(path)
    rec = store.create_recording("p", spec={}, limits={}, state_policy=StatePolicy(full_max_bytes=300))
    node = rec.add_node("test@localhost", otp_release="25", time_unit=NS, time_offset=0)
    return store, rec, node


def _rows(store) -> dict:
    return {name: store.db.query(sql) for name, sql in TABLES.items()}


async def _piped(rec, node, batches, bound: int, **kw) -> StorePipeline:
    pipe = StorePipeline(rec, node, max_pending_bytes=bound, **kw)
    peak_after_settle = 0
    for b in batches:
        pipe.submit(b.dict_entries, b.events)
        if not pipe.may_ack():
            await pipe.settle()
        peak_after_settle = max(peak_after_settle, pipe.pending_bytes)
        assert pipe.pending_bytes <= bound or pipe.held_acks > 0
    await pipe.close()
    pipe.peak_after_settle = peak_after_settle
    return pipe


@pytest.mark.parametrize("split", ["apart", "writer", "mixed"])
def test_the_pipeline_stores_exactly_what_the_serial_path_stores(tmp_path, split):
    """Whether each job is prepared on the prepare thread (``apart``: the store catching up), by
    the write thread (``writer``: keeping up) or either as the pending bytes go (``mixed``),
    the rows are the serial path's, in arrival order."""
    batches = _batches()
    serial, srec, snode = _open(tmp_path / "serial.db")
    for b in batches:
        srec.ingest_batch(snode, b.dict_entries, b.events)
    piped, prec, pnode = _open(tmp_path / "piped.db")
    bound = 3 * max(len(b.events) for b in batches)
    cpu = time.process_time()
    # every batch its own job (no staging: test_batches_received_together_are_staged_into_one_job)
    split_bytes = {"apart": 0, "writer": 10 * bound, "mixed": bound // 2}[split]
    pipe = asyncio.run(_piped(prec, pnode, batches, bound, stage_bytes=0, split_bytes=split_bytes))
    cpu = time.process_time() - cpu
    assert pipe.failure is None and pipe.lost_batches == []
    if split == "apart":
        assert pipe.prepared_apart == len(batches) and "prepare" in pipe.thread_ids
    elif split == "writer":
        assert pipe.prepared_apart == 0 and "prepare" not in pipe.thread_ids
    # the CPU of each thread is counted, and is part of the process's
    assert 0 < pipe.prepare_cpu and 0 < pipe.write_cpu and pipe.prepare_cpu + pipe.write_cpu <= cpu
    assert pipe.stored == sum(b.count for b in batches) == prec_count(piped, prec.id)
    assert pipe.pending_bytes == 0
    want, got = _rows(serial), _rows(piped)
    assert got["events"] and got["states"] and got["blobs"] and got["block_procs"]
    assert any(r[9] == "delta" for r in got["states"])  # large states went the delta way
    for name in TABLES:
        assert got[name] == want[name], name
    ids = [r[0] for r in got["events"]]
    assert ids == list(range(1, len(ids) + 1))  # arrival order, consecutive
    serial.close()
    piped.close()


def prec_count(store, rid) -> int:
    return store.recording(rid).info.event_count


def test_back_pressure_holds_acks_past_the_bound_and_stores_everything(tmp_path):
    batches = _batches(20)
    store, rec, node = _open(tmp_path / "bp.db")
    bound = len(batches[0].events)  # about one batch: the writer is always behind
    pipe = asyncio.run(_piped(rec, node, batches, bound))
    assert pipe.held_acks > 0
    # after the wait that back-pressure imposes, never more than the bound is pending; the peak
    # is at most the bound plus the batch just received
    assert pipe.peak_after_settle <= bound
    assert pipe.peak_pending_bytes <= bound + max(len(b.events) for b in batches)
    assert pipe.stored == sum(b.count for b in batches) == prec_count(store, rec.id)
    store.close()


def test_a_refused_batch_stops_the_pipeline_and_keeps_what_was_stored(tmp_path):
    batches = _batches(6)
    store, rec, node = _open(tmp_path / "bad.db")
    cut = batches[3].events[:-5]  # a record cut short: BatchFormatError in the prepare thread

    async def run():
        pipe = StorePipeline(rec, node, stage_bytes=0)  # every batch its own job
        for i, b in enumerate(batches):
            pipe.submit(b.dict_entries, cut if i == 3 else b.events)
        await pipe.close()
        return pipe

    pipe = asyncio.run(run())
    assert isinstance(pipe.failure, BatchFormatError) and "runs past the end" in str(pipe.failure)
    assert pipe.lost_batches == [cut, batches[4].events, batches[5].events]
    first3 = sum(b.count for b in batches[:3])
    assert pipe.stored == first3 == prec_count(store, rec.id)
    serial, srec, snode = _open(tmp_path / "serial.db")
    for b in batches[:3]:
        srec.ingest_batch(snode, b.dict_entries, b.events)
    assert _rows(store)["events"] == _rows(serial)["events"]
    assert store.db.query_one("PRAGMA integrity_check")[0] == "ok"
    store.close()
    serial.close()


def test_a_prepared_batch_refused_by_a_full_store_can_be_stored_again(tmp_path):
    """store_prepared after a rollback stores the same rows as the serial path (the prepared
    batch is not changed by a failed attempt: state records, cut payloads)."""
    batches = _batches(3)
    store, rec, node = _open(tmp_path / "full.db")
    serial, srec, snode = _open(tmp_path / "serial.db")
    for b in batches:
        srec.ingest_batch(snode, b.dict_entries, b.events)
    rec.ingest_batch(node, batches[0].dict_entries, batches[0].events)
    prepared = [rec.prepare_batch(node, b.dict_entries, b.events) for b in batches[1:]]
    pages = store.db.query_one("PRAGMA page_count")[0]
    store.db.conn.execute(f"PRAGMA max_page_count = {pages}")  # a real SQLITE_FULL
    with pytest.raises(StoreFullError):
        rec.store_prepared(prepared[0])
    store.db.conn.execute("PRAGMA max_page_count = 1073741823")
    for p in prepared:
        rec.store_prepared(p)
    assert _rows(store) == _rows(serial)
    store.close()
    serial.close()


def test_a_closed_pipeline_refuses_batches(tmp_path):
    store, rec, node = _open(tmp_path / "c.db")

    async def run():
        pipe = StorePipeline(rec, node)
        await pipe.close()
        await pipe.close()  # idempotent
        with pytest.raises(RuntimeError, match="closed"):
            pipe.submit([], b"")

    asyncio.run(run())
    store.close()


def test_the_walk_pauses_between_slices_and_returns_the_same_values():
    batches = _batches(4)
    buf = bytearray(b"".join(b.events for b in batches))  # four segments, joined as the session does
    pauses = []
    got, plain = records.walk(buf, lambda: pauses.append(1)), records.walk(buf)
    assert got.values == plain.values and (got.special, got.big) == (plain.special, plain.big)
    assert plain.count == sum(b.count for b in batches) > records.PAUSE_RECORDS
    assert len(pauses) == (plain.count - 1) // records.PAUSE_RECORDS  # one between two slices
    with pytest.raises(BatchFormatError, match="runs past the end"):
        records.walk(buf[:-3], lambda: None)


def test_bad_bound_is_refused(tmp_path):
    store, rec, node = _open(tmp_path / "b.db")
    with pytest.raises(ValueError, match="max_pending_bytes must be > 0"):
        StorePipeline(rec, node, max_pending_bytes=0)
    for bad in (-1, 20, "low", True, 1.5):
        with pytest.raises(ValueError, match="priority is 'idle' or a niceness 0-19"):
            StorePipeline(rec, node, priority=bad)
    store.close()


class _CountingWriter:
    """The real RecordingWriter, with the number of batches of each write transaction noted."""

    def __init__(self, rec) -> None:
        self.rec = rec
        self.transactions: list[int] = []
        self.prepared: list[int] = []  # records binaries' sizes, one per prepared job

    def prepare_batch(self, *args):
        self.prepared.append(len(args[2]))
        return self.rec.prepare_batch(*args)

    def store_prepared(self, *batches):
        self.transactions.append(len(batches))
        return self.rec.store_prepared(*batches)


def test_a_writer_behind_stores_the_prepared_batches_together(tmp_path):
    batches = _batches(12)
    store, rec, node = _open(tmp_path / "g.db")
    writer = _CountingWriter(rec)

    async def run():
        # every batch its own job, each prepared on the prepare thread (what the pipeline does
        # once it is behind: past split_bytes pending; below, the writer prepares each job itself
        # just before writing it, so no prepared job waits behind its own)
        pipe = StorePipeline(writer, node, stage_bytes=0, split_bytes=0)
        for b in batches:  # all at once: the writer is behind from the first one
            pipe.submit(b.dict_entries, b.events)
        await pipe.close()
        return pipe

    pipe = asyncio.run(run())
    assert pipe.failure is None and pipe.stored == sum(b.count for b in batches) == prec_count(store, rec.id)
    assert sum(writer.transactions) == len(batches)
    assert len(writer.transactions) < len(batches)  # some transactions held several batches
    serial, srec, snode = _open(tmp_path / "serial.db")
    for b in batches:
        srec.ingest_batch(snode, b.dict_entries, b.events)
    assert _rows(store) == _rows(serial)
    store.close()
    serial.close()


def test_batches_received_together_are_stored_from_one_bytearray_left_as_it_was(tmp_path):
    """The capture joins the records binaries it received together into one bytearray
    (``ingest_pipeline.join_records``) that the store reads without copying: the rows are the ones the
    batches give stored one by one, and the bytearray is not changed."""
    from elixir_scope.instrument.ingest_pipeline import join_records

    batches = _batches(6)
    store, rec, node = _open(tmp_path / "joined.db")
    for group in (batches[:1], batches[1:4], batches[4:]):
        joined = join_records([b.events for b in group])
        assert type(joined) is bytearray and bytes(joined) == b"".join(b.events for b in group)
        before = bytes(joined)
        dicts = [e for b in group for e in b.dict_entries]
        assert rec.ingest_batch(node, dicts, joined) == sum(b.count for b in group)
        assert joined == before
    serial, srec, snode = _open(tmp_path / "serial.db")
    for b in batches:
        srec.ingest_batch(snode, b.dict_entries, b.events)
    want, got = _rows(serial), _rows(store)
    for name in ("events", "states", "blobs", "processes", "recordings"):
        assert got[name] == want[name], name
    store.close()
    serial.close()


def test_batches_received_together_are_staged_into_one_job(tmp_path):
    """Batches arriving within the staging wait are stored as one job (one header walk, one
    transaction: the per-batch cost paid once, ingest_pipeline.MIN_JOB_BYTES); a batch alone
    goes when the wait has passed, with no close needed. The events, states and elements stored
    are the serial path's; the block rows are per job, and still cover every event."""
    batches = _batches(12)
    store, rec, node = _open(tmp_path / "staged.db")
    writer = _CountingWriter(rec)
    want = sum(b.count for b in batches)

    async def run():
        pipe = StorePipeline(writer, node, stage_bytes=10**9, stage_wait=0.05)
        for b in batches[:-1]:  # received together
            pipe.submit(b.dict_entries, b.events)
            assert pipe.may_ack()  # staged bytes count as pending, under the bound
        assert pipe.pending_bytes == sum(len(b.events) for b in batches[:-1])
        for _ in range(3000):  # the wait passes: the staged batches are stored, no close needed
            if pipe.stored:
                break
            await asyncio.sleep(0.01)
        assert pipe.stored == want - batches[-1].count
        pipe.submit(batches[-1].dict_entries, batches[-1].events)
        for _ in range(3000):
            if pipe.stored == want:
                break
            await asyncio.sleep(0.01)
        assert pipe.stored == want
        await pipe.close()
        return pipe

    pipe = asyncio.run(run())
    assert pipe.failure is None and pipe.pending_bytes == 0 and prec_count(store, rec.id) == want
    assert writer.prepared == [sum(len(b.events) for b in batches[:-1]), len(batches[-1].events)]
    assert writer.transactions == [1, 1]
    serial, srec, snode = _open(tmp_path / "serial.db")
    for b in batches:
        srec.ingest_batch(snode, b.dict_entries, b.events)
    got, exp = _rows(store), _rows(serial)
    for name in ("events", "states", "processes", "recordings"):
        assert got[name] == exp[name], name
    # the same elements (each stored whole or as a delta against the one stored before it)
    assert [h for h, _ in got["blobs"]] == [h for h, _ in exp["blobs"]]
    assert all(store.db.blobs.fetch(h) == serial.db.blobs.fetch(h) is not None for h, _ in exp["blobs"])
    # every event lies in a block row of its process
    blocks = store.db.query("SELECT pid, first_id, last_id FROM block_procs")
    for eid, pid in store.db.query("SELECT id, pid FROM events"):
        assert any(p == pid and lo <= eid <= hi for p, lo, hi in blocks), eid
    assert len(blocks) < len(exp["block_procs"])
    store.close()
    serial.close()


def test_a_refused_staged_job_gives_back_its_batches_as_received(tmp_path):
    """A job joins the batches staged together; when the store refuses it (one of them is
    malformed), ``lost_batches`` holds each batch as received, so the session counts the
    records of the good ones (session._record_refused_batches) instead of none."""
    from elixir_scope.store.ingest import parse_records

    batches = _batches(6)
    store, rec, node = _open(tmp_path / "bad_staged.db")
    cut = batches[3].events[:-5]
    sent = [cut if i == 3 else b.events for i, b in enumerate(batches)]

    async def run():
        pipe = StorePipeline(rec, node, stage_bytes=10**9, stage_wait=60)  # one job: close sends it
        for b, events in zip(batches, sent):
            pipe.submit(b.dict_entries, events)
        await pipe.close()
        return pipe

    pipe = asyncio.run(run())
    assert isinstance(pipe.failure, BatchFormatError)
    assert pipe.stored == 0 == prec_count(store, rec.id) and pipe.pending_bytes == 0
    assert [bytes(b) for b in pipe.lost_batches] == [bytes(e) for e in sent]
    assert sum(len(parse_records(b)) for i, b in enumerate(pipe.lost_batches) if i != 3) == \
        sum(b.count for i, b in enumerate(batches) if i != 3)
    store.close()


def _store_threads(name: str) -> list:
    return [t for t in threading.enumerate() if t.name.startswith(f"es-prepare {name}")
            or t.name.startswith(f"es-write {name}")]


@pytest.mark.skipif(not hasattr(os, "SCHED_IDLE"), reason="per-thread scheduling policies are Linux's")
@pytest.mark.parametrize("priority", [None, "idle", 7, 0])
def test_the_store_threads_yield_to_the_node_and_store_everything(tmp_path, priority):
    """The prepare and write threads run as asked (``SCHED_IDLE``, that much nicer, or the
    process's own priority: ``STORE_PRIORITY``, the default), the event loop's thread keeps its
    own priority, and every batch is stored in order all the same."""
    batches = _batches(8)
    store, rec, node = _open(tmp_path / "prio.db")
    name = f"prio-{priority}"
    loop_policy, loop_nice = os.sched_getscheduler(0), os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    async def run():
        kw = {} if priority is None else {"priority": priority}
        pipe = StorePipeline(rec, node, name=name, stage_bytes=0, split_bytes=0, **kw)
        for b in batches:
            pipe.submit(b.dict_entries, b.events)
        await pipe.settle(0)
        seen = {}
        for t in _store_threads(name):
            seen[t.name.split()[0]] = (os.sched_getscheduler(t.native_id), os.getpriority(os.PRIO_PROCESS, t.native_id))
        await pipe.close()
        return pipe, seen

    pipe, seen = asyncio.run(run())
    assert set(seen) == {"es-prepare", "es-write"}  # both ran a job (split_bytes=0)
    want = STORE_PRIORITY if priority is None else priority
    for policy, nice in seen.values():
        if want == "idle":
            assert policy == os.SCHED_IDLE
        else:
            assert policy == loop_policy and nice == min(19, loop_nice + want)
    assert (os.sched_getscheduler(0), os.getpriority(os.PRIO_PROCESS, threading.get_native_id())) == (loop_policy, loop_nice)
    assert pipe.failure is None and pipe.lost_batches == [] and pipe.pending_bytes == 0
    assert pipe.stored == sum(b.count for b in batches) == prec_count(store, rec.id)
    ids = [r[0] for r in store.db.query("SELECT id FROM events WHERE recording_id = ? ORDER BY id", (rec.id,))]
    assert ids == list(range(1, len(ids) + 1))
    store.close()


def test_a_priority_the_system_refuses_leaves_the_thread_as_it_was(monkeypatch):
    """Lowering a thread's priority is best effort: refused (or no such call), the store thread
    runs at the process's priority and stores all the same."""
    def refuse(*_):
        raise PermissionError("not allowed")

    monkeypatch.setattr(os, "sched_setscheduler", refuse)
    got = []

    def run():
        lower_priority("idle")
        got.append(os.sched_getscheduler(threading.get_native_id()))

    t = threading.Thread(target=run)
    t.start()
    t.join()
    assert got == [os.sched_getscheduler(0)]
