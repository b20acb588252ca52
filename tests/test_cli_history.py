"""CLI commands over a recording: query, state-at (and --evolution), snapshot, timeline,
recordings, export/import — tables with Elixir terms, --json, one-line errors."""

from __future__ import annotations

import json

import pytest

from support.cart_recording import build_cart_recording
from support.cli_run import run


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    path = tmp_path_factory.mktemp("cli_history") / "traces.db"
    build_cart_recording(path)
    return str(path)


def test_query_table_json_and_paging(capsys, store):
    code, out, _ = run(capsys, "query", "calls | count by function", "--store", store)
    assert code == 0 and "SampleApp.Cart.handle_call/3" in out and "3" in out
    code, out, err = run(capsys, "query", "calls", "--limit", "1", "--store", store, "--json")
    page = json.loads(out)
    assert code == 0 and len(page["items"]) == 1 and page["next_cursor"]
    code, out, _ = run(capsys, "query", "calls", "--limit", "1", "--cursor", page["next_cursor"], "--store", store, "--json")
    assert json.loads(out)["items"][0]["id"] != page["items"][0]["id"]
    code, out, err = run(capsys, "query", "calls", "--store", store)
    assert '{:add, "apple"}' in out and "7 events dropped" in err


def test_query_syntax_error_is_clear(capsys, store):
    code, out, err = run(capsys, "query", "calls where fucntion = add", "--store", store)
    assert code == 1 and out == ""
    assert err.startswith("error: unknown field 'fucntion' — did you mean 'function'?")
    assert "^^^^" in err and "hint:" in err and "Traceback" not in err


def test_state_at_evolution_snapshot_timeline(capsys, store):
    code, out, _ = run(capsys, "state-at", "SampleApp.Cart", "--store", store)
    assert code == 0 and '%SampleApp.Cart.State{user: "ann", items: ["apple", "pear", "plum"]}' in out
    code, out, _ = run(capsys, "state-at", "SampleApp.Cart", "--evolution", "--store", store, "--json")
    changes = json.loads(out)["transitions"]
    assert [t["message"] for t in changes] == ['{:add, "apple"}', '{:add, "pear"}', '{:add, "plum"}']
    code, out, _ = run(capsys, "snapshot", "--store", store, "--at-event", "5", "--json")
    snap = json.loads(out)
    assert {p["process"] for p in snap["processes"]} == {"<0.200.0>", "<0.300.0> (SampleApp.Cart)"}
    code, out, _ = run(capsys, "timeline", "SampleApp.Cart", "--store", store)
    assert code == 0 and out.count("returned") == 3
    code, _, err = run(capsys, "state-at", "SampleApp.Cart", "--at-event", "1", "--at-ts", "3", "--store", store)
    assert code == 1 and "not both" in err


def test_recordings_export_import(capsys, store, tmp_path):
    code, out, _ = run(capsys, "recordings", "--store", store, "--json")
    rid = json.loads(out)[0]["id"]
    code, out, _ = run(capsys, "recordings", str(rid), "--store", store)
    assert code == 0 and "cart session" in out and "overload_queue" in out
    archive = tmp_path / "cart.esrec"
    code, out, _ = run(capsys, "export", str(rid), str(archive), "--store", store)
    assert code == 0 and archive.stat().st_size > 0
    code, _, err = run(capsys, "export", str(rid), str(archive), "--store", store)
    assert code == 2 and "already exists" in err
    other = str(tmp_path / "other.db")
    code, out, _ = run(capsys, "import", str(archive), "--store", other, "--json")
    new_id = json.loads(out)["recording"]
    code, out, _ = run(capsys, "query", "calls | count by function", "--store", other, "--recording", str(new_id), "--json")
    assert json.loads(out)["items"][0]["count"] == 3


def test_analyze_sources(capsys):
    from support.nodes import REPO

    code, out, _ = run(capsys, "analyze", str(REPO / "examples" / "call_cycle"), "--symptom", "checkout times out", "--json")
    got = json.loads(out)
    assert code == 0 and [f["kind"] for f in got["flags"]] == ["call_cycle"]
    assert got["candidates"][0]["spec"] == "CallCycle.Orders.handle_call/3"
    assert got["pitfalls"] == []
    # the catalogue's well-known pitfalls, with where they are and the fix
    code, out, _ = run(capsys, "analyze", str(REPO / "examples" / "corrupted_state"), "--json")
    [p] = json.loads(out)["pitfalls"]
    assert code == 0 and (p["pitfall"], p["spec"]) == ("shallow_merge_nested", "CorruptedState.Accounts.handle_cast/2")
    assert p["where"].startswith("lib/") and "Map.merge" in p["code"] and "Map.merge(" in p["fix"]
    code, out, _ = run(capsys, "analyze", str(REPO / "examples" / "corrupted_state"))
    assert code == 0 and "Known pitfalls" in out and "shallow Map.merge" in out
    code, _, err = run(capsys, "analyze", "/no/such/folder")
    assert code == 2 and "is not a folder" in err
    # test/ folders and .exs scripts only on request
    umbrella = str(REPO / "tests" / "fixtures" / "elixir_umbrella")
    code, out, _ = run(capsys, "analyze", umbrella, "--json")
    assert code == 0 and "Shop.CartTest" not in {m["name"] for m in json.loads(out)["modules"]}
    code, out, _ = run(capsys, "analyze", umbrella, "--include-tests", "--json")
    assert code == 0 and "Shop.CartTest" in {m["name"] for m in json.loads(out)["modules"]}


def test_diagnose_needs_a_node_or_a_recording(capsys, monkeypatch):
    monkeypatch.delenv("ELIXIR_SCOPE_NODE", raising=False)
    code, _, err = run(capsys, "diagnose", "checkout hangs")
    assert code == 2 and "no target node given" in err and "--recording" in err
