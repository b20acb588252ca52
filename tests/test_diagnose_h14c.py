"""What the trace cannot show, read from the sources (tests/fixtures/h14c_apps): a registry started
with ``keys: :duplicate`` while the code that claims its keys expects a refusal only a ``:unique``
one gives is named at the supervisor that configured it, from two live processes holding one key;
a zero a function answered is a root cause when the sources show it looking its key up in a literal
table with a default of zero and the key it was given is in another form than every key of the
table; a lookup that missed a key stored before the recording is named at the writer of the store
that never makes its key canonical (tests/fixtures/h14a_apps ``badge_desk``). Each app runs as a
real node; its fixed twin gives no confident culprit. The rules as pure functions are tested below,
over the source analysis of real Elixir text and over real terms."""

from __future__ import annotations

import pytest

from elixir_scope.agents.evidence.registries import shared_keys, unique_meant
from elixir_scope.agents.evidence.respelled import source_writer
from elixir_scope.agents.evidence.zeroed import key_in_other_form
from elixir_scope.agents.view import Call, Exit
from elixir_scope.instrument.etf import Atom
from elixir_scope.instrument.etf.terms import Pid
from elixir_scope.knowledge.source.stores import stores_of
from support.dev_apps import DevApps

APPS = DevApps("h14c_apps")


@pytest.mark.parametrize("name", APPS.names)
async def test_the_true_culprit_is_named(name, tmp_path, kb_index_dir):
    await APPS.assert_named(name, tmp_path, kb_index_dir, max_rounds=1)


@pytest.mark.parametrize("name", APPS.names)
async def test_the_fixed_twin_gives_no_confident_culprit(name, tmp_path, kb_index_dir):
    await APPS.assert_silent(name, tmp_path, kb_index_dir)


# ---------------------------------------------------------------- the sources' stores
STORE = """
defmodule Shop.Skus do
  use Agent
  def start_link(_), do: Agent.start_link(fn -> %{} end, name: __MODULE__)
  def load(rows), do: Agent.update(__MODULE__, &Map.merge(&1, Map.new(rows, fn {s, v} -> {key(s), v} end)))
  def add(sku, v), do: Agent.update(__MODULE__, &Map.put(&1, sku, v))
  def rename(old, new), do: Agent.update(__MODULE__, fn m -> Map.put(m, canon(new), m[canon(old)]) end)
  def find(sku), do: Agent.get(__MODULE__, &Map.get(&1, key(sku)))
  defp key(s), do: canon(s)
  defp canon(s), do: s |> String.trim() |> String.upcase()
end
"""


def test_the_sources_say_which_functions_write_a_store_and_what_they_call():
    funs = stores_of(STORE)["functions"]
    assert funs["Shop.Skus.add/2"]["writes"] and funs["Shop.Skus.load/1"]["writes"]
    assert not funs["Shop.Skus.find/1"]["writes"]
    assert "key" in funs["Shop.Skus.find/1"]["local"] and "def" not in funs["Shop.Skus.find/1"]["local"]


def test_the_writer_named_is_the_one_that_never_reaches_the_lookups_normaliser():
    stores = stores_of(STORE)
    # rename/2 reaches canon/1 directly, load/1 through key/1: add/2 alone stores the key as given
    assert source_writer(stores, "Shop.Skus.find/1") == "add/2"
    # two writers as given: the sources do not tell which one
    two = stores_of(STORE.replace("Map.put(m, canon(new), m[canon(old)])", "Map.put(m, new, m[old])"))
    assert source_writer(two, "Shop.Skus.find/1") is None
    # a lookup that normalises nothing: no normaliser to miss
    plain = stores_of(STORE.replace("Map.get(&1, key(sku))", "Map.get(&1, sku)"))
    assert source_writer(plain, "Shop.Skus.find/1") is None
    assert source_writer(None, "Shop.Skus.find/1") is None


# ---------------------------------------------------------------- a table's default for a key in another form
def test_a_literal_table_and_its_default_are_read_from_the_sources():
    src = """
defmodule Tax.Rates do
  @rates %{"0901" => 0.075, "8471" => 0.025}
  @none 0.0
  def rate(code), do: Map.get(@rates, String.trim(code), @none)
  def flat(code), do: Map.get(@rates, code, 0)
  def named(code), do: Map.get(%{"a" => 1}, code, 0)
end
"""
    tables = stores_of(src)["tables"]
    assert tables["Tax.Rates.rate/1"][0]["keys"] == ["0901", "8471"] and tables["Tax.Rates.rate/1"][0]["default"] == "0.0"
    assert tables["Tax.Rates.flat/1"][0]["default"] == "0"
    assert "Tax.Rates.named/1" not in tables   # no module attribute: no table the analysis names


