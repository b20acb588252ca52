"""The interaction graph and flags, on the umbrella fixture (tests/fixtures/elixir_umbrella)
and on small snippets for each resolution rule."""

from pathlib import Path

import pytest

from elixir_scope.knowledge.source import FlagKind, RoleKind, analyze_source, analyze_tree

UMBRELLA = Path(__file__).parent / "fixtures" / "elixir_umbrella"


@pytest.fixture(scope="module")
def umbrella():
    return analyze_tree(UMBRELLA)


# ---- the umbrella as a whole -------------------------------------------------------------

def test_syntax_error_file_is_reported_and_skipped(umbrella):
    assert [e.file for e in umbrella.errors] == ["apps/shop/lib/shop/broken.ex"]
    assert "syntax error" in umbrella.errors[0].message
    assert umbrella.module("Shop.Broken") is None
    assert umbrella.module("Shop.Cart") is not None  # the rest of the project is analyzed


def test_all_apps_are_analyzed_and_deps_are_excluded(umbrella):
    names = {m.name for m in umbrella.modules}
    assert {"Shop.Cart", "Notify.EmailListener", "ShopWeb.CartLive"} <= names
    assert "FakeDep" not in names
    # by default: the code that runs in the node — no test/ and no .exs scripts (mix.exs, config)
    assert "Shop.CartTest" not in names and not [m for m in umbrella.modules if m.name.endswith("MixProject")]
    assert not [m.file for m in umbrella.modules if m.file.endswith(".exs") or "/test/" in m.file]
    assert umbrella.files == 21
    assert len({m.file for m in umbrella.modules}) == 21
    assert umbrella.lines > 500


def test_tests_and_scripts_are_included_on_request(umbrella):
    everything = analyze_tree(UMBRELLA, include_tests=True)
    names = {m.name for m in everything.modules}
    assert {"Shop.CartTest", "ShopUmbrella.MixProject"} <= names and "FakeDep" not in names
    assert everything.files == 27  # config/config.exs defines no module but is counted
    assert everything.module("Shop.CartTest").file == "apps/shop/test/cart_test.exs"
    # explicit globs replace the defaults one by one: .exs included, test/ still excluded
    scripts = analyze_tree(UMBRELLA, include=("**/*.exs",))
    assert scripts.module("ShopUmbrella.MixProject") is not None and scripts.module("Shop.CartTest") is None
    assert analyze_tree(UMBRELLA, include=("**/*.exs",), exclude=()).module("Shop.CartTest") is not None


def test_include_and_exclude_globs(umbrella):
    only_lib = analyze_tree(UMBRELLA, include=("apps/*/lib/**/*.ex",))
    assert only_lib.module("Shop.CartTest") is None and only_lib.module("ShopUmbrella.MixProject") is None
    assert only_lib.module("Shop.Cart") is not None
    no_shop = analyze_tree(UMBRELLA, exclude=("deps/**", "apps/shop/**"))
    assert no_shop.module("Shop.Cart") is None and not no_shop.errors


def test_roles_on_the_umbrella(umbrella):
    roles = {m.name: m.roles for m in umbrella.modules}
    assert RoleKind.GENSERVER in roles["Shop.Cart"]
    assert RoleKind.SUPERVISOR in roles["Shop.Supervisor"]
    assert RoleKind.GEN_STATEM in roles["Shop.OrderFsm"]
    assert RoleKind.AGENT in roles["Shop.PriceAgent"]
    assert RoleKind.TASK_SUPERVISOR_USER in roles["Shop.Mailer"]
    assert RoleKind.ECTO_SCHEMA in roles["Shop.Order"] and RoleKind.ECTO_REPO in roles["Shop.Repo"]
    assert RoleKind.PHOENIX_LIVE_VIEW in roles["ShopWeb.CartLive"]
    assert RoleKind.PHOENIX_LIVE_COMPONENT in roles["ShopWeb.CartSummaryComponent"]
    assert RoleKind.PHOENIX_CONTROLLER in roles["ShopWeb.OrderController"]
    assert RoleKind.PHOENIX_CHANNEL in roles["ShopWeb.CartChannel"]
    assert roles["ShopWeb"] == () and roles["Shop.Macros"] == ()  # macro modules, `use` only inside quote
    sup = umbrella.module("Shop.Supervisor").supervisor
    assert sup.strategy == ":one_for_all" and "Shop.Cart" in sup.children
    assert umbrella.module("Shop.OrderFsm").callbacks == ("init/1", "callback_mode/0", "pending/3", "paid/3")


