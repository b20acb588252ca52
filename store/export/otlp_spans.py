"""A recording's traced calls as OpenTelemetry spans (the official ``opentelemetry-proto``
messages), following the semantic conventions where they have a name for the thing:

* **Resource** — one per traced node: ``service.name`` (the node's name before ``@``, or
  ``OtlpOptions.service_name``), ``service.instance.id`` (the full node name), ``host.name``,
  ``process.runtime.name`` = ``BEAM``, ``process.runtime.version`` (the OTP release), plus
  ``elixir_scope.recording.id`` / ``elixir_scope.recording.name``.
* **Span** — one per traced call, named like ``SampleApp.Cart.add/3``, kind INTERNAL, from the
  call to its ``return`` (status UNSET) or ``exception_from`` (status ERROR and an
  ``exception`` event with ``exception.type`` / ``exception.message``). Its parent is the call
  open below it in the same process. Attributes: ``code.function.name``, ``thread.name`` (the
  Erlang process: registered name, else pid — the convention's own Erlang example),
  ``elixir_scope.pid``, ``elixir_scope.node``, ``elixir_scope.event_id`` (the call event) and
  ``elixir_scope.end_event_id``, ``elixir_scope.args`` / ``elixir_scope.return_value``
  (bounded Elixir text), ``elixir_scope.unfinished`` when no return was recorded, and
  ``elixir_scope.truncated`` / ``elixir_scope.redacted`` when the agent cut or redacted a value.
* **Messages** — a ``send`` is a span event ``send`` on the sending call
  (``messaging.operation.type`` = ``send``, ``messaging.destination.name``); a ``receive`` is a
  span event ``receive`` on the call that received it, and when the send is known, a span
  **link** from that call to the sending call (``elixir_scope.send_event_id``,
  ``elixir_scope.receive_event_id``).
* **Ids** — deterministic: a span's id is derived from the recording and its call event, the
  trace id from the outermost call of its tree, so exporting twice gives the same ids and
  a backend deduplicates.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import ExportError
from ..events import Event, EventKind, NodeInfo
from .calls import CallSpan, SpanRef
from .text import bounded_text, cut, function_name, payload_text, process_name, unix_nanos

if TYPE_CHECKING:
    from ..reader import Recording

SCOPE_NAME = "elixir_scope"
EXCEPTION_BYTES = 256  # an exception's or exit's reason still has text when value_bytes is 0


def proto():
    """The OTLP protobuf modules; ExportError naming the extra when they are not installed."""
    try:
        from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
        from opentelemetry.proto.common.v1 import common_pb2
        from opentelemetry.proto.resource.v1 import resource_pb2
        from opentelemetry.proto.trace.v1 import trace_pb2
    except ImportError as exc:
        raise ExportError(f"OTLP export needs the opentelemetry-proto and protobuf packages ({exc}); "
                          "install them with: pip install 'elixir-scope[export]'") from exc
    return trace_service_pb2, common_pb2, resource_pb2, trace_pb2


@dataclass(frozen=True, slots=True)
class SpanOptions:
    """``value_bytes``: longest text of an argument, return value, message or reason (0: no
    term text at all — names, ids, times and links only, for streaming at high rates);
    ``service_name``: the resource's service.name (default: each node's name before ``@``)."""

    value_bytes: int = 1024
    service_name: str | None = None


class SpanBuilder:
    """Turns CallSpans of one recording into ``Span`` messages grouped by node (resource)."""

    def __init__(self, rec: "Recording", options: SpanOptions) -> None:
        _, self._common, self._resource, self._trace = proto()
        self.rec = rec
        self.options = options
        info = rec.info
        self._key = f"{info.id}:{info.created_at!r}:{info.name}".encode()
        self._rec_attrs = {"elixir_scope.recording.id": info.id, "elixir_scope.recording.name": info.name}

    # -- ids -------------------------------------------------------------------------------------
    def span_id(self, call_id: int) -> bytes:
        return _digest(self._key + b"/span/%d" % call_id, 8)

    def trace_id(self, root_id: int) -> bytes:
        return _digest(self._key + b"/trace/%d" % root_id, 16)

    # -- messages --------------------------------------------------------------------------------
    def resource_spans(self, node: NodeInfo, spans: list) -> Any:
        """One ResourceSpans (the node) holding ``spans`` (Span messages)."""
        host = node.name.split("@", 1)[1] if "@" in node.name else ""
        attrs = {
            "service.name": self.options.service_name or node.name.split("@", 1)[0],
            "service.instance.id": node.name,
            "host.name": host,
            "process.runtime.name": "BEAM",
            "process.runtime.version": node.otp_release,
            **self._rec_attrs,
        }
        scope = self._common.InstrumentationScope(name=SCOPE_NAME, version=_version())
        return self._trace.ResourceSpans(
            resource=self._resource.Resource(attributes=self._attributes(attrs)),
            scope_spans=[self._trace.ScopeSpans(scope=scope, spans=spans)])

    def span(self, cs: CallSpan) -> Any:
        t = self._trace
        call = cs.call
        node = call.node
        mfa = call.mfa
        proc = call.process
        limit = self.options.value_bytes

        def text(event: Event) -> str | None:
            return payload_text(event, limit) if limit else None
        attrs: dict[str, Any] = {
            "code.function.name": function_name(mfa) if mfa else f"#{call.aux}",
            "thread.name": process_name(proc) or call.pid_text,
            "elixir_scope.pid": call.pid_text,
            "elixir_scope.node": node.name if node else "",
            "elixir_scope.event_id": call.id,
            "elixir_scope.args": text(call),
        }
        if mfa:
            attrs["elixir_scope.arity"] = mfa.arity
        status = t.Status()
        events = []
        flags = call.flags
        if cs.end is not None:
            attrs["elixir_scope.end_event_id"] = cs.end.id
            flags |= cs.end.flags
        if cs.outcome == "return":
            attrs["elixir_scope.return_value"] = text(cs.end)
        elif cs.outcome == "exception":
            etype, message = _exception(cs.end, limit or EXCEPTION_BYTES)
            status = t.Status(code=t.Status.STATUS_CODE_ERROR, message=message)
            events.append(self._event("exception", cs.end, {"exception.type": etype,
                                                            "exception.message": message}))
        else:
            attrs["elixir_scope.unfinished"] = cs.outcome
            if cs.exit_event is not None:
                reason = payload_text(cs.exit_event, limit or EXCEPTION_BYTES)
                status = t.Status(code=t.Status.STATUS_CODE_ERROR, message=f"process exited: {reason}")
                events.append(self._event("exit", cs.exit_event, {"elixir_scope.exit_reason": reason}))
        if flags & 0x01:
            attrs["elixir_scope.truncated"] = True
        if flags & 0x02:
            attrs["elixir_scope.redacted"] = True
        links = []
        for sent in cs.sent:
            to = sent.aux_process
            dest = (process_name(to) or to.pid_text) if to else (_addressee(sent, limit) if limit else None)
            events.append(self._event("send", sent, {
                "messaging.operation.type": "send", "messaging.destination.name": dest,
                "elixir_scope.event_id": sent.id, "elixir_scope.message": _message(sent, limit) if limit else None,
                **({"elixir_scope.dead_destination": True} if sent.kind == EventKind.SEND_DEAD else {})}))
        for got in cs.received:
            extra = {"elixir_scope.send_event_id": got.send_id} if got.send_id is not None else {}
            events.append(self._event("receive", got.event, {
                "messaging.operation.type": "receive", "elixir_scope.event_id": got.event.id,
                "elixir_scope.message": text(got.event), **extra}))
            if got.sender is not None:
                links.append(self.link(got.sender, got.send_id, got.event.id))
        events.sort(key=lambda e: e.time_unix_nano)
        return t.Span(
            trace_id=self.trace_id(cs.root_id), span_id=self.span_id(call.id),
            parent_span_id=self.span_id(cs.parent_id) if cs.parent_id is not None else b"",
            name=str(mfa) if mfa else f"call #{call.id}", kind=t.Span.SPAN_KIND_INTERNAL,
            start_time_unix_nano=unix_nanos(node, call.ts), end_time_unix_nano=unix_nanos(node, cs.end_ts),
            attributes=self._attributes(attrs), events=events, links=links, status=status,
            dropped_events_count=cs.dropped_messages)

    def link(self, sender: SpanRef, send_id: int | None, recv_id: int) -> Any:
        return self._trace.Span.Link(
            trace_id=self.trace_id(sender.root_id), span_id=self.span_id(sender.call_id),
            attributes=self._attributes({"elixir_scope.send_event_id": send_id,
                                         "elixir_scope.receive_event_id": recv_id}))

    def _event(self, name: str, event: Event, attrs: dict[str, Any]) -> Any:
        return self._trace.Span.Event(name=name, time_unix_nano=unix_nanos(event.node, event.ts),
                                      attributes=self._attributes(attrs))

    def _attributes(self, attrs: dict[str, Any]) -> list:
        out = []
        AnyValue, KeyValue = self._common.AnyValue, self._common.KeyValue
        for k, v in attrs.items():
            if v is None:
                continue
            if isinstance(v, bool):
                val = AnyValue(bool_value=v)
            elif isinstance(v, int):
                val = AnyValue(int_value=v)
            else:
                val = AnyValue(string_value=str(v))
            out.append(KeyValue(key=k, value=val))
        return out


def _exception(event: Event, limit: int) -> tuple[str, str]:
    """``exception.type`` and ``exception.message`` of an ``exception_from`` payload
    ``{Class, Reason}``: the struct's module for an Elixir exception (``ArgumentError``), else
    the class (``error`` / ``exit`` / ``throw``); the message is the reason as bounded text."""
    from elixir_scope.instrument.etf import Atom

    try:
        cls, reason = event.payload
    except Exception:
        return "error", payload_text(event, limit)
    etype = cls.name if isinstance(cls, Atom) else str(cls)
    if isinstance(reason, dict):
        struct = reason.get(Atom("__struct__"))
        if isinstance(struct, Atom) and reason.get(Atom("__exception__")) is True:
            etype = struct.name[7:] if struct.name.startswith("Elixir.") else struct.name
            msg = reason.get(Atom("message"))
            if isinstance(msg, (bytes, str)):
                text = msg.decode("utf-8", "replace") if isinstance(msg, bytes) else msg
                return etype, cut(text, limit)
    return etype, bounded_text(reason, limit)


def _message(event: Event, limit: int) -> str:
    try:
        msg, _to = event.payload
    except Exception:
        return payload_text(event, limit)
    return bounded_text(msg, limit)


def _addressee(event: Event, limit: int) -> str:
    try:
        _msg, to = event.payload
    except Exception:
        return "?"
    return bounded_text(to, min(limit, 200))


def _digest(data: bytes, size: int) -> bytes:
    out = hashlib.blake2b(data, digest_size=size).digest()
    return out if any(out) else b"\x01" + out[1:]  # all-zero ids are invalid in OTLP


def _version() -> str:
    from elixir_scope import __version__

    return __version__
