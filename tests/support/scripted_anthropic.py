"""A scripted model served over real HTTP in the shape of the Anthropic Messages API.

The one thing the tests replace is the remote model (there is no network). This server runs
on a loopback port in a thread, answers ``POST /v1/messages`` with the next reply of a
script, and records every request (its JSON body and headers), so a test drives the real
``anthropic`` client — with ``base_url=server.url`` — through real HTTP, JSON and the SDK's
own parsing and error mapping::

    with ScriptedAnthropic([tool_use("query", {"q": "exceptions"}), text("The digest crashed ...")]) as model:
        config = LLMConfig(api_key="sk-test", base_url=model.url, model="claude-scripted")
        ...
    model.requests[1].body["messages"][-1]["content"][0]["type"] == "tool_result"

Like the real API, it checks what it is sent and answers ``400 invalid_request_error`` for a
request a real server would reject: no ``model`` / ``max_tokens`` / ``messages``, a
conversation that does not alternate user/assistant or does not start with the user, a
``tool_result`` that answers no ``tool_use`` of the previous assistant turn, a ``tool_use``
left unanswered, or tools that are not ``{name, description, input_schema}``. A script
entry can also be an ``ErrorReply`` (status and error type, e.g. 401
``authentication_error``). When the script runs out, the last reply repeats.
"""

from __future__ import annotations

import itertools
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["ScriptedAnthropic", "ErrorReply", "Request", "message", "text", "tool_use"]

_ids = itertools.count(1)


def message(content: list[dict], stop_reason: str, *, tokens: tuple[int, int] = (200, 50),
            model: str = "claude-scripted") -> dict:
    """A Messages API reply body."""
    return {"id": f"msg_{next(_ids):04d}", "type": "message", "role": "assistant", "model": model,
            "content": content, "stop_reason": stop_reason, "stop_sequence": None,
            "usage": {"input_tokens": tokens[0], "output_tokens": tokens[1]}}


def text(answer: str, **kw: Any) -> dict:
    """A final answer (``end_turn``)."""
    return message([{"type": "text", "text": answer}], "end_turn", **kw)


def tool_use(name: str, arguments: dict, *, preface: str | None = None, **kw: Any) -> dict:
    """A reply that asks for one tool (``tool_use``), optionally after some text."""
    blocks = [{"type": "text", "text": preface}] if preface else []
    blocks.append({"type": "tool_use", "id": f"toolu_{next(_ids):04d}", "name": name, "input": arguments})
    return message(blocks, "tool_use", **kw)


@dataclass(frozen=True)
class ErrorReply:
    """An API error: e.g. ``ErrorReply(401, "authentication_error", "invalid x-api-key")``."""

    status: int
    type: str
    message: str


@dataclass(frozen=True)
class Request:
    """One request the server received."""

    path: str
    headers: dict[str, str]
    body: dict


@dataclass
class ScriptedAnthropic:
    """The server; use as a context manager (it binds 127.0.0.1 on a free port)."""

    script: list[dict | ErrorReply]
    requests: list[Request] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)  # why requests were refused with a 400

    def __post_init__(self) -> None:
        if not self.script:
            raise ValueError("the script needs at least one reply")
        self._lock = threading.Lock()
        self._next = 0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self._server is not None, "start the server first (with ScriptedAnthropic(...) as s)"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> "ScriptedAnthropic":
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # keep test output clean
                pass

            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length)
                status, payload = owner._answer(self.path, dict(self.headers.items()), raw)
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.send_header("request-id", f"req_{next(_ids):04d}")
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:  # noqa: N802
                data = b'{"type":"error","error":{"type":"not_found_error","message":"not found"}}'
                self.send_response(404)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="scripted-anthropic", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=10)
            self._server = None

    # -- answering ---------------------------------------------------------------------------

    def _answer(self, path: str, headers: dict[str, str], raw: bytes) -> tuple[int, dict]:
        if path.split("?")[0].rstrip("/") != "/v1/messages":
            return 404, _error("not_found_error", f"no route {path}")
        try:
            body = json.loads(raw)
        except ValueError:
            return 400, _error("invalid_request_error", "the body is not JSON")
        with self._lock:
            self.requests.append(Request(path, {k.lower(): v for k, v in headers.items()}, body))
            problem = _invalid(body)
            if problem:
                self.rejected.append(problem)
                return 400, _error("invalid_request_error", problem)
            reply = self.script[min(self._next, len(self.script) - 1)]
            self._next += 1
        if isinstance(reply, ErrorReply):
            return reply.status, _error(reply.type, reply.message)
        return 200, reply


def _error(kind: str, text: str) -> dict:
    return {"type": "error", "error": {"type": kind, "message": text}}


def _blocks(content: Any) -> list[dict]:
    return [{"type": "text", "text": content}] if isinstance(content, str) else list(content)


def _invalid(body: dict) -> str | None:
    """What a real Messages API would refuse in this request, or None."""
    for key in ("model", "max_tokens", "messages"):
        if key not in body:
            return f"{key}: Field required"
    if not isinstance(body["max_tokens"], int) or body["max_tokens"] < 1:
        return "max_tokens: must be a positive integer"
    for i, tool in enumerate(body.get("tools") or []):
        if not {"name", "input_schema"} <= set(tool) or tool["input_schema"].get("type") != "object":
            return f"tools.{i}: a tool needs name, description and an object input_schema"
    messages = body["messages"]
    if not messages or messages[0].get("role") != "user":
        return "messages: the first message must use the user role"
    pending: set[str] = set()
    for i, msg in enumerate(messages):
        role = msg.get("role")
        if i and role == messages[i - 1].get("role"):
            return f"messages.{i}: roles must alternate between user and assistant"
        blocks = _blocks(msg.get("content", []))
        if role == "user":
            answered = {b.get("tool_use_id") for b in blocks if b.get("type") == "tool_result"}
            stray = answered - pending
            if stray:
                return f"messages.{i}: tool_result for unknown tool_use_id {sorted(stray)[0]}"
            if pending - answered:
                return (f"messages.{i}: tool_use ids were found without tool_result blocks immediately after: "
                        f"{sorted(pending - answered)[0]}")
            pending = set()
        else:
            pending = {b["id"] for b in blocks if b.get("type") == "tool_use"}
    if pending:
        return "messages: the conversation ends with an unanswered tool_use"
    return None