def test_registered_names_are_resolved_to_modules(umbrella):
    assert umbrella.module("Shop.Inventory").registered_names == (":inventory",)
    assert umbrella.module("Shop.Cart").registered_names == ("Shop.Cart",)
    assert umbrella.module("Shop.SessionServer").registered_names == ("{:via, Registry, {Shop.SessionRegistry, _}}",)
    edges = {(e.caller, e.function, e.target, e.resolution) for e in umbrella.graph.edges}
    assert ("Shop.Inventory", "reserve/2", "Shop.Inventory", "registered_name") in edges  # GenServer.call(@name...)
    assert ("Shop.Cart", "checkout/1", "Shop.Cart", "exact") in edges
    assert ("Shop.SessionServer", "info/1", "Shop.SessionServer", "via") in edges  # literal via-tuple
    assert ("Shop.SessionServer", "touch/1", "Shop.SessionServer", "via") in edges  # via/1 helper
    assert ("Shop.OrderFsm", "pay/1", "Shop.OrderFsm", "exact") in edges  # gen_statem {:local, __MODULE__}


def test_call_cycle_between_cart_and_inventory(umbrella):
    cycles = umbrella.flags_of(FlagKind.CALL_CYCLE)
    assert len(cycles) == 1
    flag = cycles[0]
    assert flag.modules == ("Shop.Cart", "Shop.Inventory")
    fns = {(loc.module, loc.function) for loc in flag.locations}
    assert {("Shop.Cart", "handle_call/3"), ("Shop.Inventory", "reserve/2"),
            ("Shop.Inventory", "handle_call/3"), ("Shop.Cart", "total/0")} <= fns
    assert "deadlock" in flag.message
    assert not umbrella.flags_of(FlagKind.SELF_CALL)


def test_ets_read_modify_write_on_the_counter_only(umbrella):
    flags = umbrella.flags_of(FlagKind.ETS_READ_MODIFY_WRITE)
    assert [(f.locations[0].module, f.locations[0].function) for f in flags] == [("Shop.Counter", "bump/1")]
    assert flags[0].severity == "warning"  # the table is :public
    assert "update_counter" in flags[0].message
    ops = {(a.function, a.op) for a in umbrella.graph.ets_tables[":shop_counters"]}
    assert ("init/1", "new") in ops and ("bump_atomic/1", "update_counter") in ops and ("reset/1", "delete") in ops


def test_topic_typo_is_flagged_both_ways(umbrella):
    unsubscribed = umbrella.flags_of(FlagKind.TOPIC_WITHOUT_SUBSCRIBER)
    unpublished = umbrella.flags_of(FlagKind.TOPIC_WITHOUT_PUBLISHER)
    assert [f.modules for f in unsubscribed] == [("Notify.OrderEvents",)]
    assert "'order:created'" in unsubscribed[0].message and "did you mean 'orders:created'" in \
        unsubscribed[0].message.lower()
    assert [f.modules for f in unpublished] == [("Notify.EmailListener",)]
    # the module attribute @created resolved to its literal; matched topics are not flagged
    topics = {(t.topic, t.action) for t in umbrella.graph.topics}
    assert ("order:created", "publish") in topics
    assert ("order:shipped", "publish") in topics and ("order:shipped", "subscribe") in topics
    assert ("user:*", "publish") in topics and ("user:*", "subscribe") in topics  # interpolations
    assert ("cart:updated", "subscribe") in topics  # through `alias Phoenix.PubSub`


def test_static_function_calls_cross_apps(umbrella):
    calls = set(umbrella.graph.function_calls)
    assert ("ShopWeb.CartLive.handle_event/3", "Shop.Cart.checkout/1") in calls
    assert ("Notify.EmailListener.handle_info/2", "Shop.Mailer.send_receipts/1") in calls
    assert ("Shop.Mailer.deliver/1", "Shop.Mailer.deliver/1") not in calls


