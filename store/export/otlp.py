"""Export a recording to an OpenTelemetry backend as OTLP/HTTP protobuf traces.

    report = export_otlp(rec, "http://127.0.0.1:4318")

Spans come from ``calls.CallTracker`` (one streaming pass, bounded memory), are converted by
``otlp_spans.SpanBuilder`` (the mapping to the semantic conventions is documented there and in
docs/store.md) and sent by ``otlp_http.OtlpHttpClient`` in requests of at most ``batch_spans``
spans and ``max_request_bytes`` bytes, as they close — a recording of any size is exported with
a few requests' worth of memory.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..errors import ExportError
from .calls import READ_KINDS, CallLimits, CallTracker, event_pages
from .otlp_http import HttpOptions, OtlpHttpClient
from .otlp_spans import SpanBuilder, SpanOptions, proto

if TYPE_CHECKING:
    from ..reader import Recording

REQUEST_OVERHEAD = 4096  # resource, scope and framing bytes around the spans of a request


@dataclass(frozen=True, slots=True)
class OtlpOptions:
    """``batch_spans``: spans per request; ``max_request_bytes``: serialized size a request
    stays under (collectors commonly refuse more than 4 MiB); the rest see SpanOptions,
    HttpOptions and CallLimits."""

    batch_spans: int = 512
    max_request_bytes: int = 4_000_000
    spans: SpanOptions = field(default_factory=SpanOptions)
    http: HttpOptions = field(default_factory=HttpOptions)
    calls: CallLimits = field(default_factory=CallLimits)

    def __post_init__(self) -> None:
        if not 1 <= self.batch_spans <= 100_000:
            raise ExportError(f"batch_spans must be 1..100000, got {self.batch_spans}")
        if self.max_request_bytes < 64 * 1024:
            raise ExportError(f"max_request_bytes must be at least 65536, got {self.max_request_bytes}")
        if self.spans.value_bytes != 0 and not 16 <= self.spans.value_bytes <= 65536:
            raise ExportError(f"value_bytes must be 0 (no term text) or 16..65536, got {self.spans.value_bytes}")


@dataclass(slots=True)
class OtlpReport:
    recording_id: int
    endpoint: str
    spans: int = 0
    links: int = 0
    requests: int = 0
    retries: int = 0
    bytes_sent: int = 0
    rejected_spans: int = 0
    rejected_messages: list[str] = field(default_factory=list)
    events_read: int = 0
    unfinished_spans: int = 0
    returns_without_call: int = 0
    calls_too_deep: int = 0
    messages_outside_calls: int = 0
    messages_dropped: int = 0
    unlinked_receives: int = 0
    """Receives matched to a send the export could no longer tie to its call (see OtlpStream)."""

    def as_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


class _Batcher:
    def __init__(self, builder: SpanBuilder, client: OtlpHttpClient, options: OtlpOptions) -> None:
        self.builder, self.client, self.options = builder, client, options
        self._svc = proto()[0]
        self._by_node: dict[int, list] = {}
        self._count = 0
        self._bytes = REQUEST_OVERHEAD

    def add(self, node_id: int, span) -> None:
        size = span.ByteSize() + 16
        if size + REQUEST_OVERHEAD > self.options.max_request_bytes:
            call_id = next((a.value.int_value for a in span.attributes if a.key == "elixir_scope.event_id"), "?")
            raise ExportError(f"the span of call event {call_id} serializes to "
                              f"{size} bytes, more than max_request_bytes ({self.options.max_request_bytes}); "
                              "lower the value size (value_bytes / --otlp-value-bytes). Nothing more was sent.")
        if self._count and (self._count >= self.options.batch_spans
                            or self._bytes + size > self.options.max_request_bytes):
            self.flush()
        self._by_node.setdefault(node_id, []).append(span)
        self._count += 1
        self._bytes += size

    def flush(self) -> None:
        if not self._count:
            return
        nodes = self.builder.rec.context.nodes
        req = self._svc.ExportTraceServiceRequest(resource_spans=[
            self.builder.resource_spans(nodes[n], spans) for n, spans in sorted(self._by_node.items())])
        self.client.post(req.SerializeToString())
        self._by_node, self._count, self._bytes = {}, 0, REQUEST_OVERHEAD


class OtlpStream:
    """Export a recording while it is being written (``record --otlp``): each ``poll()`` reads
    the events stored since the previous one and sends the spans that closed; ``finish()``
    (once the recording has ended) sends the rest, calls still open included, and returns the
    report. ``export_otlp`` is one ``finish()`` on a finished recording.

    Live, a receive stored before its send's batch reached the store is exported as a span
    event without a link: the causal match does not exist yet when the receive is read. Export
    the finished recording again for every link — the span ids are the same."""

    def __init__(self, rec: "Recording", endpoint: str, options: OtlpOptions | None = None) -> None:
        self.options = options or OtlpOptions()
        self.rec = rec
        self.client = OtlpHttpClient(endpoint, self.options.http)
        self.builder = SpanBuilder(rec, self.options.spans)
        self.report = OtlpReport(rec.id, self.client.url)
        self._batcher = _Batcher(self.builder, self.client, self.options)
        self._tracker = CallTracker(self.options.calls)
        self._after = 0
        self._finished = False

    def poll(self) -> int:
        """Send the spans closed by the events stored since the last poll; returns how many."""
        if self._finished:
            raise ExportError("this OTLP stream has finished; start a new one to export again")
        before = self.report.spans
        for events, send_of in event_pages(self.rec, READ_KINDS, self._tracker.limits.page, self._after):
            for event in events:
                for cs in self._tracker.feed(event, send_of):
                    self._add(cs)
            self._after = events[-1].id
        self._batcher.flush()
        self._sync()
        return self.report.spans - before

    def finish(self) -> OtlpReport:
        self.poll()
        for cs in self._tracker.finish():
            self._add(cs)
        self._batcher.flush()
        self._finished = True
        self._sync()
        return self.report

    def _add(self, cs) -> None:
        span = self.builder.span(cs)
        self._batcher.add(cs.call.node_id, span)
        self.report.spans += 1
        self.report.links += len(span.links)

    def _sync(self) -> None:
        report, st, cs = self.report, self.client.stats, self._tracker.stats
        report.requests, report.retries, report.bytes_sent = st.requests, st.retries, st.bytes_sent
        report.rejected_spans, report.rejected_messages = st.rejected_spans, list(st.messages)
        report.events_read = cs.events_read
        report.unfinished_spans = cs.unfinished
        report.returns_without_call = cs.returns_without_call
        report.calls_too_deep = cs.too_deep
        report.messages_outside_calls = cs.messages_outside_calls
        report.messages_dropped = cs.messages_dropped
        report.unlinked_receives = cs.late_senders


def export_otlp(rec: "Recording", endpoint: str, options: OtlpOptions | None = None) -> OtlpReport:
    """Send every traced call of ``rec`` to ``endpoint`` as OTLP spans; returns what was sent.
    ExportError (nothing more sent) when the endpoint is unreachable or refuses a request;
    spans sent before that stay sent (OTLP has no transactions; re-exporting sends the same
    span ids, which backends deduplicate)."""
    return OtlpStream(rec, endpoint, options).finish()
