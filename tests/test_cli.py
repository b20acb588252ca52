"""The ``elixir-scope`` command line against real nodes: tables with Elixir-style terms,
``--json`` for scripts, and one clear error line (plus a hint) instead of a traceback."""

from __future__ import annotations

import subprocess
import sys

import pytest

from elixir_scope.cli import main
from support.nodes import short_host
from support.cli_run import run_fail, run_json


@pytest.fixture(scope="module")
def target(sample_app_module):
    n = sample_app_module
    return ["--node", n.name, "--cookie", n.cookie]


def test_overview_json(capsys, target, sample_app_module):
    got = run_json(capsys, "overview", *target, "--top", "3")
    assert got["node"]["node"] == sample_app_module.name
    assert "sample_app" in {a["name"] for a in got["node"]["applications"]}
    assert len(got["top_by_memory"]) == 3
    assert all(p["pid"].startswith("#PID<0.") for p in got["top_by_reductions"])
    sample = next(t for t in got["supervision_trees"] if t["application"] == "sample_app")
    assert sample["name"] == "SampleApp.Supervisor"


def test_overview_tables_use_elixir_terms(capsys, target):
    assert main(["attach", *target, "--top", "3"]) == 0
    text = capsys.readouterr().out
    assert "Top 3 processes by memory" in text and "#PID<0." in text
    assert "SampleApp.Supervisor" in text and "SampleApp.Inventory" in text
    assert "Elixir.SampleApp" not in text and "Atom(" not in text


def test_processes_process_and_tree(capsys, target):
    rows = run_json(capsys, "processes", *target, "--sort", "reductions", "--limit", "4")
    assert len(rows) == 4 and rows[0]["reductions"] >= rows[-1]["reductions"]
    found = run_json(capsys, "processes", *target, "--find", "inventory")
    assert [r["name"] for r in found] == ["SampleApp.Inventory"]
    details = run_json(capsys, "process", *target, "SampleApp.Inventory")
    assert details["process"]["initial_call"] == "SampleApp.Inventory.init/1"
    assert details["links"]
    same = run_json(capsys, "process", *target, details["process"]["pid"])
    assert same["process"]["name"] == "SampleApp.Inventory"
    trees = run_json(capsys, "tree", *target, "--app", "sample_app")
    children = {c["id"] for c in trees[0]["children"]}
    assert {"SampleApp.Inventory", "SampleApp.Carts", "SampleApp.Ticker"} <= children


def test_errors_are_one_line_with_a_hint(capsys, target, sample_app_module, monkeypatch):
    monkeypatch.delenv("ELIXIR_SCOPE_NODE", raising=False)
    err = run_fail(capsys, "overview")
    assert "no target node given" in err and "hint: pass --node" in err
    err = run_fail(capsys, "overview", "--node", f"nobody_here@{short_host()}", "--cookie", "c")
    assert "no node named 'nobody_here'" in err and "hint:" in err
    err = run_fail(capsys, "overview", "--node", sample_app_module.name, "--cookie", "wrong")
    assert "authentication failed" in err
    err = run_fail(capsys, "process", *target, "NoSuchProcess")
    assert "no process registered as 'NoSuchProcess'" in err and "hint:" in err
    err = run_fail(capsys, "recordings", "--store", "/nonexistent/dir/traces.db")
    assert "no trace store at" in err


def test_debug_shows_the_traceback(capsys):
    with pytest.raises(Exception):
        main(["overview", "--node", "bad-name", "--debug"])


def test_usage_errors_exit_2(capsys):
    assert main(["no-such-command"]) == 2
    assert "invalid choice" in capsys.readouterr().err


def test_console_script_entry_point_runs():
    out = subprocess.run([sys.executable, "-m", "elixir_scope.cli", "--help"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0
    for cmd in ("demo", "overview", "processes", "tree", "recordings", "export", "import", "mcp"):
        assert cmd in out.stdout


def test_demo_runs_the_main_job_end_to_end(capsys, tmp_path):
    got = run_json(capsys, "demo", "--top", "3", "--record-seconds", "2", "--store", str(tmp_path / "t.db"))
    assert got["overview"]["elixir_version"]
    assert got["supervision_tree"][0]["name"] == "SampleApp.Supervisor"
    carts = next(c for c in got["supervision_tree"][0]["children"] if c["id"] == "SampleApp.Carts")
    assert carts["supervisor"]["strategy"] == "rest_for_one"
    rec = got["recording"]
    assert rec["end_reason"] == "max_seconds" and rec["dropped"] == 0
    calls = {row["function"]: row["count"] for row in rec["calls_by_function"]}
    assert calls["SampleApp.Cart.add/3"] == rec["workload"]["add"]
    assert rec["inventory_changes"][0]["message"].startswith("{:reserve, ")
    # the main job ends with the diagnosis of a buggy example app, which must find the true culprit
    diag = got["diagnosis"]
    assert diag["verdict"] == "root_cause_found"
    assert diag["root_cause"]["culprit"]["module"] == "CorruptedState.Accounts"
    assert diag["root_cause"]["culprit"]["function"] == "handle_cast/2"


def test_record_with_background_traffic(capsys, target, sample_app_module, tmp_path):
    import asyncio

    from elixir_scope.instrument.dist import Node

    async def background(fn, *args):
        async with Node() as me:
            conn = await me.connect(sample_app_module.name, cookie=sample_app_module.cookie)
            return await conn.rpc("Elixir.SampleApp.Workload", fn, list(args))

    _, worker = asyncio.run(background("start_background", 100))
    try:
        store = str(tmp_path / "rec.db")
        got = run_json(capsys, "record", "SampleApp.Cart.add/3 :: return", "--state-of", "SampleApp.Inventory",
                       "--max-seconds", "2", *target, "--store", store)
    finally:
        asyncio.run(background("stop_background", worker))
    assert got["end_reason"] == "max_seconds" and got["events_stored"] > 0
    rows = run_json(capsys, "query", "calls | count by function", "--store", store)["items"]
    assert any(r["function"] == "SampleApp.Cart.add/3" and r["count"] > 0 for r in rows)
    err = run_fail(capsys, "record", "Enum.map", *target, "--store", store)
    assert "flood" in err and "hint:" in err
