"""The store postpones only a *sustained* burst (instrument/store_yield.py, ``StoreYield.sustain_s``):
the policy driven by an injected clock and idle-CPU signal (no wall-clock timing), and through
the capture's store pipeline against a real store - the jobs formed before the busy stretch
reached ``sustain_s`` stored beside the node, those after postponed, and every record stored in
order, as the serial path stores it, when the writer is waited for."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

import pytest
from elixir_scope.instrument.ingest_pipeline import StorePipeline
from elixir_scope.instrument.store_yield import Postponer, StoreYield

from test_ingest_pipeline import TABLES, _batches, _open, _rows, prec_count
from test_store_yield import ALWAYS, _first_look, _serial, _spill_fds


class FakeCpu:
    """The idle-CPU signal, set by the test (cores idle over the last tick)."""

    readable = True

    def __init__(self) -> None:
        self.idle: float | None = 0.0

    def sample(self) -> float | None:
        return self.idle


class Driven:
    """A Postponer on an injected clock and idle signal; its launches recorded, nothing in flight
    (the threads store at once)."""

    def __init__(self, directory: Path, **policy) -> None:
        self.t = 0.0
        self.cpu = FakeCpu()
        self.launched: list[int] = []
        self.p = Postponer(StoreYield(**policy), directory, self._launch, lambda: 0, 4 * 1024 * 1024,
                           clock=lambda: self.t, cpu=self.cpu)
        self.n = 0

    def _launch(self, dict_entries, events, parts) -> None:
        self.launched.append(int(bytes(events.load() if hasattr(events, "load") else events)))

    def batch(self) -> None:
        """A batch arrives and forms a job of its own (the pipeline calls both on the loop)."""
        self.p.arrived(self.t)
        self.p.add([], str(self.n).encode(), (1,), self.t)
        self.n += 1

    def run(self, seconds: float, every: float = 0.02) -> None:
        """Batches back to back for ``seconds`` (one every ``every`` seconds)."""
        end = self.t + seconds
        while self.t < end - 1e-9:
            self.batch()
            self.t += every


POLICY = dict(idle_cores=1.0, quiet_s=0.1, max_lag_s=100.0, sustain_s=1.5, rest_s=1.0, tick_s=0.05)


def test_a_short_burst_is_stored_beside_the_node_and_a_sustained_one_is_postponed(tmp_path):
    d = Driven(tmp_path, **POLICY)
    d.run(1.0)  # a second of back-to-back batches, the machine busy: a short burst
    assert d.p.postponed_jobs == 0 and d.launched == list(range(d.n)) and d.p.direct_jobs == d.n
    d.t += 1.2  # the batches stop (``rest_s``): the stretch ends
    d.run(1.0)  # another short burst: the stretch began again
    assert d.p.postponed_jobs == 0 and d.p.short_bursts == 1
    d.t += 1.2
    first = d.n
    d.run(3.0)  # a sustained burst: stored beside the node for 1.5 s, then postponed
    formed = d.n - first
    assert d.p.postponed_jobs > 0 and d.p.short_bursts == 2
    assert d.p.direct_jobs == first + formed - d.p.postponed_jobs
    assert d.p.sustained_at == pytest.approx(1.5, abs=0.03)
    assert abs(d.p.postponed_jobs - formed / 2) <= 2  # the stretch's second half
    assert d.p.queued and d.launched == list(range(len(d.launched)))
    d.t += 0.2  # the batches stop: the postponed jobs go, in order
    d.p.release(d.t)
    assert not d.p.queued and d.launched == list(range(d.n))
    assert d.p.released["quiet"] == d.p.postponed_jobs
    waiting = d.p.postponed_jobs
    d.run(0.2)  # a pause shorter than ``rest_s``: the stretch goes on, postponed at once
    assert d.p.postponed_jobs == waiting + 10 and d.p.short_bursts == 2
    d.t += 1.2
    d.run(0.2)  # one of ``rest_s``: the stretch is over, the next job goes at once
    assert d.p.postponed_jobs == waiting + 10 and not d.p.queued
    assert d.launched == list(range(d.n))
    d.p.close()
    d.p.spill.close()


def test_an_idle_core_releases_jobs_without_ending_the_stretch(tmp_path):
    d = Driven(tmp_path, **POLICY)
    d.cpu.idle = 1.5  # a core to spare: batches back to back do not start a stretch
    d.run(2.0)
    assert d.p.postponed_jobs == 0 and d.p._busy_since is None
    d.cpu.idle = 0.2
    d.run(2.0)  # busy from here: postponed after 1.5 s of it
    assert d.p.postponed_jobs > 0 and d.p.sustained_at == pytest.approx(1.5, abs=0.03)
    waiting = d.p.postponed_jobs
    d.cpu.idle = 1.5  # a tick with a core to spare releases what waits ...
    d.p._tick()
    assert not d.p.queued and d.p.released["idle"] == waiting
    d.run(0.2)  # ... and while it lasts the new jobs go at once
    assert d.p.postponed_jobs == waiting
    d.cpu.idle = 0.2
    d.p._tick()
    d.run(0.2)  # busy again: postponed at once, the stretch did not start over
    assert d.p.postponed_jobs > waiting
    assert d.launched == list(range(len(d.launched)))
    d.p.release_all(d.t)
    assert d.launched == list(range(d.n)) and d.p.released["wait"] > 0
    d.p.close()
    d.p.spill.close()


def test_sustain_zero_postpones_from_the_first_busy_job(tmp_path):
    d = Driven(tmp_path, **dict(POLICY, sustain_s=0.0))
    d.run(0.1)
    assert d.p.postponed_jobs == d.n and d.launched == [] and d.p.sustained_at == 0.0
    d.p.release_all(d.t)
    assert d.launched == list(range(d.n))
    d.p.close()
    d.p.spill.close()


@pytest.mark.parametrize("burst", ["short", "sustained"])
def test_the_pipeline_stores_a_short_burst_beside_and_postpones_a_sustained_one(tmp_path, burst):
    """The machine always busy, the batches back to back: with ``sustain_s`` out of reach every
    job is stored as it is formed (nothing postponed, the records queryable before any wait);
    with a short ``sustain_s``, the first job is stored beside the node and those formed after
    the stretch reached it are postponed (spilled), then stored in order when the writer is
    waited for - exactly the serial path's rows, counts agreeing."""
    batches = _batches(10)
    store, rec, node = _open(tmp_path / "s.db")
    sustain = {"short": 10_000.0, "sustained": 0.2}[burst]
    want = sum(b.count for b in batches)

    async def run():
        pipe = StorePipeline(rec, node, stage_bytes=0,
                             yield_to_node=StoreYield(**dict(ALWAYS, sustain_s=sustain), memory_bytes=0))
        await _first_look()
        pipe.submit(batches[0].dict_entries, batches[0].events)
        await asyncio.sleep(sustain if burst == "sustained" else 0.01)  # the stretch reaches it, or not
        for b in batches[1:]:
            pipe.submit(b.dict_entries, b.events)
            assert pipe.may_ack()
            await asyncio.sleep(0.001)
        if burst == "short":  # nothing waits for a release: stored with no settle
            for _ in range(3000):
                if pipe.stored == want:
                    break
                await asyncio.sleep(0.01)
        before = pipe.stored
        await pipe.settle(0)
        stored = pipe.stored
        await pipe.close()
        return pipe, before, stored

    pipe, before, stored = asyncio.run(run())
    y = pipe.postponer
    if burst == "short":
        assert y.postponed_jobs == 0 and y.direct_jobs == len(batches) and before == want
        assert y.sustained_at is None
    else:
        assert y.direct_jobs == 1 and y.postponed_jobs == y.spilled_jobs == len(batches) - 1
        assert y.sustained_at >= 0.2 and y.released["wait"] == len(batches) - 1
        assert before <= batches[0].count  # the postponed ones waited for the writer
    assert stored == pipe.stored == want == prec_count(store, rec.id)
    assert pipe.failure is None and pipe.lost_batches == [] and pipe.pending_bytes == 0
    assert y.postponed_bytes == y.memory_bytes == y.spilled_bytes == 0
    serial = _serial(tmp_path, batches)
    got, expect = _rows(store), _rows(serial)
    for name in TABLES:
        assert got[name] == expect[name], name
    assert _spill_fds(tmp_path) == []
    store.close()
    serial.close()
