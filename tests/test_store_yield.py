"""The store yielding the CPU to a busy node (instrument/store_yield.py, through the capture's
store pipeline, instrument/ingest_pipeline.py) against a real store: postponed jobs - in memory
and spilled to the unlinked temporary file - are stored exactly as the serial path stores them,
in order, when the session waits for the writer (``settle``/``close``), when the batches stop
arriving and when the oldest is past the maximum lag; with the spill file past its cap (or
unable to be written) the bound holds the acks and nothing is lost; a refused job gives back its
batches as received, read back from the file; the file is gone when the pipeline is closed,
after a refusal and after a cancelled capture. The capture-level tests (real nodes) are in
tests/test_capture_pipeline.py."""

from __future__ import annotations

import asyncio
import os

import pytest
from elixir_scope.instrument.ingest_pipeline import StorePipeline
from elixir_scope.instrument.spill_file import SpillFile
from elixir_scope.instrument.store_yield import CpuIdle, StoreYield, check_yield
from elixir_scope.store import BatchFormatError

from test_ingest_pipeline import TABLES, _batches, _open, _rows, prec_count

# the machine always counts as busy (fewer idle cores than a machine has) and the batches as
# back to back, from the first job (no sustained stretch first): the jobs wait until the
# session waits for the writer
ALWAYS = dict(idle_cores=10_000.0, quiet_s=10_000.0, max_lag_s=10_000.0, sustain_s=0.0)
pytestmark = pytest.mark.skipif(CpuIdle().sample() is None and not os.path.exists("/proc/stat"),
                                reason="the idle CPU is read from /proc/stat (Linux)")


async def _first_look() -> None:
    """As a capture's first batch comes a while after its pipeline starts: the first look at the
    idle CPU then covers some of the kernel's ticks (a look sooner knows nothing yet)."""
    await asyncio.sleep(0.1)


def _spill_fds(directory) -> list[str]:
    """This process's open files in ``directory`` that have no name (the spill file)."""
    out = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith(str(directory)) and target.endswith("(deleted)"):
            out.append(target)
    return out


def _serial(tmp_path, batches):
    serial, srec, snode = _open(tmp_path / "serial.db")
    for b in batches:
        srec.ingest_batch(snode, b.dict_entries, b.events)
    return serial


@pytest.mark.parametrize("memory", ["none", "some", "all"])
def test_postponed_jobs_are_stored_in_order_when_the_writer_is_waited_for(tmp_path, memory):
    """Every job postponed (all spilled, some, none): nothing is stored while the node is busy,
    every batch is acknowledged (the spilled ones hold no memory), and ``settle(0)`` returns
    with exactly the serial path's rows, in arrival order."""
    batches = _batches(12)
    store, rec, node = _open(tmp_path / "y.db")
    bound = 2 * max(len(b.events) for b in batches)
    memory_bytes = {"none": 0, "some": bound + 1, "all": 10**9}[memory]

    async def run():
        pipe = StorePipeline(rec, node, max_pending_bytes=bound, stage_bytes=0,
                             yield_to_node=StoreYield(**ALWAYS, memory_bytes=memory_bytes))
        await _first_look()
        acks = 0
        for b in batches:
            pipe.submit(b.dict_entries, b.events)
            if pipe.may_ack():
                acks += 1
            else:
                await pipe.settle()
            await asyncio.sleep(0.001)  # ticks run between batches
        before = pipe.stored, prec_count(store, rec.id)
        spilled = pipe.postponer.spill.open
        await pipe.settle(0)
        after = pipe.stored
        await pipe.close()
        return pipe, acks, before, after, spilled

    pipe, acks, before, after, spilled = asyncio.run(run())
    y = pipe.postponer
    assert y.postponed_jobs == len(batches)
    if memory == "none":
        assert before == (0, 0)  # postponed until the writer was waited for
        assert acks == len(batches) and pipe.held_acks == 0
        assert y.spilled_jobs == len(batches) and spilled and y.spill.peak > 0
    elif memory == "all":
        assert y.spilled_jobs == 0 and not spilled
        assert pipe.held_acks > 0  # in memory: the bound holds the acks, and the store catches up
    else:
        assert 0 < y.spilled_jobs < len(batches)
    assert after == pipe.stored == sum(b.count for b in batches) == prec_count(store, rec.id)
    assert pipe.failure is None and pipe.lost_batches == [] and pipe.pending_bytes == 0
    assert y.spilled_bytes == 0 and y.postponed_bytes == 0 and y.memory_bytes == 0
    serial = _serial(tmp_path, batches)
    want, got = _rows(serial), _rows(store)
    for name in TABLES:
        assert got[name] == want[name], name
    assert _spill_fds(tmp_path) == []  # the spill file is gone
    store.close()
    serial.close()


