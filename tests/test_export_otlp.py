"""OTLP export of a recording of the real sample app, received by a real OTLP/HTTP receiver on
loopback that decodes with the official opentelemetry-proto definitions: spans, their parents
and links are checked against the recording itself (traced stacks, matched messages), and the
exporter's transport rules (batches, retries, errors) against the receiver's answers."""

from __future__ import annotations

import asyncio
import socket

import pytest

from elixir_scope.store import EventKind, ExportError, TraceStore
from elixir_scope.store.export import HttpOptions, OtlpOptions, SpanOptions, export_otlp, traces_url
from elixir_scope.store.export.otlp_spans import SpanBuilder

from support.export_recording import SECRET, record_sample_app
from support.otlp_receiver import OtlpReceiver


@pytest.fixture(scope="module")
def recording(sample_app_module, tmp_path_factory):
    path = tmp_path_factory.mktemp("otlp") / "rec.db"
    rid = asyncio.run(record_sample_app(sample_app_module, path))
    store = TraceStore.open(path)
    yield store.recording(rid)
    store.close()


def attrs(kvs) -> dict:
    out = {}
    for kv in kvs:
        v = kv.value
        out[kv.key] = getattr(v, v.WhichOneof("value"))
    return out


def export(rec, **kw):
    with OtlpReceiver() as r:
        report = export_otlp(rec, r.url, OtlpOptions(**kw) if kw else None)
    return r, report


def test_every_traced_call_is_one_span_with_its_return(recording):
    r, report = export(recording)
    calls = {e.id: e for e in recording.events(kind=EventKind.CALL, limit=100_000)}
    spans = {attrs(s.attributes)["elixir_scope.event_id"]: s for _, s in r.spans()}
    assert set(spans) == set(calls) and report.spans == len(calls) and len(r.spans()) == len(calls)
    assert r.content_types == ["application/x-protobuf"]
    for cid, span in spans.items():
        call, a = calls[cid], attrs(span.attributes)
        assert span.name == str(call.mfa)
        assert a["code.function.name"] == str(call.mfa).rsplit("/", 1)[0]
        assert a["elixir_scope.pid"] == call.pid_text and a["elixir_scope.node"] == call.node.name
        end = recording.event(a["elixir_scope.end_event_id"])
        # the end is a return/exception of the same function in the same process, after the call
        assert (end.node_id, end.pid, end.aux) == (call.node_id, call.pid, call.aux) and end.id > call.id
        assert end.kind in (EventKind.RETURN, EventKind.EXCEPTION)
        wall = lambda e: (e.ts + e.node.time_offset) * 10**9 // e.node.time_unit  # noqa: E731
        assert (span.start_time_unix_nano, span.end_time_unix_nano) == (wall(call), wall(end))
    # resources: one per node, named by the semantic conventions
    (resource,) = [rs.resource for req in r.requests for rs in req.resource_spans]  # one node
    ra = attrs(resource.attributes)
    node = recording.nodes()[0]
    assert ra["service.instance.id"] == node.name and ra["process.runtime.version"] == node.otp_release
    assert ra["service.name"] == node.name.split("@")[0] and ra["elixir_scope.recording.id"] == recording.id


def test_parents_follow_the_traced_stack(recording):
    r, _ = export(recording)
    by_call = {attrs(s.attributes)["elixir_scope.event_id"]: s for _, s in r.spans()}
    nested = 0
    for cid, span in by_call.items():
        stack = recording.traced_stack(recording.event(cid))
        if stack.frames:
            parent = by_call[stack.frames[0].id]
            assert span.parent_span_id == parent.span_id and span.trace_id == parent.trace_id
            nested += 1
        else:
            assert span.parent_span_id == b""
    # Inventory.reserve runs inside Cart.handle_call in every cart process
    reserves = [s for s in by_call.values() if s.name == "SampleApp.Inventory.reserve/2"]
    assert reserves and nested >= len(reserves)
    parents = {s.span_id: s for s in by_call.values()}
    assert all(parents[s.parent_span_id].name == "SampleApp.Cart.handle_call/3" for s in reserves)


