"""The events binary of agent format 20 (docs/event-format.md, "A record") as the store reads it
(store/records.py ``walk``): against a plain reference decoder written from the format's
definition, on single and joined segments, with every refusal naming its byte offset."""

from __future__ import annotations

import os
import random
import struct

import pytest

from elixir_scope.store import BatchFormatError
from elixir_scope.store.batch import RecordsBuffer
from elixir_scope.store.blobs import MIN_PAYLOAD
from elixir_scope.store.records import (FORMAT, PAUSE_RECORDS, SPECIAL, VALUES_PER_RECORD, count_records,
                                        record, walk)

HEADER = struct.Struct(">BBqqIII")


def reference(buf: bytes) -> list[tuple]:
    """(kind, flags, ts, uniq, pid, aux, payload) per record, segment by segment, read one
    header at a time exactly as the format is written down."""
    out, off = [], 0
    while off < len(buf):
        zero, fmt, count = struct.unpack_from(">BBI", buf, off)
        assert (zero, fmt) == (0, FORMAT)
        heads = [HEADER.unpack_from(buf, off + 6 + 30 * i) for i in range(count)]
        at = off + 6 + 30 * count
        for h in heads:
            out.append((*h[:6], buf[at:at + h[6]]))
            at += h[6]
        off = at
    return out


def random_records(rng: random.Random, n: int) -> list[tuple]:
    recs = []
    for i in range(n):
        kind = rng.choice((1, 2, 2, 4, 6, 8, 13, 14, 15, 16))
        size = rng.choice((0, 2, 40, 90, MIN_PAYLOAD - 1, MIN_PAYLOAD, 3000))
        recs.append((kind, rng.randrange(4), rng.randrange(-2**63, 2**63), rng.randrange(-2**63, 2**63),
                     rng.randrange(2**32), rng.randrange(2**32), bytes(rng.randrange(256) for _ in range(size))))
    return recs


def binary(recs: list[tuple]) -> bytes:
    out = RecordsBuffer()
    for r in recs:
        out.add(*r)
    return out.binary()


