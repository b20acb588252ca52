"""stdio start with the start cache: a real ``elixir-scope mcp`` subprocess, driven with raw
JSON-RPC lines (as a desktop client sends them). The first start (an empty user cache folder)
answers initialize and tools/list from the answers shipped in the package, a client never seen
before included, exactly as the server would; the server still takes every later request; a
stale cache is corrected (rewritten, and the client told the tool list changed), and answers
recorded for other code are never served.

An answer given early is noted on stderr ("answered tools/list from the shipped start answers
while the server loads"); the tests read that note."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

from elixir_scope.mcp_server.config import ServerConfig
from elixir_scope.mcp_server.start_cache import environment_key, shipped_path
from support.mcp_servers import server_argv, stdio_client_env

PARAMS = {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "fast-start-test", "version": "1"}}
INIT = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": PARAMS}
INITIALIZED = {"jsonrpc": "2.0", "method": "notifications/initialized"}
LIST = {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}
CALL = {"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": "query_help", "arguments": {}}}


@dataclass
class Session:
    msgs: list[dict]
    stderr: str


def session(tmp: Path, cache_dir: Path | str, *extra: str, params: dict = PARAMS) -> Session:
    """Run one stdio session (initialize, initialized, tools/list, tools/call query_help) and
    return every message the server wrote, in order, and what it wrote on stderr."""
    env = stdio_client_env(ELIXIR_SCOPE_STORE=str(tmp / "traces.db"), ELIXIR_SCOPE_START_CACHE=str(cache_dir),
                           HF_HUB_OFFLINE="1")
    proc = subprocess.Popen(server_argv("mcp", *extra), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env, text=True)
    assert proc.stdin and proc.stdout
    got: list[dict] = []
    try:
        proc.stdin.write(json.dumps({**INIT, "params": params}) + "\n")
        proc.stdin.flush()
        while True:
            line = proc.stdout.readline()
            assert line, f"server exited early: {proc.stderr.read() if proc.stderr else ''}"
            msg = json.loads(line)
            got.append(msg)
            if msg.get("id") == 1:
                for m in (INITIALIZED, LIST, CALL):
                    proc.stdin.write(json.dumps(m) + "\n")
                proc.stdin.flush()
            elif msg.get("id") == 3:
                break
    finally:
        proc.stdin.close()
        try:
            proc.wait(timeout=60)  # end of input ends the server
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
            raise
    return Session(got, proc.stderr.read() if proc.stderr else "")


def answer(s: Session, rid: int) -> dict:
    return next(m for m in s.msgs if m.get("id") == rid)


def early(s: Session, method: str, origin: str = "shipped") -> bool:
    """Whether ``method`` was answered from the start cache's ``origin`` answers."""
    return f"answered {method} from the {origin} start answers" in s.stderr


def changed(s: Session) -> int:
    return len([m for m in s.msgs if m.get("method") == "notifications/tools/list_changed"])


def user_file(cache_dir: Path, config: ServerConfig | None = None) -> Path:
    return cache_dir / f"start-{environment_key(config or ServerConfig())}.json"


def test_first_start_answers_from_the_shipped_answers_exactly_as_the_server(tmp_path):
    cache_dir = tmp_path / "cache"
    plain = session(tmp_path, "off")  # the server itself answers everything
    assert not early(plain, "initialize") and not early(plain, "tools/list")
    first = session(tmp_path, cache_dir)  # a fresh user cache folder: the first start after install
    assert early(first, "initialize") and early(first, "tools/list")
    assert answer(first, 1) == answer(plain, 1) and answer(first, 2) == answer(plain, 2)
    assert not changed(first)
    names = {t["name"] for t in answer(first, 2)["result"]["tools"]}
    assert {"connect_node", "query", "query_help"} <= names
    # each request got exactly one answer, and the server itself served the tool call
    assert sorted(m["id"] for m in first.msgs if "id" in m) == [1, 2, 3]
    call = answer(first, 3)["result"]
    assert not call.get("isError") and "structuredContent" in call


def test_a_new_client_is_answered_early_for_the_version_the_sdk_negotiates(tmp_path):
    cache_dir = tmp_path / "cache"
    for version, negotiated in (("2025-03-26", "2025-03-26"), ("2031-01-01", "2025-11-25")):
        params = {"protocolVersion": version, "capabilities": {"sampling": {}, "roots": {"listChanged": True}},
                  "clientInfo": {"name": f"never-seen-{version}", "version": "9.9"}}
        plain = session(tmp_path, "off", params=params)
        got = session(tmp_path, cache_dir, params=params)
        assert early(got, "initialize") and early(got, "tools/list")
        assert answer(got, 1) == answer(plain, 1)
        assert answer(got, 1)["result"]["protocolVersion"] == negotiated
        assert answer(got, 2) == answer(plain, 2)
    # parameters the SDK may refuse are left to the server
    odd = {"protocolVersion": 20250618, "capabilities": {}, "clientInfo": {"name": "x", "version": "1"}}
    got = session(tmp_path, cache_dir, params=odd)
    assert not early(got, "initialize") and "error" in answer(got, 1)


