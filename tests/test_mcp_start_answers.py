"""The start answers shipped in the package (mcp_server/start_answers-*.json): current for the
code, reproduced byte for byte by scripts/build_start_cache.py, valid whatever the settings
that shape no answer, negotiated as the SDK negotiates, and never served once stale.

If ``test_the_shipped_answers_are_current`` fails, the server's code changed since the answers
were computed: run ``.venv/bin/python scripts/build_start_cache.py`` and commit the files."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from elixir_scope.mcp_server.config import ServerConfig
from elixir_scope.mcp_server.start_answers import SHIPPED_CONFIGS, compute
from elixir_scope.mcp_server.start_cache import (
    SHIPPED_DIR,
    Answers,
    StartCache,
    environment_key,
    shipped_path,
)
from elixir_scope.mcp_server.start_key import dependency_versions
from support.mcp_servers import run_inspector, server_argv, stdio_client_env
from support.nodes import REPO

BUILD = REPO / "scripts" / "build_start_cache.py"
CONFIGS = [replace(ServerConfig(), **changes) for changes in SHIPPED_CONFIGS]


def _shipped_json(config: ServerConfig) -> dict:
    return json.loads(shipped_path(config).read_text(encoding="utf-8"))


@pytest.mark.parametrize("config", CONFIGS, ids=["default", "allow_mutations"])
def test_the_shipped_answers_are_current(config):
    answers = Answers.from_json(_shipped_json(config), environment_key(config))
    assert answers is not None, (f"{shipped_path(config).name} is stale (the server's code or the SDK changed): "
                                 "run .venv/bin/python scripts/build_start_cache.py and commit the files")
    assert set(answers.results["initialize"]) == set(answers.versions) == set(answers.results["tools/list"])


def test_the_build_script_reproduces_the_shipped_answers_byte_for_byte(tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    out = subprocess.run([sys.executable, str(BUILD), "--out", str(tmp_path)], capture_output=True, text=True,
                         timeout=300, env=env)
    assert out.returncode == 0, out.stderr
    for config in CONFIGS:
        built = (tmp_path / shipped_path(config).name).read_bytes()
        assert built == shipped_path(config).read_bytes(), \
            "the shipped answers are not what scripts/build_start_cache.py computes now: rerun it and commit"
    check = subprocess.run([sys.executable, str(BUILD), "--check", "--out", str(tmp_path)], capture_output=True,
                           text=True, timeout=300, env=env)
    assert check.returncode == 0, check.stderr
    (tmp_path / shipped_path(CONFIGS[0]).name).write_text("{}")
    check = subprocess.run([sys.executable, str(BUILD), "--check", "--out", str(tmp_path)], capture_output=True,
                           text=True, timeout=300, env=env)
    assert check.returncode == 1 and "stale" in check.stderr


def test_settings_outside_the_key_shape_no_answer(tmp_path):
    other = ServerConfig(store_path=tmp_path / "elsewhere.db", default_node="app@somewhere", token="t" * 24,
                         cookie="secret", page_size=7, syntax="erlang", knowledge_dir=tmp_path / "kb",
                         anthropic_api_key="sk-test", llm_model="m", otlp_endpoints=("http://collector:4318",),
                         start_cache_dir=tmp_path / "cache", max_sessions_per_client=3)
    assert environment_key(other) == environment_key(ServerConfig())
    got = compute(other)
    want = Answers.from_json(_shipped_json(ServerConfig()), environment_key(ServerConfig()))
    assert want is not None and got.results == want.results


def _copy_shipped(tmp_path: Path, edit=None) -> Path:
    folder = tmp_path / "shipped"
    folder.mkdir(exist_ok=True)
    data = _shipped_json(ServerConfig())
    if edit is not None:
        edit(data)
    shipped_path(ServerConfig(), folder).write_text(json.dumps(data))
    return folder


def test_a_stale_shipped_answer_is_never_served(tmp_path):
    def cache(edit=None) -> StartCache:
        return StartCache.open(ServerConfig(), tmp_path / "user", shipped=_copy_shipped(tmp_path, edit))

    fresh = cache()
    assert fresh.origin == "shipped" and fresh.get("tools/list", "2025-06-18") is not None

    def other_content(d):  # recorded when server.py had other content
        d["sources"]["mcp_server/server.py"] = "f" * 64

    def gone(d):  # recorded with a module this install does not have
        d["sources"]["mcp_server/no_such_module.py"] = "0" * 64

    def escape(d):
        d["sources"]["mcp_server/../../etc/passwd"] = "0" * 64

    def other_sdk(d):  # another SDK or pydantic version, or other settings
        d["key"] = "0" * 40

    def other_format(d):
        d["format"] = 1

    def no_sources(d):
        d["sources"] = {}

    for edit in (other_content, gone, escape, other_sdk, other_format, no_sources):
        stale = cache(edit)
        assert stale.origin is None and stale.empty, edit.__name__
        assert stale.get("initialize", "2025-06-18") is None and stale.get("tools/list", "2025-06-18") is None
        assert stale.negotiate("2025-06-18") is None


def test_the_user_cache_completes_and_overrides_the_shipped_answers(tmp_path):
    key = environment_key(ServerConfig())
    user_dir = tmp_path / "user"
    user_dir.mkdir()
    data = _shipped_json(ServerConfig())
    mine = {"tools": []}
    data["tool_lists"], data["tools/list_index"] = [mine], {"2025-06-18": 0}
    (user_dir / f"start-{key}.json").write_text(json.dumps(data))
    cache = StartCache.open(ServerConfig(), user_dir, shipped=_copy_shipped(tmp_path))
    assert cache.origin == "user"
    assert cache.get("tools/list", "2025-06-18") == mine  # the user file's own answer
    assert cache.get("tools/list", "2025-03-26") == _shipped_json(ServerConfig())["tool_lists"][0]
    # the server's answer replaces a stale one, and the others known with it are dropped
    cache.put("tools/list", "2025-06-18", {"tools": [{"name": "x"}]})
    assert cache.get("tools/list", "2025-03-26") is None and cache.changed
    cache.save()
    # answers seen stale here: the shipped ones are not merged in again
    again = StartCache.open(ServerConfig(), user_dir, shipped=_copy_shipped(tmp_path))
    assert again.origin == "user" and again.get("tools/list", "2025-06-18") == {"tools": [{"name": "x"}]}
    assert again.get("tools/list", "2025-03-26") is None
    assert again.get("initialize", "2025-03-26") is not None  # the user file's own


@pytest.mark.parametrize("requested", ["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25", "2026-07-28",
                                       "2099-01-01", "", "latest"])
def test_negotiation_is_the_sdks(requested):
    from mcp.server.runner import ServerRunner

    cache = StartCache.open(ServerConfig(), Path("/nonexistent-start-cache"))
    params = {"protocolVersion": requested, "capabilities": {}, "clientInfo": {"name": "n", "version": "1"}}
    _, negotiated = ServerRunner._negotiate_initialize(params)
    assert cache.negotiate(requested) == negotiated
    assert cache.get("initialize", negotiated)["protocolVersion"] == negotiated


def test_dependency_versions_are_the_installed_distributions():
    from importlib.metadata import version

    got = dependency_versions()
    assert got == {name: version(name) for name in got}
    assert set(got) == {"mcp", "mcp_types", "pydantic", "pydantic_core"}


def test_the_shipped_files_sit_in_the_package_folder():
    assert SHIPPED_DIR == Path(sys.modules["elixir_scope.mcp_server.start_cache"].__file__).parent
    assert {p.name for p in SHIPPED_DIR.glob("start_answers-*.json")} == {shipped_path(c).name for c in CONFIGS}


@pytest.mark.slow
def test_inspector_first_start_gets_the_shipped_tool_list(tmp_path):
    """A client nobody here wrote, a fresh user cache folder: the tool list is the server's, and
    nothing had to be written (the shipped answers were loaded and turned out right)."""
    cache_dir = tmp_path / "cache"
    env = stdio_client_env(HF_HUB_OFFLINE="1")
    env_args = ["-e", f"ELIXIR_SCOPE_STORE={tmp_path / 'traces.db'}", "-e", "HF_HUB_OFFLINE=1"]
    first = run_inspector(*env_args, "-e", f"ELIXIR_SCOPE_START_CACHE={cache_dir}", *server_argv("mcp"),
                          "--method", "tools/list", env={**env, "PATH": os.environ["PATH"]})
    assert first.returncode == 0, first.stderr
    server = run_inspector(*env_args, "-e", "ELIXIR_SCOPE_START_CACHE=off", *server_argv("mcp"),
                           "--method", "tools/list", env={**env, "PATH": os.environ["PATH"]})
    assert server.returncode == 0, server.stderr
    assert json.loads(first.stdout) == json.loads(server.stdout)
    assert len(json.loads(first.stdout)["tools"]) > 30
    assert not cache_dir.exists() or not list(cache_dir.glob("start-*.json"))
    shutil.rmtree(cache_dir, ignore_errors=True)
