"""No default tool result exceeds its byte budget on a large recording.

The recording is built with the store's real ingest API (the batches a capture would write:
calls, nested calls, returns, exceptions, sends, receives, GenServer states over 200
processes; ``benchmarks/bench_query.build``). Its size is ``ES_BUDGET_EVENTS`` (default
1,000,000 events, about two minutes to build here). Every tool that reads a recording is
called with its default arguments; text + structured content must stay within
``output.DEFAULT_BUDGET``, the text must be a summary (not JSON), and a page that has more
must say how to continue.
"""

from __future__ import annotations

import json
import os
import sys

import pytest
from mcp import Client

from elixir_scope.mcp_server.config import ServerConfig
from elixir_scope.mcp_server.server import build_server
from elixir_scope.mcp_server.tools.output import DEFAULT_BUDGET
from support.nodes import REPO

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]

EVENTS = int(os.environ.get("ES_BUDGET_EVENTS", "1000000"))


@pytest.fixture(scope="module")
def big_store(tmp_path_factory):
    sys.path.insert(0, str(REPO / "benchmarks"))
    from bench_query import build

    path = tmp_path_factory.mktemp("budget") / "big.db"
    count, _secs = build(path, EVENTS, 200)
    assert count >= EVENTS
    return path


CALLS = [
    ("list_recordings", {}),
    ("recording_summary", {}),
    ("query", {"text": "calls"}),
    ("query", {"text": "calls | count by function"}),
    ("query", {"text": "receives"}),
    ("process_timeline", {"process": "<0.1000.0>"}),
    ("state_at", {"process": "<0.1000.0>"}),
    ("state_evolution", {"process": "<0.1000.0>"}),
    ("system_snapshot", {}),
    ("message_flow", {}),
    ("step_event", {"event_id": 5000}),
    ("causal_past", {"event_id": min(500_000, EVENTS // 2)}),
    ("causal_future", {"event_id": 5000}),
    ("query_help", {}),
]


async def test_default_results_fit_their_budget(big_store):
    async with Client(build_server(ServerConfig(store_path=big_store))) as client:
        for name, args in CALLS:
            result = await client.call_tool(name, args)
            assert not result.is_error, f"{name}: {result.content[0].text}"
            text = result.content[0].text
            structured = json.dumps(result.structured_content, ensure_ascii=False)
            size = len(text.encode()) + len(structured.encode())
            assert size <= DEFAULT_BUDGET, f"{name}({args}) returned {size} bytes, over {DEFAULT_BUDGET}"
            assert not text.lstrip().startswith("{"), f"{name}: the text repeats the JSON"
            sc = result.structured_content
            if sc.get("next_cursor"):
                assert "next" in (sc.get("hint") or "") or "cursor" in text, f"{name} does not say how to continue"
        # the timeline of a busy process pages with a cursor
        first = (await client.call_tool("process_timeline", {"process": "<0.1000.0>"})).structured_content
        assert first["next_cursor"]
        second = (await client.call_tool("process_timeline", {"process": "<0.1000.0>",
                                                              "cursor": first["next_cursor"]})).structured_content
        assert second["calls"][0]["call_event"] > first["calls"][-1]["call_event"]
        assert first["calls"][0]["at"].startswith("+")