def test_messages_link_the_receiving_call_to_the_sending_call(recording):
    r, report = export(recording)
    by_id = {s.span_id: s for _, s in r.spans()}
    links = [(s, link) for s in by_id.values() for link in s.links]
    assert links and report.links == len(links)
    for span, link in links:
        la = attrs(link.attributes)
        send, recv = recording.event(la["elixir_scope.send_event_id"]), recording.event(la["elixir_scope.receive_event_id"])
        # the pair is a matched message of the recording
        matched = recording.db.query_one("SELECT send_id FROM msg_links WHERE recv_id = ?", (recv.id,))
        assert matched == (send.id,) and send.kind == EventKind.SEND and recv.kind == EventKind.RECEIVE
        # the link points at the call that was open in the sender when it sent
        sender = by_id[link.span_id]
        assert attrs(sender.attributes)["elixir_scope.event_id"] == recording.traced_stack(send).frames[0].id
        assert link.trace_id == sender.trace_id
        # and the linked span is a call of the receiving process
        assert attrs(span.attributes)["elixir_scope.pid"] == recv.pid_text
        assert "receive" in [e.name for e in span.events]
    # every inventory request made by Inventory.reserve is linked from the handle_call that served it
    served = [s for s in by_id.values() if s.name == "SampleApp.Inventory.handle_call/3"
              and attrs(s.attributes)["elixir_scope.args"].startswith("[{:reserve,")]
    assert served and all(len(s.links) == 1 and by_id[s.links[0].span_id].name == "SampleApp.Inventory.reserve/2"
                          for s in served)
    # sends are span events of the sending call
    sends = [e for s in by_id.values() for e in s.events if e.name == "send"]
    assert sends and all(attrs(e.attributes)["messaging.operation.type"] == "send" for e in sends)


def test_an_exception_ends_its_span_with_an_error_and_the_semconv_event(recording):
    r, _ = export(recording)
    (span,) = [s for _, s in r.spans() if s.name == "String.to_integer/1"]
    assert span.status.code == span.status.STATUS_CODE_ERROR
    (event,) = [e for e in span.events if e.name == "exception"]
    ea = attrs(event.attributes)
    end = recording.event(attrs(span.attributes)["elixir_scope.end_event_id"])
    assert end.kind == EventKind.EXCEPTION and ea["exception.type"] == end.payload[0].name == "error"
    assert ea["exception.message"] == ":badarg" and span.status.message == ":badarg"


def test_redacted_values_stay_redacted_and_values_are_bounded(recording):
    with OtlpReceiver() as r:
        export_otlp(recording, r.url, OtlpOptions(spans=SpanOptions(value_bytes=40)))
    wire = b"".join(req.SerializeToString() for req in r.requests)
    assert SECRET not in wire and b"hunter2" not in wire
    redacted = [s for _, s in r.spans() if attrs(s.attributes).get("elixir_scope.redacted")]
    assert redacted and any("«redacted»" in attrs(s.attributes)["elixir_scope.args"] for s in redacted)
    for _, s in r.spans():
        for k, v in attrs(s.attributes).items():
            assert not isinstance(v, str) or len(v.encode()) <= 40, k


