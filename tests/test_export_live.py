"""Streaming OTLP export of a capture while it records (``OtlpStream``): spans reach a real
loopback receiver before the capture ends, and the stream sends exactly the spans (same ids,
same parents) that exporting the finished recording sends."""

from __future__ import annotations

import asyncio

from elixir_scope.instrument.capture import CapturePlan
from elixir_scope.instrument.dist import Node
from elixir_scope.instrument.limits import CaptureLimits
from elixir_scope.instrument.session import CaptureSession
from elixir_scope.instrument.specs import compile_spec
from elixir_scope.store import ExportError, TraceStore
from elixir_scope.store.export import OtlpStream, export_otlp

import pytest

from support.export_recording import SPECS
from support.otlp_receiver import OtlpReceiver


async def test_spans_stream_while_the_capture_records(sample_app, tmp_path):
    store = TraceStore.open(tmp_path / "live.db")
    plan = CapturePlan(specs=tuple(compile_spec(s) for s in SPECS[:4]), message_procs="all")
    node = Node()
    with OtlpReceiver() as live:
        try:
            conn = await node.connect(sample_app.name, cookie=sample_app.cookie)
            writer = store.create_recording("live", spec=plan.describe(), limits=CaptureLimits().as_dict())
            session = await CaptureSession.start(conn, writer, plan, None)
            stream = OtlpStream(store.recording(writer.id), live.url)
            await conn.rpc("Elixir.SampleApp.Workload", "run", [15])
            for _ in range(100):  # until the first batches are stored and their calls closed
                if stream.poll():
                    break
                await asyncio.sleep(0.1)
            during = len(live.spans())
            assert during > 0 and session.state.name == "RUNNING"  # sent while still recording
            await conn.rpc("Elixir.SampleApp.Workload", "run", [15])
            await asyncio.sleep(0.3)
            await session.stop()
            report = stream.finish()
        finally:
            await node.close()
        with pytest.raises(ExportError, match="finished"):
            stream.poll()
    rec = store.recording(writer.id)
    with OtlpReceiver() as after:
        export_otlp(rec, after.url)
    shape = lambda r: sorted((s.span_id, s.parent_span_id, s.trace_id, s.name) for _, s in r.spans())  # noqa: E731
    assert shape(live) == shape(after) and report.spans == len(after.spans()) > during
    assert len(live.requests) >= 2  # at least one request during the capture and one after
    # live links are a subset of the finished recording's (a receive stored before its send's
    # batch cannot be linked while recording)
    links = lambda r: {(s.span_id, link.span_id) for _, s in r.spans() for link in s.links}  # noqa: E731
    assert links(live) <= links(after) and links(live)
    store.close()