@pytest.mark.parametrize("when", ["quiet", "lag"])
def test_postponed_jobs_go_when_the_batches_stop_or_the_oldest_is_past_the_lag(tmp_path, when):
    """No ``settle``: the ticks hand the postponed jobs to the threads once no batch came for
    ``quiet_s``, or once the oldest waited ``max_lag_s``."""
    batches = _batches(6)
    store, rec, node = _open(tmp_path / "q.db")
    policy = {"quiet": dict(ALWAYS, quiet_s=0.05), "lag": dict(ALWAYS, max_lag_s=0.05)}[when]
    want = sum(b.count for b in batches)

    async def run():
        # one job in flight at a time (split_bytes=1): the next goes once the one before is
        # stored, with no batch arriving any more to collect it
        pipe = StorePipeline(rec, node, stage_bytes=0, split_bytes=1,
                             yield_to_node=StoreYield(**policy, memory_bytes=0, tick_s=0.01))
        await _first_look()
        for b in batches:
            pipe.submit(b.dict_entries, b.events)
        for _ in range(3000):
            if pipe.stored == want:
                break
            await asyncio.sleep(0.01)
        stored, spilled = pipe.stored, pipe.postponer.spilled_jobs
        await pipe.close()
        return pipe, stored, spilled

    pipe, stored, spilled = asyncio.run(run())
    assert stored == want == prec_count(store, rec.id)
    assert spilled == len(batches) and pipe.postponer.peak_lag > 0
    assert pipe.postponer.released[when] == len(batches)
    serial = _serial(tmp_path, batches)
    assert _rows(store)["events"] == _rows(serial)["events"]
    assert _spill_fds(tmp_path) == []
    store.close()
    serial.close()


@pytest.mark.parametrize("cap", ["small", "unwritable"])
def test_a_spill_file_past_its_cap_holds_the_acks_and_loses_nothing(tmp_path, cap):
    """The spill file refuses a job past its cap (or cannot be written at all): the job waits in
    memory, the bound holds the acks (the session then waits for the writer, which stores
    everything postponed), and every record is stored in order."""
    batches = _batches(16)
    store, rec, node = _open(tmp_path / "cap.db")
    size = max(len(b.events) for b in batches)
    bound = 2 * size
    disk = {"small": 3 * size, "unwritable": 10**9}[cap]

    async def run():
        pipe = StorePipeline(rec, node, max_pending_bytes=bound, stage_bytes=0,
                             yield_to_node=StoreYield(**ALWAYS, memory_bytes=0, disk_cap_bytes=disk))
        if cap == "unwritable":  # the directory is gone: the file cannot be opened
            pipe.postponer.spill.directory = tmp_path / "missing"
        await _first_look()
        peak = 0
        for b in batches:
            pipe.submit(b.dict_entries, b.events)
            if not pipe.may_ack():
                await pipe.settle()
            peak = max(peak, pipe.memory_pending_bytes)
        await pipe.close()
        return pipe, peak

    pipe, peak = asyncio.run(run())
    y = pipe.postponer
    assert y.spill.refused > 0 and pipe.held_acks > 0
    assert peak <= bound  # after each wait, the memory held is under the bound
    if cap == "small":
        assert y.spilled_jobs > 0 and y.spill.peak <= disk and y.spill.error is None
    else:
        assert y.spilled_jobs == 0 and isinstance(y.spill.error, OSError)
    assert pipe.failure is None and pipe.lost_batches == [] and pipe.pending_bytes == 0
    assert pipe.stored == sum(b.count for b in batches) == prec_count(store, rec.id)
    serial = _serial(tmp_path, batches)
    assert _rows(store)["events"] == _rows(serial)["events"]
    assert _spill_fds(tmp_path) == []
    store.close()
    serial.close()


