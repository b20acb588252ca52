"""The evidence tools the model may call during a diagnosis — the same capabilities an MCP
client has, over the recording being diagnosed: the query language, one event with its
neighbours, the state of a process at a moment, and an event's causal past. Given a
connection to the live node and ``allow_replay=True``, also ``replay_without``: replay a
GenServer's recorded callbacks with and without a suspected message
(``instrument.counterfactual``) — it runs the module's code on the node, so it is opt-in.

Each returns bounded text (Elixir-formatted terms, JSON) the model can cite by event id.
"""

from __future__ import annotations

import json
from typing import Any

from elixir_scope.instrument.etf.inspect import inspect as fmt

_MAX = 6000


def _event_line(e) -> dict[str, Any]:
    try:
        payload = fmt(e.payload, limit=20)
    except Exception as exc:  # a payload that cannot be decoded is reported, not fatal
        payload = f"<undecodable payload: {exc}>"
    return {"id": e.id, "kind": e.kind.name.lower(), "ts": e.ts, "pid": e.pid_text,
            "mfa": str(e.mfa) if e.mfa else None, "payload": payload[:400]}


class StoreEvidenceTools:
    """Evidence tools over one recording of an open :class:`~elixir_scope.store.TraceStore`."""

    def __init__(self, store, recording_id: int, *, conn=None, allow_replay: bool = False) -> None:
        self.store = store
        self.recording_id = recording_id
        self.conn = conn if allow_replay else None  # replay runs code on the node: opt-in

    @property
    def recording(self):
        return self.store.recording(self.recording_id)

    def definitions(self) -> list[dict[str, Any]]:
        return self._store_tools() + (_REPLAY_TOOL if self.conn is not None else [])

    def _store_tools(self) -> list[dict[str, Any]]:
        return [
            {"name": "query", "description": "Run an ElixirScope query (see the query language: e.g. "
             "'exceptions | count by function', 'calls MyApp.Cart.add/2 where arg[1] > 100', "
             "'sends never received') over the recording. Returns up to 20 rows.",
             "input_schema": {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]}},
            {"name": "event", "description": "One event by id with the events just before and after it in "
             "the same process.", "input_schema": {"type": "object", "properties": {
                 "id": {"type": "integer"}}, "required": ["id"]}},
            {"name": "state_at", "description": "The recorded state of a process (pid text like <0.123.0> or "
             "registered name) at an event id.", "input_schema": {"type": "object", "properties": {
                 "process": {"type": "string"}, "at_event": {"type": "integer"}},
                 "required": ["process", "at_event"]}},
            {"name": "causal_past", "description": "Events that could have caused an event (happens-before), "
             "newest first, up to 20.", "input_schema": {"type": "object", "properties": {
                 "id": {"type": "integer"}}, "required": ["id"]}},
        ]

    async def call(self, name: str, arguments: dict[str, Any]) -> str:
        rec = self.recording
        if name == "query":
            from elixir_scope.store.query import run_query

            result = run_query(rec, str(arguments["q"]), limit=20)
            return json.dumps(result.as_dict(), default=str)[:_MAX]
        if name == "event":
            e = rec.event(int(arguments["id"]))
            before = rec.events(pid=e.pid_text, before_id=e.id, limit=3, descending=True)
            after = rec.events(pid=e.pid_text, after_id=e.id, limit=3)
            return json.dumps({"event": _event_line(e), "before": [_event_line(x) for x in reversed(before)],
                               "after": [_event_line(x) for x in after]}, default=str)[:_MAX]
        if name == "state_at":
            e = rec.event(int(arguments["at_event"]))
            at = rec.state_at(str(arguments["process"]), e)
            if at is None:
                return "no recorded state for that process at that moment"
            return json.dumps({"state": fmt(at.state, limit=50), "from_event": getattr(at.event, "id", None)},
                              default=str)[:_MAX]
        if name == "causal_past":
            page = rec.causal_past(rec.event(int(arguments["id"])), limit=20)
            return json.dumps([_event_line(x) for x in page.events], default=str)[:_MAX]
        if name == "replay_without" and self.conn is not None:
            from elixir_scope.instrument.counterfactual import counterfactual_from_recording

            cf = await counterfactual_from_recording(
                self.conn, rec, str(arguments["process"]), int(arguments["suspect_event"]),
                until_event=int(arguments["until_event"]) if arguments.get("until_event") is not None else None)
            return json.dumps(cf.as_dict(), default=str)[:_MAX]
        names = ", ".join(d["name"] for d in self.definitions())
        raise ValueError(f"unknown tool {name!r}; available: {names}")


_REPLAY_TOOL = [
    {"name": "replay_without", "description": "Test whether a message caused a GenServer's failure: replay the "
     "process's recorded callbacks (up to until_event, e.g. the crash) in a scratch process on the live node, with and "
     "without the suspected invocation (its call, receive or state event id). Answers confirmed (the failure goes "
     "away without it), refuted (it persists) or undetermined, with why.",
     "input_schema": {"type": "object", "properties": {
         "process": {"type": "string", "description": "pid text or registered name"},
         "suspect_event": {"type": "integer"}, "until_event": {"type": "integer"}},
         "required": ["process", "suspect_event"]}},
]
