"""The names ``config_default`` calls near (agents/evidence/config.py), table-driven, and the
literal keys the source analysis finds read with a default (the only keys the plan traces
``Keyword.get/3`` / ``Map.get/3`` with)."""

from __future__ import annotations

import pytest

from elixir_scope.agents.evidence.config import near, near_keys, option_read_specs
from elixir_scope.instrument.etf import Atom as A
from elixir_scope.knowledge.source import analyze_tree


@pytest.mark.parametrize("asked, held, near_", [
    ("timeout", "timeout_ms", True),             # a unit added
    ("max_requests", "max_requests_per_minute", True),
    ("retries", "max_retries", True),            # a qualifier in front
    ("poolSize", "pool_size", True),             # case and separator
    ("recieve_timeout", "receive_timeout", True),  # two letters swapped
    ("sensor_3", "sensor_4", False),             # numbered siblings
    ("alice", "alicia", False),                  # short words two letters apart
    ("timeout", "retries", False),
])
def test_near_names(asked, held, near_):
    assert (near(asked, held) is not None) is near_


def test_near_keys_need_a_value_of_the_defaults_kind():
    assert near_keys(A("timeout"), 5000, [(A("timeout_ms"), 50)])[0][:2] == (":timeout_ms", 50)
    assert near_keys(A("timeout"), 5000, [(A("timeout_label"), b"slow")]) == []


def test_near_keys_atom_for_string_and_one_level_down():
    assert near_keys(b"retries", 0, [(A("retries"), 3)])[0][2].startswith("the same name as an atom")
    found = near_keys(A("email_receipts"), A("false"), [(A("from"), b"x"), (A("features"), [(A("email_receipts"), A("true"))])])
    assert found and found[0][0] == ":features → :email_receipts"


def test_a_key_that_is_there_is_no_fallback():
    assert near_keys(A("timeout"), 5000, [(A("timeout"), 5000), (A("timeout_ms"), 50)]) == []


def test_the_sources_literal_keys_become_narrow_specs(tmp_path):
    (tmp_path / "a.ex").write_text(
        'defmodule A do\n'
        '  def a(opts), do: Keyword.get(opts, :pool_size, 10)\n'
        '  def b(cfg), do: cfg |> Map.get("retries", 0)\n'
        '  def c(cfg, k), do: Map.get(cfg, k, 0)\n'
        '  def d(opts), do: Keyword.get(opts, :pool_size, 5)\n'
        'end\n')
    keys = analyze_tree(str(tmp_path)).option_keys()
    assert keys == [["Keyword", ":pool_size", "atom"], ["Map", "retries", "string"]]
    assert option_read_specs(keys) == ("Keyword.get(_, :pool_size, _)", 'Map.get(_, "retries", _)')


def test_the_sources_settings_reads_with_literal_defaults(tmp_path):
    """The reads a recording cannot hold (made at start-up, before a capture) come from the
    sources: literal application and key, a literal default; a computed name or default is
    not one."""
    (tmp_path / "a.ex").write_text(
        'defmodule A do\n'
        '  @limit Application.compile_env(:shop, :limit, 5)\n'
        '  def init([]) do\n'
        '    x = Application.get_env(:shop, :max_temp, 25.0)\n'
        '    y = Application.get_env(:shop, :label, "none")\n'
        '    z = Application.get_env(:shop, :enabled, false)\n'
        '    w = Application.get_env(:shop, :offset, -3)\n'
        '    v = Application.get_env(:shop, :computed, compute())\n'
        '    u = Application.get_env(:shop, key(), 1)\n'
        '    {:ok, {x, y, z, w, v, u}}\n'
        '  end\n'
        'end\n')
    reads = analyze_tree(str(tmp_path)).env_reads()
    got = [(r["app"], r["key"], r["default"], r["function"]) for r in reads]
    assert got == [("shop", "limit", 5, None), ("shop", "max_temp", 25.0, "init/1"), ("shop", "label", "none", "init/1"),
                   ("shop", "enabled", False, "init/1"), ("shop", "offset", -3, "init/1")]
    assert reads[1]["line"] == 4 and reads[1]["default_text"] == "25.0"