def test_a_refused_spilled_job_gives_back_its_batches_and_the_file_is_gone(tmp_path):
    """A malformed batch among spilled jobs: what came before is stored, it and those after it
    are given back as received (read back from the spill file), and the file is closed."""
    batches = _batches(6)
    store, rec, node = _open(tmp_path / "bad.db")
    cut = batches[3].events[:-5]
    sent = [cut if i == 3 else b.events for i, b in enumerate(batches)]

    async def run():
        pipe = StorePipeline(rec, node, stage_bytes=0, yield_to_node=StoreYield(**ALWAYS, memory_bytes=0))
        await _first_look()
        for b, events in zip(batches, sent):
            pipe.submit(b.dict_entries, events)
        await pipe.close()
        return pipe

    pipe = asyncio.run(run())
    assert isinstance(pipe.failure, BatchFormatError)
    assert pipe.postponer.spilled_jobs == len(batches)
    assert [bytes(b) for b in pipe.lost_batches] == [bytes(e) for e in sent[3:]]
    assert pipe.stored == sum(b.count for b in batches[:3]) == prec_count(store, rec.id)
    assert _spill_fds(tmp_path) == [] and not pipe.postponer.spill.open
    store.close()


def test_a_cancelled_pipeline_stores_its_postponed_jobs_and_closes_the_file(tmp_path):
    """``close_now`` (the session's task cancelled): the threads store every postponed job,
    read back from the file, and the file is closed after the last."""
    batches = _batches(8)
    store, rec, node = _open(tmp_path / "cancel.db")
    want = sum(b.count for b in batches)

    async def run():
        pipe = StorePipeline(rec, node, stage_bytes=0, yield_to_node=StoreYield(**ALWAYS, memory_bytes=0))
        await _first_look()
        for b in batches:
            pipe.submit(b.dict_entries, b.events)
        assert pipe.stored == 0 and pipe.postponer.spill.open
        pipe.close_now()
        for _ in range(3000):
            if pipe.stored == want and not pipe.postponer.spill.open:
                break
            await asyncio.sleep(0.01)
        return pipe

    pipe = asyncio.run(run())
    assert pipe.stored == want == prec_count(store, rec.id) and pipe.failure is None
    assert not pipe.postponer.spill.open and _spill_fds(tmp_path) == []
    store.close()


def test_the_spill_file_has_no_name_and_is_emptied_when_nothing_is_outstanding(tmp_path):
    spill = SpillFile(tmp_path, 1000)
    a, b = spill.put(b"x" * 400), spill.put(b"y" * 400)
    assert os.listdir(tmp_path) == [] and len(_spill_fds(tmp_path)) == 1
    assert spill.put(b"z" * 400) is None and spill.refused == 1  # past the cap
    assert bytes(b.load()) == b"y" * 400 and bytes(a.load()) == b"x" * 400
    spill.release(a)
    assert spill.put(b"z" * 400) is None  # the file only empties when nothing is outstanding
    spill.release(b)
    c = spill.put(b"z" * 400)
    assert c is not None and c.offset == 0 and os.fstat(spill._fd).st_size == 400
    spill.close()
    spill.close()
    assert _spill_fds(tmp_path) == []
    with pytest.raises(OSError):
        c.load()


def test_bad_yield_settings_are_refused():
    assert check_yield(True) == StoreYield() and check_yield(False) is None and check_yield(None) is None
    for bad in ("yes", 1):
        with pytest.raises(ValueError, match="store_yield is True, False or a StoreYield"):
            check_yield(bad)
    with pytest.raises(ValueError, match="quiet_s"):
        StoreYield(quiet_s=-1)
    with pytest.raises(ValueError, match="disk_cap_bytes"):
        StoreYield(disk_cap_bytes=1.5)
    with pytest.raises(ValueError, match="tick_s"):
        StoreYield(tick_s=0)
    with pytest.raises(ValueError, match="sustain_s"):
        StoreYield(sustain_s=-0.5)


def test_the_idle_cpu_is_read_from_the_whole_machine():
    cpu = CpuIdle()
    x = 0
    for i in range(2_000_000):  # some time passes
        x += i
    idle = cpu.sample()
    assert idle is None or 0 <= idle <= (os.cpu_count() or 1)
    assert CpuIdle("/nonexistent").sample() is None
