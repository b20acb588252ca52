"""The C heap tuning a capture sets (instrument/heap.py): the large buffers a capture allocates
and frees at a steady rate reuse heap memory instead of fresh pages (a page fault each in the
kernel). Counted in page faults (``getrusage``), never in time; each case in a fresh
interpreter, whose heap no earlier test has shaped."""

from __future__ import annotations

import json
import platform
import subprocess
import sys

import pytest

from elixir_scope.instrument.heap import tune_for_capture
from elixir_scope.instrument.ingest_pipeline import StorePipeline

glibc = pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc",
                           reason="the tuning is glibc's mallopt")

# a capture's pattern: 16 buffers of ~256 KB (socket reads, events binaries) allocated, then freed
_CHURN = """
import json, resource, sys
from elixir_scope.instrument.heap import tune_for_capture
state = tune_for_capture() if sys.argv[1] == "tune" else "untouched"
def faults():
    return resource.getrusage(resource.RUSAGE_THREAD).ru_minflt
rounds = []
for _ in range(12):
    f = faults()
    held = [bytearray(b"x" * 262_000) for _ in range(16)]
    del held
    rounds.append(faults() - f)
print(json.dumps({"state": state, "faults": rounds}))
"""


def _churn(mode: str) -> dict:
    out = subprocess.run([sys.executable, "-c", _CHURN, mode], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


@glibc
def test_tuned_heap_reuses_its_pages_for_the_next_buffers():
    tuned, untouched = _churn("tune"), _churn("no")
    assert tuned["state"] == "tuned"
    # the first round takes new pages either way (4 MB: ~1,000 faults); after it, the tuned heap
    # writes into pages it already has, where the default one gives them back and faults again
    assert untouched["faults"][0] > 500 and tuned["faults"][0] > 500
    assert sum(untouched["faults"][1:]) > 11 * 500, untouched
    assert sum(tuned["faults"][1:]) < 200, tuned


@glibc
def test_a_store_pipeline_tunes_the_heap_once_per_process(tmp_path):
    from elixir_scope.store import TraceStore

    store = TraceStore.open(str(tmp_path / "t.db"))
    try:
        rec = store.create_recording("heap", spec={}, limits={})
        node = rec.add_node("n@h", otp_release="25", time_unit=1_000_000_000, time_offset=0, mono_at_start=0)
        pipe = StorePipeline(rec, node)
        try:
            assert pipe.heap == "tuned"
            assert tune_for_capture() == "tuned"  # the same answer, set once
        finally:
            pipe.close_now()
    finally:
        store.close()
