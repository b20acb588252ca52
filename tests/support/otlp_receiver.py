"""A real OTLP/HTTP trace receiver on loopback for the export tests: an ``http.server`` in a
thread that decodes every ``POST /v1/traces`` body with the official ``opentelemetry-proto``
definitions, keeps the decoded requests, and answers as a collector would — 200 with an
``ExportTraceServiceResponse``, or, when told to, a scripted sequence of error statuses (with
``Retry-After``) first, to exercise the exporter's retry rules."""

from __future__ import annotations

import gzip
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from opentelemetry.proto.collector.trace.v1 import trace_service_pb2


class OtlpReceiver:
    def __init__(self) -> None:
        self.requests: list[trace_service_pb2.ExportTraceServiceRequest] = []
        self.statuses: list[int] = []  # every status answered, in order
        self.script: list[tuple[int, dict[str, str], bytes]] = []  # answers to give before 200s
        self.content_types: list[str] = []
        self.encodings: list[str | None] = []
        self.reject_spans = 0  # partial success: report this many spans rejected per request
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # keep test output clean
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.path != "/v1/traces":
                    self._answer(404, {}, b"not found")
                    return
                if receiver.script:
                    status, headers, reply = receiver.script.pop(0)
                    self._answer(status, headers, reply)
                    return
                receiver.content_types.append(self.headers.get("Content-Type", ""))
                receiver.encodings.append(self.headers.get("Content-Encoding"))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                req = trace_service_pb2.ExportTraceServiceRequest()
                req.ParseFromString(body)
                receiver.requests.append(req)
                resp = trace_service_pb2.ExportTraceServiceResponse()
                if receiver.reject_spans:
                    resp.partial_success.rejected_spans = receiver.reject_spans
                    resp.partial_success.error_message = "spans too old"
                self._answer(200, {"Content-Type": "application/x-protobuf"}, resp.SerializeToString())

            def _answer(self, status: int, headers: dict[str, str], body: bytes) -> None:
                receiver.statuses.append(status)
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> "OtlpReceiver":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def spans(self) -> list[tuple[object, object]]:
        """(resource, span) of every span received, in arrival order."""
        return [(rs.resource, span) for req in self.requests for rs in req.resource_spans
                for ss in rs.scope_spans for span in ss.spans]