@pytest.mark.parametrize("sizes", [[], [1], [7], [2000], [3, 0, 5], [PAUSE_RECORDS + 1, 1, 900]])
def test_walk_matches_the_definition(sizes):
    rng = random.Random(sum(sizes) * 13 + len(sizes))
    parts = [random_records(rng, n) for n in sizes]
    segments = [binary(p) if p else struct.pack(">BBI", 0, FORMAT, 0) for p in parts]
    buf = b"".join(segments)  # batches received together are joined: one segment after another
    want = [r for p in parts for r in p]
    pauses = []
    walked = walk(bytearray(buf), lambda: pauses.append(1))
    assert [tuple(record(walked.values, i)) for i in range(walked.count)] == want == reference(buf)
    assert len(walked.values) == VALUES_PER_RECORD * len(want) == VALUES_PER_RECORD * count_records(buf)
    assert walked.special == [i for i, r in enumerate(want) if r[0] in SPECIAL]
    assert walked.big == [i for i, r in enumerate(want) if len(r[6]) >= MIN_PAYLOAD]
    # the rare records Python looks into are bytes; the rest bind as bytearray slices
    assert all(isinstance(record(walked.values, i)[-1], bytes) for i in walked.special + walked.big)
    assert {type(record(walked.values, i)[-1]) for i in range(walked.count)
            if i not in walked.special and i not in walked.big} <= {bytearray}
    assert (walked.kinds.tolist(), walked.pids.tolist(), walked.auxs.tolist()) == (
        [r[0] for r in want], [r[4] for r in want], [r[5] for r in want])
    assert len(pauses) == max(0, (len(want) - 1) // PAUSE_RECORDS)


def test_refusals_name_the_byte_offset():
    good = binary([(1, 0, 1, 1, 1, 1, b"\x83j"), (2, 0, 2, 2, 1, 1, b"\x83d\x00\x02ok")])
    n = len(good)
    with pytest.raises(BatchFormatError, match=f"cut inside a segment header at byte {n} of {n + 3}"):
        walk(bytearray(good + b"\x00\x14\x00"))
    with pytest.raises(BatchFormatError, match=f"cut inside a record header at byte {n + 20}: the segment "
                                               f"at byte {n} announces 1 records"):
        walk(bytearray(good + struct.pack(">BBI", 0, FORMAT, 1) + bytes(14)))
    bad_kind = binary([(2, 0, 1, 1, 1, 1, b""), (19, 0, 1, 1, 1, 1, b"")])
    with pytest.raises(BatchFormatError, match=f"bad record at byte {n + 6 + 30}: unknown kind 19"):
        walk(bytearray(good + bad_kind))
    with pytest.raises(BatchFormatError, match=f"bad record at byte {6}: unknown kind 0"):
        walk(bytearray(binary([(0, 0, 1, 1, 1, 1, b"")])))
    with pytest.raises(BatchFormatError, match=f"runs past the end of the events binary \\({n} > {n - 1} bytes\\)"):
        walk(bytearray(good[:-1]))
    with pytest.raises(BatchFormatError, match=f"events binary at byte {n} is not in agent format 20 "
                                               "\\(its segment header starts with bytes 0, 19, not 0, 20\\)"):
        walk(bytearray(good + struct.pack(">BBI", 0, 19, 0)))
    v19 = HEADER.pack(1, 0, 1, 1, 1, 1, 2) + b"\x83j"  # format 19: records back to back
    with pytest.raises(BatchFormatError, match="at byte 0 is not in agent format 20 \\(it starts with a "
                                               "record of kind 1: records back to back, the format of "
                                               "agents before version 20\\); .* reload the agent"):
        walk(bytearray(v19))
    with pytest.raises(BatchFormatError, match="not in agent format 20"):
        count_records(v19)


def test_joined_batches_store_the_same_rows_and_blocks_as_one_by_one(tmp_path):
    """The session stores batches received together as one joined binary: the events, their
    ids relative to the first, and the block rows are those of storing them one by one."""
    from elixir_scope.instrument.etf import Atom
    from elixir_scope.store import TraceStore
    from elixir_scope.store.batch import SyntheticTrace

    t = SyntheticTrace()
    server, client = t.new_pid(), t.new_pid()
    batches = []
    for b in range(5):
        for i in range(300 + 50 * b):
            t.gen_call(client, server, "Elixir.Srv", i, {Atom("n"): i}, {Atom("n"): i + 1}, Atom("ok"))
        t.send(client[1], server[1], server[0], Atom("hello"))
        batches.append(t.take())
    store = TraceStore.open(tmp_path / "j.db")

    def stored(joined: bool) -> tuple[list, list, list]:
        rec = store.create_recording("j" if joined else "s", spec={}, limits={})
        node = rec.add_node("test@localhost", otp_release="25", time_unit=1, time_offset=0)
        if joined:
            rec.ingest_batch(node, [e for b in batches for e in b.dict_entries], b"".join(b.events for b in batches))
        else:
            for b in batches:
                rec.ingest_batch(node, b.dict_entries, b.events)
        first = store.db.query_one("SELECT min(id) FROM events WHERE recording_id = ?", (rec.id,))[0]
        events = store.db.query("SELECT id - ?, kind, flags, ts, uniq, pid, aux, payload FROM events "
                                "WHERE recording_id = ? ORDER BY id", (first, rec.id))
        procs = store.db.query("SELECT pid, first_id - ?, last_id - ?, n FROM block_procs WHERE node_id = ? "
                               "ORDER BY 1, 2", (first, first, node))
        kinds = store.db.query("SELECT kind, aux, first_id - ?, last_id - ?, n FROM block_kinds "
                               "WHERE recording_id = ? ORDER BY 1, 2, 3", (first, first, rec.id))
        return events, procs, kinds

    one_by_one, joined = stored(False), stored(True)
    assert len(one_by_one[0]) == sum(b.count for b in batches) and joined[0] == one_by_one[0]
    # blocks never span two batches stored apart; joined, a key's blocks may span them (fewer rows)
    assert sum(r[3] for r in joined[1]) == sum(r[3] for r in one_by_one[1]) == len(joined[0])
    assert sum(r[4] for r in joined[2]) == sum(r[4] for r in one_by_one[2]) == len(joined[0])
    for pid, lo, hi, n in joined[1]:
        assert [e[5] for e in joined[0][lo:hi + 1]].count(pid) == n
    store.close()


def test_preload_imports_numpy_without_openblas_worker_threads():
    """A capture imports numpy before the node traces (``records.preload``); numpy's bundled
    OpenBLAS would start a worker thread per core that spins ~50 ms of CPU at import, beside
    the traced node, for matrix work the store never does."""
    import subprocess
    import sys

    code = ("import os, sys; from elixir_scope.store import records; "
            "assert 'numpy' not in sys.modules; records.preload(); assert 'numpy' in sys.modules; "
            "print(os.environ.get('OPENBLAS_NUM_THREADS'), len(os.listdir('/proc/self/task')))")
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["1", "1"]  # one thread: this one
    # a value the user set is kept
    env["OPENBLAS_NUM_THREADS"] = "2"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split()[0] == "2"