@pytest.mark.parametrize("asked, keys, found", [
    ("8471.30", ["0901", "6109", "8471"], "8471"),            # a full code for a table of headings
    ("SW1A 1AA", ["EC1", "EC2", "SW1", "WC1"], "SW1"),         # a full postcode for districts
    ("8471", ["8471.30", "0901.11"], "8471.30"),               # a heading for a table of full codes
    ("8471", ["0901", "8471"], None),                          # in the table: found, not missed
    ("9999.10", ["0901", "8471"], None),                       # another form, but no key it stands for
    ("gold", ["silver", "bronze"], None),                      # the same form: a key the table lacks
    ("SW1A 1AA", ["SW1", "EC"], None),                         # keys of several forms: no one form to miss
    ("SW1A 1AA", ["SW1"], None),                               # one key says nothing about a form
    ("EC1 2AB", ["EC1", "EC12"], None),                        # ambiguous
])
def test_a_key_in_another_form_than_every_key_of_the_table(asked, keys, found):
    assert key_in_other_form(asked, keys) == found


# ---------------------------------------------------------------- a registry's key held twice
REGISTRY = """
defmodule Lab.Sup do
  use Supervisor
  def init(_) do
    Supervisor.init([{Registry, keys: :duplicate, name: Lab.Benches}, {Registry, keys: :duplicate, name: Lab.Topics}],
                    strategy: :one_for_one)
  end
end
defmodule Lab.Booking do
  def claim(bench) do
    case Registry.register(Lab.Benches, bench, nil) do
      {:ok, _} -> :ok
      {:error, {:already_registered, _}} -> {:error, :taken}
    end
  end
  def subscribe(t), do: Registry.register(Lab.Topics, t, nil)
  def owner(bench) do
    [{pid, _}] = Registry.lookup(Lab.Other, bench)
    pid
  end
end
"""


def test_the_sources_say_how_a_registry_is_started_and_who_treats_it_as_unique():
    stores = stores_of(REGISTRY)
    assert {(r["name"], r["keys"], r["function"]) for r in stores["registries"]} == {
        ("Lab.Benches", "duplicate", "Lab.Sup.init/1"), ("Lab.Topics", "duplicate", "Lab.Sup.init/1")}
    assert stores["unique_expected"] == {"Lab.Benches": ["Lab.Booking.claim/1"], "Lab.Other": ["Lab.Booking.owner/1"]}
    assert unique_meant(stores, "Lab.Benches")[1] == ["Lab.Booking.claim/1"]
    assert unique_meant(stores, "Lab.Topics") is None     # a pub/sub topic: many holders are right
    started = stores_of(REGISTRY.replace("{Registry, keys: :duplicate, name: Lab.Benches}",
                                         "Registry.child_spec(keys: :unique, name: Lab.Benches)"))
    assert unique_meant(started, "Lab.Benches") is None   # started unique: a second claim is refused


def _pid(n):
    return Pid(Atom("a@h"), n, 0, 1)


def _register(cid, pid, key, value, ts):
    return Call(call_id=cid, pid=pid, module="Elixir.Registry", function="register", arity=3, ts=ts,
                args=[Atom("Elixir.Lab.Benches"), key, Atom("nil")], end_ts=ts + 1, outcome="return", value=value)


class _View:
    def __init__(self, calls, exits=()):
        self.calls, self.exits = calls, list(exits)


OK = (Atom("ok"), _pid(1))


def test_two_live_holders_of_one_key_are_shared_a_refused_or_gone_one_is_not():
    got = shared_keys(_View([_register(1, 10, b"B-3", OK, 1), _register(2, 11, b"B-3", OK, 5)]))
    assert [[c.pid for c in calls] for calls in got.values()] == [[10, 11]]
    # refused: a unique registry
    refused = (Atom("error"), (Atom("already_registered"), _pid(10)))
    assert not shared_keys(_View([_register(1, 10, b"B-3", OK, 1), _register(2, 11, b"B-3", refused, 5)]))
    # the first holder exited before the second claimed the key: a bench handed on
    assert not shared_keys(_View([_register(1, 10, b"B-3", OK, 1), _register(2, 11, b"B-3", OK, 5)],
                                 [Exit(9, 10, 3, Atom("normal"))]))
    # one process, two keys; one key, one process twice
    assert not shared_keys(_View([_register(1, 10, b"B-3", OK, 1), _register(2, 11, b"B-4", OK, 5)]))
    assert not shared_keys(_View([_register(1, 10, b"B-3", OK, 1), _register(2, 10, b"B-3", OK, 5)]))
