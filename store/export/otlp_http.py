"""OTLP/HTTP with binary protobuf: POST ``ExportTraceServiceRequest`` bodies to ``/v1/traces``.

Behaviour follows the OTLP specification (protocol/otlp.md, "OTLP/HTTP"):

* ``Content-Type: application/x-protobuf``; optional ``Content-Encoding: gzip``.
* **Retries** only on 429, 502, 503 and 504 (and on a timeout), waiting what the server's
  ``Retry-After`` says (seconds or an HTTP date), else an exponential backoff with jitter;
  at most ``max_attempts`` tries and ``max_wait`` seconds per wait. Every other 4xx/5xx is
  final: the error quotes the server's ``google.rpc.Status`` message (or its text).
* A 200 carries an ``ExportTraceServiceResponse``; its ``partial_success`` (spans the server
  rejected, and why) is reported, not hidden.
* An endpoint that refuses the connection or does not resolve fails at once with a clear
  error: nothing is listening there, and retrying would only hide it.

The endpoint is the collector's base URL (``http://127.0.0.1:4318``: ``/v1/traces`` is
appended, as for ``OTEL_EXPORTER_OTLP_ENDPOINT``) or a full URL ending in ``/v1/traces``.
"""

from __future__ import annotations

import gzip
import ipaddress
import random
import socket
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit, urlunsplit

from ..errors import ExportError

TRACES_PATH = "/v1/traces"
RETRYABLE = frozenset({429, 502, 503, 504})


@dataclass(frozen=True, slots=True)
class HttpOptions:
    """``timeout``: seconds per request; ``max_attempts``: tries per request (1 = no retry);
    ``max_wait``: longest wait between tries (a longer Retry-After is cut to it);
    ``gzip``: compress bodies; ``headers``: extra request headers (e.g. an API key)."""

    timeout: float = 10.0
    max_attempts: int = 5
    max_wait: float = 30.0
    gzip: bool = False
    headers: tuple[tuple[str, str], ...] = ()


def traces_url(endpoint: str) -> str:
    """The ``/v1/traces`` URL of ``endpoint``; ExportError for anything but an http(s) URL."""
    text = (endpoint or "").strip()
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ExportError(f"OTLP endpoint {endpoint!r} is not an http(s) URL; pass the collector's "
                          "OTLP/HTTP address, e.g. http://127.0.0.1:4318")
    if parts.username or parts.password:
        raise ExportError(f"OTLP endpoint {parts.hostname}: credentials in the URL are refused "
                          "(they would show in logs); pass them as a header instead")
    if parts.query or parts.fragment:
        raise ExportError(f"OTLP endpoint {endpoint!r} has a query or fragment; pass the base URL "
                          "(e.g. http://127.0.0.1:4318) or a full URL ending in /v1/traces")
    try:
        parts.port
    except ValueError as exc:
        raise ExportError(f"OTLP endpoint {endpoint!r} has a bad port ({exc}); OTLP/HTTP usually "
                          "listens on 4318") from exc
    path = parts.path.rstrip("/")
    if not path.endswith(TRACES_PATH):
        path += TRACES_PATH
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


def is_loopback(url: str) -> bool:
    """Whether the URL's host is this machine (``localhost``, 127.0.0.0/8, ``::1``)."""
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(slots=True)
class SendStats:
    requests: int = 0
    retries: int = 0
    bytes_sent: int = 0
    rejected_spans: int = 0
    messages: list[str] = field(default_factory=list)
    """The servers' partial-success messages (at most 5 kept)."""