# ---- resolution rules on snippets --------------------------------------------------------

def flags(src: str):
    result = analyze_source(src)
    assert not result.errors
    return result


def test_self_call_from_a_callback_is_flagged():
    r = flags("defmodule S do\n use GenServer\n def start_link(_), do: GenServer.start_link(__MODULE__, 0, name: __MODULE__)\n"
              " def get, do: GenServer.call(__MODULE__, :get)\n def init(s), do: {:ok, s}\n"
              " def handle_call(:get, _f, s), do: {:reply, s, s}\n"
              " def handle_cast(:bump, s) do\n  _ = get()\n  {:noreply, s + 1}\n end\nend")
    [flag] = r.flags_of(FlagKind.SELF_CALL)
    assert flag.modules == ("S",) and "time out" in flag.message


def test_casts_do_not_make_cycles():
    r = flags("defmodule A do\n use GenServer\n def init(s), do: {:ok, s}\n"
              " def handle_call(:x, _f, s) do\n  GenServer.cast(B, :y)\n  {:reply, 1, s}\n end\nend\n"
              "defmodule B do\n use GenServer\n def init(s), do: {:ok, s}\n"
              " def handle_cast(:y, s) do\n  GenServer.call(A, :x)\n  {:noreply, s}\n end\nend")
    assert not r.flags_of(FlagKind.CALL_CYCLE)
    assert {(e.caller, e.target, e.kind) for e in r.graph.edges} == {("A", "B", "cast"), ("B", "A", "call")}


def test_cycle_through_a_local_helper_and_an_alias():
    r = flags("defmodule My.A do\n use GenServer\n alias My.B\n def init(s), do: {:ok, s}\n"
              " def handle_call(:x, _f, s), do: {:reply, ask(), s}\n defp ask, do: B.ping()\n"
              " def poke, do: GenServer.call(:a_server, :x)\n"
              " def start_link(_), do: GenServer.start_link(__MODULE__, 0, name: :a_server)\nend\n"
              "defmodule My.B do\n use GenServer\n def init(s), do: {:ok, s}\n"
              " def ping, do: GenServer.call(__MODULE__, :ping)\n"
              " def handle_call(:ping, _f, s), do: {:reply, My.A.poke(), s}\nend")
    [flag] = r.flags_of(FlagKind.CALL_CYCLE)
    assert flag.modules == ("My.A", "My.B")
    fns = [f"{loc.module}.{loc.function}" for loc in flag.locations]
    assert "My.A.ask/0" in fns  # the path goes through the private helper


def test_unresolvable_targets_stay_unresolved():
    r = flags("defmodule C do\n def go(pid), do: GenServer.call(pid, :x)\n"
              " def go2(name), do: GenServer.call({:global, name}, :x)\nend")
    assert {(e.target, e.resolution) for e in r.graph.edges} == {(None, "unresolved")}


def test_pid_argument_in_a_servers_own_client_api_is_inferred():
    r = flags("defmodule S do\n use GenServer\n def init(s), do: {:ok, s}\n"
              " def get(pid), do: GenServer.call(pid, :get)\nend")
    [edge] = r.graph.edges
    assert (edge.target, edge.resolution, edge.message) == ("S", "inferred", ":get")


def test_ets_protected_table_rmw_is_info_and_atomic_ops_are_not_flagged():
    r = flags("defmodule T do\n @t :tab\n def init, do: :ets.new(@t, [:named_table, :set])\n"
              " def racy(k) do\n  [{_, v}] = :ets.lookup(@t, k)\n  :ets.insert(@t, {k, v + 1})\n end\n"
              " def fine(k) do\n  :ets.lookup(:tab, k)\n  :ets.update_counter(:tab, k, 1)\n end\n"
              " def write_then_read(k) do\n  :ets.insert(:tab, {k, 1})\n  :ets.lookup(:tab, k)\n end\nend")
    [flag] = r.flags_of(FlagKind.ETS_READ_MODIFY_WRITE)
    assert flag.locations[0].function == "racy/1" and flag.severity == "info"


