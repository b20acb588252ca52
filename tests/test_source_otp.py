"""OTP and framework role detection, one role at a time, with the callbacks reported."""

import pytest

from elixir_scope.knowledge.source import RoleKind, analyze_source


def module(src: str, name: str = "M"):
    result = analyze_source(src)
    assert not result.errors, result.errors
    mod = result.module(name)
    assert mod is not None, [m.name for m in result.modules]
    return mod


ROLE_CASES = [
    ("genserver via use",
     "defmodule M do\n use GenServer\n def init(s), do: {:ok, s}\n"
     " def handle_call(:x, _f, s), do: {:reply, 1, s}\n def handle_info(_m, s), do: {:noreply, s}\n"
     " def helper(x), do: x\nend",
     RoleKind.GENSERVER, ("init/1", "handle_call/3", "handle_info/2")),
    ("genserver via @behaviour",
     "defmodule M do\n @behaviour GenServer\n def init(s), do: {:ok, s}\n def terminate(_r, _s), do: :ok\nend",
     RoleKind.GENSERVER, ("init/1", "terminate/2")),
    ("erlang gen_server behaviour",
     "defmodule M do\n @behaviour :gen_server\n def init(s), do: {:ok, s}\nend",
     RoleKind.GENSERVER, ("init/1",)),
    ("supervisor",
     "defmodule M do\n use Supervisor\n def init(_), do: Supervisor.init([A], strategy: :one_for_one)\nend",
     RoleKind.SUPERVISOR, ("init/1",)),
    ("dynamic supervisor",
     "defmodule M do\n use DynamicSupervisor\n def init(_), do: DynamicSupervisor.init(strategy: :one_for_one)\nend",
     RoleKind.DYNAMIC_SUPERVISOR, ("init/1",)),
    ("application",
     "defmodule M do\n use Application\n def start(_t, _a), do: Supervisor.start_link([], strategy: :one_for_one)\n"
     " def stop(_), do: :ok\nend",
     RoleKind.APPLICATION, ("start/2", "stop/1")),
    ("agent via use",
     "defmodule M do\n use Agent\n def start_link(_), do: Agent.start_link(fn -> 0 end, name: __MODULE__)\nend",
     RoleKind.AGENT, ("start_link/1",)),
    ("agent via Agent.start_link name",
     "defmodule M do\n def start_link(_), do: Agent.start_link(fn -> 0 end, name: :m)\nend",
     RoleKind.AGENT, ("start_link/1",)),
    ("task",
     "defmodule M do\n use Task\n def start_link(arg), do: Task.start_link(__MODULE__, :run, [arg])\n"
     " def run(arg), do: arg\nend",
     RoleKind.TASK, ("start_link/1", "run/1")),
    ("task supervisor user",
     "defmodule M do\n def go(f), do: Task.Supervisor.async_nolink(MyApp.TaskSup, f)\nend",
     RoleKind.TASK_SUPERVISOR_USER, ()),
    ("gen_statem handle_event_function",
     "defmodule M do\n @behaviour :gen_statem\n def callback_mode, do: :handle_event_function\n"
     " def init(_), do: {:ok, :idle, %{}}\n def handle_event(_t, _e, _s, _d), do: :keep_state_and_data\n"
     " def other(_a, _b, _c), do: :ok\nend",
     RoleKind.GEN_STATEM, ("init/1", "callback_mode/0", "handle_event/4")),
    ("gen_statem state functions",
     "defmodule M do\n @behaviour :gen_statem\n def callback_mode, do: :state_functions\n"
     " def init(_), do: {:ok, :idle, %{}}\n def idle(_t, _e, _d), do: :keep_state_and_data\n"
     " def busy(_t, _e, _d), do: :keep_state_and_data\nend",
     RoleKind.GEN_STATEM, ("init/1", "callback_mode/0", "idle/3", "busy/3")),
    ("registry user",
     "defmodule M do\n def sub(t), do: Registry.register(MyApp.Reg, t, [])\nend",
     RoleKind.REGISTRY_USER, ()),
    ("pubsub user",
     "defmodule M do\n def sub, do: Phoenix.PubSub.subscribe(MyApp.PubSub, \"room:1\")\nend",
     RoleKind.PUBSUB_USER, ()),
    ("phoenix controller via use Phoenix.Controller",
     "defmodule M do\n use Phoenix.Controller\n def index(conn, _p), do: conn\n def show(conn, _p), do: conn\n"
     " defp private(conn, _p), do: conn\nend",
     RoleKind.PHOENIX_CONTROLLER, ("index/2", "show/2")),
    ("phoenix controller via the web module convention",
     "defmodule M do\n use MyAppWeb, :controller\n def index(conn, _p), do: conn\nend",
     RoleKind.PHOENIX_CONTROLLER, ("index/2",)),
    ("phoenix channel",
     "defmodule M do\n use Phoenix.Channel\n def join(_t, _p, s), do: {:ok, s}\n"
     " def handle_in(_e, _p, s), do: {:noreply, s}\nend",
     RoleKind.PHOENIX_CHANNEL, ("join/3", "handle_in/3")),
    ("phoenix channel via the web module convention",
     "defmodule M do\n use MyAppWeb, :channel\n def join(_t, _p, s), do: {:ok, s}\nend",
     RoleKind.PHOENIX_CHANNEL, ("join/3",)),
    ("live view",
     "defmodule M do\n use Phoenix.LiveView\n def mount(_p, _s, socket), do: {:ok, socket}\n"
     " def handle_event(_e, _p, s), do: {:noreply, s}\n def render(a), do: a\nend",
     RoleKind.PHOENIX_LIVE_VIEW, ("mount/3", "handle_event/3", "render/1")),
    ("live view via the web module convention",
     "defmodule M do\n use MyAppWeb, :live_view\n def mount(_p, _s, socket), do: {:ok, socket}\nend",
     RoleKind.PHOENIX_LIVE_VIEW, ("mount/3",)),
    ("live component",
     "defmodule M do\n use Phoenix.LiveComponent\n def update(a, s), do: {:ok, s}\n def render(a), do: a\nend",
     RoleKind.PHOENIX_LIVE_COMPONENT, ("update/2", "render/1")),
    ("live component via the web module convention",
     "defmodule M do\n use MyAppWeb, :live_component\n def render(a), do: a\nend",
     RoleKind.PHOENIX_LIVE_COMPONENT, ("render/1",)),
    ("ecto schema",
     "defmodule M do\n use Ecto.Schema\n schema \"things\" do\n  field :name, :string\n end\nend",
     RoleKind.ECTO_SCHEMA, ()),
    ("ecto repo",
     "defmodule M do\n use Ecto.Repo, otp_app: :app, adapter: Ecto.Adapters.Postgres\n"
     " def init(_t, c), do: {:ok, c}\nend",
     RoleKind.ECTO_REPO, ("init/2",)),
]