class OtlpHttpClient:
    """Posts serialized ``ExportTraceServiceRequest`` bodies to one endpoint."""

    def __init__(self, endpoint: str, options: HttpOptions | None = None) -> None:
        self.url = traces_url(endpoint)
        self.options = options or HttpOptions()
        if self.options.max_attempts < 1:
            raise ExportError("max_attempts must be at least 1")
        self.stats = SendStats()

    def post(self, body: bytes) -> None:
        """Send one request body; ExportError when it cannot be delivered (see module docs)."""
        from .otlp_spans import proto

        svc = proto()[0]
        data = gzip.compress(body) if self.options.gzip else body
        headers = {"Content-Type": "application/x-protobuf", "User-Agent": "elixir-scope-otlp"}
        if self.options.gzip:
            headers["Content-Encoding"] = "gzip"
        headers.update(dict(self.options.headers))
        attempt = 0
        while True:
            attempt += 1
            status, reply, retry_after = self._once(data, headers)
            if status == 200:
                self.stats.requests += 1
                self.stats.bytes_sent += len(data)
                self._partial(svc, reply)
                return
            retryable = status in RETRYABLE or status == 0
            if not retryable:
                raise ExportError(f"the OTLP endpoint {self.url} refused the export: HTTP {status}"
                                  f"{_status_message(reply)}. {_hint(status)}")
            if attempt >= self.options.max_attempts:
                what = f"HTTP {status}" if status else "timed out"
                raise ExportError(f"the OTLP endpoint {self.url} {what} on all {attempt} tries"
                                  f"{_status_message(reply)}; the collector is overloaded or down. "
                                  "Retry later, or raise max_attempts.")
            self.stats.retries += 1
            time.sleep(self._wait(attempt, retry_after))

    def _once(self, data: bytes, headers: dict[str, str]) -> tuple[int, bytes, str | None]:
        """(status, body, Retry-After) of one POST; status 0 for a timeout."""
        req = urllib.request.Request(self.url, data=data, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=self.options.timeout) as resp:  # noqa: S310 (http(s) only)
                return resp.status, resp.read(1 << 20), None
        except urllib.error.HTTPError as exc:
            body = exc.read(1 << 16) if exc.fp else b""
            return exc.code, body, exc.headers.get("Retry-After") if exc.headers else None
        except (TimeoutError, socket.timeout):
            return 0, b"", None
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, (TimeoutError, socket.timeout)):
                return 0, b"", None
            raise ExportError(f"cannot reach the OTLP endpoint {self.url}: {exc.reason}. Is a collector "
                              "listening there (OTLP/HTTP, usually port 4318)? Check the URL.") from exc
        except (ConnectionError, OSError) as exc:
            raise ExportError(f"cannot reach the OTLP endpoint {self.url}: {exc}. Is a collector "
                              "listening there (OTLP/HTTP, usually port 4318)?") from exc

    def _wait(self, attempt: int, retry_after: str | None) -> float:
        if retry_after:
            secs = _retry_after_seconds(retry_after)
            if secs is not None:
                return min(max(secs, 0.0), self.options.max_wait)
        backoff = min(0.5 * (2 ** (attempt - 1)), self.options.max_wait)
        return backoff * (0.5 + random.random() / 2)

    def _partial(self, svc, reply: bytes) -> None:
        if not reply:
            return
        msg = svc.ExportTraceServiceResponse()
        try:
            msg.ParseFromString(reply)
        except Exception:  # a 200 with a body that is not the response: nothing to report
            return
        if msg.HasField("partial_success"):
            self.stats.rejected_spans += msg.partial_success.rejected_spans
            if msg.partial_success.error_message and len(self.stats.messages) < 5:
                self.stats.messages.append(msg.partial_success.error_message[:500])


def _retry_after_seconds(value: str) -> float | None:
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return when.timestamp() - time.time()


def _status_message(body: bytes) -> str:
    """The ``message`` of a ``google.rpc.Status`` body (field 2), else the body as text."""
    if not body:
        return ""
    text = _rpc_status_message(body)
    if text is None:
        text = body[:300].decode("utf-8", "replace")
    text = " ".join(text.split())[:300]
    return f" ({text})" if text else ""


def _rpc_status_message(body: bytes) -> str | None:
    """Field 2 (string) of a protobuf message, read from the wire format; None if not one."""
    i, n = 0, len(body)
    try:
        while i < n:
            key, i = _varint(body, i)
            field_no, wire = key >> 3, key & 7
            if wire == 0:
                _, i = _varint(body, i)
            elif wire == 2:
                size, i = _varint(body, i)
                if i + size > n:
                    return None
                if field_no == 2:
                    return body[i:i + size].decode("utf-8")
                i += size
            else:
                return None
    except (IndexError, UnicodeDecodeError):
        return None
    return None


def _varint(data: bytes, i: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        b = data[i]
        i += 1
        value |= (b & 0x7F) << shift
        if b < 0x80:
            return value, i
        shift += 7
        if shift > 63:
            raise IndexError("varint too long")


def _hint(status: int) -> str:
    if status in (401, 403):
        return "The collector wants credentials: pass them as a header (--otlp-header 'Authorization=...')."
    if status == 404:
        return "Nothing serves /v1/traces there: check the URL and that the collector's OTLP/HTTP receiver is on."
    if status == 413:
        return "The request was too large: lower max_request_bytes / --otlp-batch."
    if status == 415:
        return "The endpoint does not take binary protobuf; point it at an OTLP/HTTP receiver."
    if 400 <= status < 500:
        return "The data was not accepted; retrying would not help."
    return "The collector failed; check its logs."