def test_ets_table_held_in_a_variable_is_attributed_to_the_modules_table():
    r = flags("defmodule T do\n def init do\n  tab = :ets.new(:cache, [:public])\n  tab\n end\n"
              " def bump(tab, k) do\n  n = :ets.lookup_element(tab, k, 2)\n  :ets.insert(tab, {k, n + 1})\n end\nend")
    assert {a.table for a in r.graph.ets} == {"T#table"}
    [flag] = r.flags_of(FlagKind.ETS_READ_MODIFY_WRITE)
    assert flag.severity == "warning"


def test_endpoint_and_pubsub_topics_match_each_other_not_registry_topics():
    r = flags("defmodule W do\n alias MyWeb.Endpoint\n def a, do: Endpoint.broadcast(\"room:lobby\", \"new\", %{})\n"
              " def b, do: Phoenix.PubSub.subscribe(MyApp.PubSub, \"room:lobby\")\n"
              " def c, do: Registry.dispatch(R, \"room:lobby\", fn _ -> :ok end)\nend")
    kinds = [(f.kind, f.modules) for f in r.flags]
    assert kinds == [(FlagKind.TOPIC_WITHOUT_SUBSCRIBER, ("W",))]  # the Registry dispatch has no subscriber
    assert {t.api for t in r.graph.topics} == {"Endpoint", "Phoenix.PubSub", "Registry"}


def test_dynamic_topics_are_not_flagged():
    r = flags("defmodule W do\n def sub(t), do: Phoenix.PubSub.subscribe(P, t)\nend")
    assert r.graph.topics == () and r.flags == ()


def test_process_start_sites_are_recorded():
    r = flags("defmodule P do\n def a, do: spawn(fn -> :ok end)\n"
              " def b(s), do: Task.Supervisor.start_child(s, fn -> :ok end)\n"
              " def c(s, spec), do: DynamicSupervisor.start_child(s, spec)\n def d, do: Task.await(Task.async(fn -> 1 end))\nend")
    assert [loc.function for loc in r.graph.spawns] == ["a/0", "b/1", "c/2", "d/0"]


def test_call_to_self_pid_inside_a_callback_is_a_self_call():
    r = flags("defmodule M do\n use GenServer\n def init(s), do: {:ok, s}\n"
              " def handle_call(:again, _from, s), do: {:reply, GenServer.call(self(), :other), s}\nend")
    assert [f.kind for f in r.flags] == [FlagKind.SELF_CALL]


def test_calls_through_an_imported_project_module_are_followed():
    r = flags("defmodule H do\n def ask_server, do: GenServer.call(S, :q)\nend\n"
              "defmodule S do\n use GenServer\n import H\n def init(s), do: {:ok, s}\n"
              " def handle_call(:q, _f, s), do: {:reply, 1, s}\n"
              " def handle_cast(:c, s) do\n  ask_server()\n  {:noreply, Map.new()}\n end\nend")
    assert ("S.handle_cast/2", "H.ask_server/0") in r.graph.function_calls
    assert [f.kind for f in r.flags] == [FlagKind.SELF_CALL]


def test_plain_sends_are_edges_but_never_cycles():
    r = flags("defmodule A do\n use GenServer\n def start_link(_), do: GenServer.start_link(__MODULE__, 0, name: :a)\n"
              " def init(s), do: {:ok, s}\n def handle_info(:tick, s) do\n  send(B, {:tock, 1})\n"
              "  Process.send_after(self(), :tick, 1000)\n  {:noreply, s}\n end\nend\n"
              "defmodule B do\n use GenServer\n def init(s), do: {:ok, s}\n"
              " def handle_info({:tock, from}, s) do\n  send(:a, :tick)\n  send(from, :ok)\n  {:noreply, s}\n end\nend")
    sends = {(e.caller, e.target, e.message, e.resolution) for e in r.graph.edges if e.kind == "send"}
    assert sends == {("A", "B", ":tock", "exact"), ("A", "A", ":tick", "exact"), ("B", "A", ":tick", "registered_name"),
                     ("B", None, ":ok", "unresolved")}
    assert r.flags == ()