@pytest.mark.parametrize(("src", "role", "callbacks"), [c[1:] for c in ROLE_CASES], ids=[c[0] for c in ROLE_CASES])
def test_role_and_callbacks(src, role, callbacks):
    mod = module(src)
    assert role in mod.roles
    assert mod.callbacks == callbacks


def test_plain_module_has_no_role():
    assert module("defmodule M do\n def f(x), do: x\nend").roles == ()


def test_supervisor_strategy_limits_and_children():
    mod = module("defmodule M do\n use Supervisor\n def init(_) do\n"
                 "  children = [A.Worker, {A.Cache, size: 10}, Supervisor.child_spec({A.Pool, []}, id: :p)]\n"
                 "  Supervisor.init(children, strategy: :one_for_all, max_restarts: 3, max_seconds: 5)\n end\nend")
    assert mod.supervisor.strategy == ":one_for_all"
    assert (mod.supervisor.max_restarts, mod.supervisor.max_seconds) == (3, 5)
    assert mod.supervisor.children == ("A.Worker", "A.Cache", "A.Pool")


def test_supervisor_start_link_with_children_list_gives_strategy():
    mod = module("defmodule M do\n use Application\n alias A.Worker\n def start(_, _) do\n"
                 "  Supervisor.start_link([Worker], strategy: :rest_for_one, name: M.Sup)\n end\nend")
    assert mod.roles == (RoleKind.APPLICATION,)  # starting a supervisor does not make the app one
    assert mod.supervisor.strategy == ":rest_for_one"
    assert mod.supervisor.children == ("A.Worker",)  # through the alias


def test_use_inside_quote_does_not_give_the_macro_module_a_role():
    mod = module("defmodule M do\n def live_view do\n  quote do\n   use Phoenix.LiveView\n  end\n end\n"
                 " defmacro __using__(which), do: apply(__MODULE__, which, [])\nend")
    assert mod.roles == ()


def test_several_roles_at_once():
    mod = module("defmodule M do\n use GenServer\n def init(_) do\n"
                 "  Registry.register(R, \"t\", [])\n  {:ok, nil}\n end\nend")
    assert set(mod.roles) == {RoleKind.GENSERVER, RoleKind.REGISTRY_USER}


def test_supervisor_options_in_a_variable():
    mod = module("defmodule M do\n def start do\n  children = [A.Poller]\n"
                 "  opts = [strategy: :one_for_one, max_restarts: 3, max_seconds: 5]\n"
                 "  Supervisor.start_link(children, opts)\n end\nend")
    assert (mod.supervisor.strategy, mod.supervisor.max_restarts, mod.supervisor.children) == \
        (":one_for_one", 3, ("A.Poller",))


def test_start_link_of_a_module_is_not_a_children_list():
    mod = module("defmodule M do\n use GenServer\n def start_link(o), do: Supervisor.start_link(__MODULE__, o)\nend")
    assert mod.supervisor is None and RoleKind.SUPERVISOR not in mod.roles