def test_requests_stay_within_the_span_and_byte_limits(recording):
    r, report = export(recording, batch_spans=7)
    n = report.spans
    assert report.requests == len(r.requests) == -(-n // 7)
    assert all(sum(len(ss.spans) for rs in q.resource_spans for ss in rs.scope_spans) <= 7 for q in r.requests)
    r2, report2 = export(recording, max_request_bytes=65536)
    assert report2.spans == n and all(q.ByteSize() <= 65536 for q in r2.requests) and len(r2.requests) > 1
    # the same recording exported twice gives the same ids (backends deduplicate)
    assert sorted(s.span_id for _, s in r.spans()) == sorted(s.span_id for _, s in r2.spans())


def test_gzip_bodies(recording):
    with OtlpReceiver() as r:
        report = export_otlp(recording, r.url, OtlpOptions(http=HttpOptions(gzip=True)))
    assert r.encodings == ["gzip"] and len(r.spans()) == report.spans > 0


def test_retries_on_429_and_503_honouring_retry_after(recording):
    with OtlpReceiver() as r:
        r.script = [(503, {"Retry-After": "0"}, b""), (429, {"Retry-After": "0"}, b""), (502, {}, b"")]
        report = export_otlp(recording, r.url, OtlpOptions(http=HttpOptions(max_wait=0.05)))
    assert r.statuses[:4] == [503, 429, 502, 200] and report.retries == 3 and report.spans == len(r.spans())


def test_gives_up_after_max_attempts_with_a_clear_error(recording):
    with OtlpReceiver() as r:
        r.script = [(503, {"Retry-After": "0"}, b"busy")] * 3
        with pytest.raises(ExportError, match=r"HTTP 503 on all 3 tries.*busy"):
            export_otlp(recording, r.url, OtlpOptions(http=HttpOptions(max_attempts=3)))
    assert r.statuses == [503, 503, 503] and not r.requests


def test_a_4xx_is_final_and_quotes_the_collector(recording):
    # google.rpc.Status{code: 3, message: "bad span"} in the protobuf wire format
    status = b"\x08\x03\x12\x08bad span"
    with OtlpReceiver() as r:
        r.script = [(400, {"Content-Type": "application/x-protobuf"}, status)]
        with pytest.raises(ExportError, match=r"HTTP 400 \(bad span\).*retrying would not help"):
            export_otlp(recording, r.url)
    assert r.statuses == [400]
    with OtlpReceiver() as r:
        with pytest.raises(ExportError, match="HTTP 404.*/v1/traces"):
            export_otlp(recording, r.url + "/v1/traces/extra")


def test_partial_success_is_reported(recording):
    with OtlpReceiver() as r:
        r.reject_spans = 2
        report = export_otlp(recording, r.url, OtlpOptions(batch_spans=50))
    assert report.rejected_spans == 2 * report.requests and report.rejected_messages == ["spans too old"] * min(report.requests, 5)


def test_an_unreachable_endpoint_fails_at_once(recording):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, not listening: connections are refused
        with pytest.raises(ExportError, match=f"cannot reach the OTLP endpoint http://127.0.0.1:{port}/v1/traces"):
            export_otlp(recording, f"http://127.0.0.1:{port}")


@pytest.mark.parametrize("bad, match", [
    ("ftp://127.0.0.1:4318", "not an http"), ("127.0.0.1:4318", "not an http"),
    ("http://user:pw@127.0.0.1:4318", "credentials"), ("http://127.0.0.1:4318/?x=1", "query"),
    ("http://127.0.0.1:99999", "port"),
])
def test_bad_endpoints_are_refused_before_reading(bad, match):
    with pytest.raises(ExportError, match=match):
        traces_url(bad)


def test_endpoint_forms():
    assert traces_url("http://127.0.0.1:4318") == "http://127.0.0.1:4318/v1/traces"
    assert traces_url("http://127.0.0.1:4318/") == "http://127.0.0.1:4318/v1/traces"
    assert traces_url("https://otel.example/v1/traces") == "https://otel.example/v1/traces"
    assert traces_url("http://h:1/prefix") == "http://h:1/prefix/v1/traces"


def test_ids_are_valid_and_distinct(recording):
    b = SpanBuilder(recording, SpanOptions())
    ids = {b.span_id(i) for i in range(1, 2000)}
    assert len(ids) == 1999 and all(len(i) == 8 and any(i) for i in ids)
    assert len(b.trace_id(1)) == 16 and b.trace_id(1) != b.trace_id(2)


def test_without_term_text_the_same_spans_carry_names_ids_and_links_only(recording):
    full, _ = export(recording)
    bare, report = export(recording, spans=SpanOptions(value_bytes=0))
    shape = lambda r: sorted((s.span_id, s.parent_span_id, s.name, tuple(l.span_id for l in s.links))  # noqa: E731,E741
                             for _, s in r.spans())
    assert shape(bare) == shape(full) and report.links > 0
    keys = {a.key for _, s in bare.spans() for a in s.attributes}
    assert not keys & {"elixir_scope.args", "elixir_scope.return_value"} and "code.function.name" in keys
    assert not any(a.key == "elixir_scope.message" for _, s in bare.spans() for e in s.events for a in e.attributes)
    (err,) = [s for _, s in bare.spans() if s.status.code == s.status.STATUS_CODE_ERROR]
    assert err.status.message == ":badarg"  # an exception keeps its (short) reason
    assert sum(q.ByteSize() for q in bare.requests) < 0.7 * sum(q.ByteSize() for q in full.requests)
    with pytest.raises(ExportError, match="value_bytes must be 0"):
        OtlpOptions(spans=SpanOptions(value_bytes=8))
