"""stdio start with the start cache: a real ``elixir-scope mcp`` subprocess, driven with raw
JSON-RPC lines (as a desktop client sends them). The second start answers initialize and
tools/list from the cache exactly as the server would, the server still takes every later
request, and a stale cache is corrected (the cache is rewritten and the client is told the
tool list changed)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from elixir_scope.mcp_server.config import ServerConfig
from elixir_scope.mcp_server.start_cache import StartCache, fingerprint, params_key
from support.mcp_servers import server_argv, stdio_client_env

INIT = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                   "clientInfo": {"name": "fast-start-test", "version": "1"}}}
INITIALIZED = {"jsonrpc": "2.0", "method": "notifications/initialized"}
LIST = {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}
CALL = {"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": "query_help", "arguments": {}}}


def session(tmp: Path, cache_dir: Path | str, *extra: str) -> list[dict]:
    """Run one stdio session (initialize, initialized, tools/list, tools/call query_help) and
    return every message the server wrote, in order."""
    env = stdio_client_env(ELIXIR_SCOPE_STORE=str(tmp / "traces.db"), ELIXIR_SCOPE_START_CACHE=str(cache_dir),
                           HF_HUB_OFFLINE="1")
    proc = subprocess.Popen(server_argv("mcp", *extra), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env, text=True)
    assert proc.stdin and proc.stdout
    got: list[dict] = []
    try:
        proc.stdin.write(json.dumps(INIT) + "\n")
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
    return got


def by_id(msgs: list[dict], rid: int) -> dict:
    return next(m for m in msgs if m.get("id") == rid)


def cache_file(cache_dir: Path) -> Path:
    files = list(cache_dir.glob("start-*.json"))
    assert len(files) == 1, files
    return files[0]


def test_second_start_answers_from_the_cache_exactly_as_the_server(tmp_path):
    cache_dir = tmp_path / "cache"
    first = session(tmp_path, cache_dir)
    # the first start answered everything itself and filled the cache
    data = json.loads(cache_file(cache_dir).read_text())
    key = params_key(INIT["params"])
    assert data["initialize"][key] == by_id(first, 1)["result"]
    assert data["tools/list"][key] == by_id(first, 2)["result"]
    second = session(tmp_path, cache_dir)
    assert by_id(second, 1) == by_id(first, 1)
    assert by_id(second, 2) == by_id(first, 2)
    names = {t["name"] for t in by_id(second, 2)["result"]["tools"]}
    assert {"connect_node", "query", "query_help"} <= names
    # each request got exactly one answer, and the server itself served the tool call
    assert sorted(m["id"] for m in second if "id" in m) == [1, 2, 3]
    call = by_id(second, 3)["result"]
    assert not call.get("isError") and "structuredContent" in call
    # a different client (other initialize parameters) is not answered from another's entry
    assert StartCache.open(ServerConfig(store_path=tmp_path / "traces.db"), cache_dir).get(
        "initialize", params_key({**INIT["params"], "clientInfo": {"name": "other", "version": "1"}})) is None


def test_a_stale_cache_is_corrected_and_the_client_told(tmp_path):
    cache_dir = tmp_path / "cache"
    first = session(tmp_path, cache_dir)
    path = cache_file(cache_dir)
    data = json.loads(path.read_text())
    key = params_key(INIT["params"])
    true_list = data["tools/list"][key]
    data["tools/list"][key] = {"tools": true_list["tools"][:1]}  # a list that is out of date
    path.write_text(json.dumps(data))
    second = session(tmp_path, cache_dir)
    assert len(by_id(second, 2)["result"]["tools"]) == 1  # what the cache said, answered early
    changed = [m for m in second if m.get("method") == "notifications/tools/list_changed"]
    assert len(changed) == 1
    assert json.loads(path.read_text())["tools/list"][key] == true_list == by_id(first, 2)["result"]
    # the next start is right again
    third = session(tmp_path, cache_dir)
    assert by_id(third, 2) == by_id(first, 2)
    assert not [m for m in third if m.get("method") == "notifications/tools/list_changed"]


def test_off_switch_and_mutations_get_their_own_cache(tmp_path):
    cache_dir = tmp_path / "cache"
    session(tmp_path, "off")
    session(tmp_path, cache_dir, "--no-start-cache")
    assert not cache_dir.exists()
    plain = session(tmp_path, cache_dir)
    mut = session(tmp_path, cache_dir, "--allow-mutations")
    assert len(list(cache_dir.glob("start-*.json"))) == 2
    plain_names = {t["name"] for t in by_id(plain, 2)["result"]["tools"]}
    mut_names = {t["name"] for t in by_id(mut, 2)["result"]["tools"]}
    assert plain_names < mut_names
    again = session(tmp_path, cache_dir, "--allow-mutations")
    assert by_id(again, 2) == by_id(mut, 2)


def test_fingerprint_follows_configuration_and_code(tmp_path):
    base = ServerConfig(store_path=tmp_path / "a.db")
    assert fingerprint(base) == fingerprint(ServerConfig(store_path=tmp_path / "a.db"))
    assert fingerprint(base) != fingerprint(base.with_(allow_mutations=True))
    assert fingerprint(base) != fingerprint(base.with_(token="x" * 20))
    assert params_key({"a": 1, "_meta": {"progressToken": 7}}) == params_key({"a": 1})
    assert params_key({"a": 1}) != params_key({"a": 2})


def test_damaged_cache_file_counts_as_empty(tmp_path):
    cache_dir = tmp_path / "cache"
    first = session(tmp_path, cache_dir)
    path = cache_file(cache_dir)
    path.write_text("{not json")
    second = session(tmp_path, cache_dir)
    assert by_id(second, 2) == by_id(first, 2)
    assert json.loads(path.read_text())["format"] == 1


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