def test_a_stale_cache_is_corrected_and_the_client_told(tmp_path):
    cache_dir = tmp_path / "cache"
    first = session(tmp_path, cache_dir)
    assert not user_file(cache_dir).exists()  # the shipped answers were right: nothing to write
    data = json.loads(shipped_path(ServerConfig()).read_text())
    true_list = data["tool_lists"][0]
    data["tool_lists"] = [{"tools": true_list["tools"][:1]}]  # a list that is out of date
    cache_dir.mkdir()
    user_file(cache_dir).write_text(json.dumps(data))
    second = session(tmp_path, cache_dir)
    assert early(second, "tools/list", "user") and len(answer(second, 2)["result"]["tools"]) == 1  # what the cache said
    assert changed(second) == 1
    rewritten = json.loads(user_file(cache_dir).read_text())
    assert rewritten["tool_lists"] == [true_list] == [answer(first, 2)["result"]]
    # the next start is right again
    third = session(tmp_path, cache_dir)
    assert answer(third, 2) == answer(first, 2) and early(third, "tools/list", "user")
    assert not changed(third)


def test_answers_recorded_for_other_code_are_not_served(tmp_path):
    cache_dir = tmp_path / "cache"
    cache_dir.mkdir()
    data = json.loads(shipped_path(ServerConfig()).read_text())
    data["tool_lists"] = [{"tools": []}]
    rel = "mcp_server/server.py"
    data["sources"][rel] = "0" * 64  # as if server.py had other content when these were recorded
    user_file(cache_dir).write_text(json.dumps(data))
    got = session(tmp_path, cache_dir)
    # the user file does not count; the shipped answers (recorded from this code) do
    assert early(got, "tools/list") and len(answer(got, 2)["result"]["tools"]) > 1 and not changed(got)
    assert json.loads(user_file(cache_dir).read_text())["sources"][rel] == "0" * 64  # nothing new to write


def test_off_switch_and_mutations_get_their_own_answers(tmp_path):
    cache_dir = tmp_path / "cache"
    off = session(tmp_path, "off")
    session(tmp_path, cache_dir, "--no-start-cache")
    assert not cache_dir.exists()
    assert not early(off, "initialize")
    plain = session(tmp_path, cache_dir)
    mut = session(tmp_path, cache_dir, "--allow-mutations")
    assert early(mut, "tools/list")
    plain_names = {t["name"] for t in answer(plain, 2)["result"]["tools"]}
    mut_names = {t["name"] for t in answer(mut, 2)["result"]["tools"]}
    assert plain_names < mut_names
    server_mut = session(tmp_path, "off", "--allow-mutations")
    assert answer(server_mut, 2) == answer(mut, 2)


def test_damaged_cache_file_counts_as_empty(tmp_path):
    cache_dir = tmp_path / "cache"
    cache_dir.mkdir()
    user_file(cache_dir).write_text("{not json")
    got = session(tmp_path, cache_dir)
    plain = session(tmp_path, "off")
    assert early(got, "tools/list") and answer(got, 2) == answer(plain, 2)


def test_environment_key_follows_the_settings_that_shape_answers(tmp_path):
    base = ServerConfig(store_path=tmp_path / "a.db")
    assert environment_key(base) == environment_key(ServerConfig())
    assert environment_key(base) == environment_key(base.with_(token="x" * 20, default_node="a@b", syntax="erlang"))
    assert environment_key(base) != environment_key(base.with_(allow_mutations=True))


def test_start_cache_setting_from_the_environment(tmp_path):
    from elixir_scope.mcp_server.config import DEFAULT_START_CACHE

    assert ServerConfig.from_env({}).start_cache_dir == DEFAULT_START_CACHE
    assert ServerConfig.from_env({"ELIXIR_SCOPE_START_CACHE": "off"}).start_cache_dir is None
    assert ServerConfig.from_env({"ELIXIR_SCOPE_START_CACHE": " 0 "}).start_cache_dir is None
    assert ServerConfig.from_env({"ELIXIR_SCOPE_START_CACHE": str(tmp_path)}).start_cache_dir == tmp_path


def test_only_the_mcp_subcommand_is_registered_for_mcp():
    from elixir_scope.cli.main import build_parser

    def commands(parser):
        sub = next(a for a in parser._actions if a.dest == "command")
        return set(sub.choices)

    assert commands(build_parser("mcp")) == {"mcp"}
    assert {"mcp", "query", "record", "overview"} <= commands(build_parser())
