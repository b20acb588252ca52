"""The pitfall catalogue (knowledge/source/pitfalls), rule by rule: each pitfall is matched in
at least two written forms (call and pipe, alias or import, a variable or an attribute in
between) and NOT matched in its correct twin. Table-driven: source text → the pitfall ids found."""

from __future__ import annotations

import pytest

from elixir_scope.knowledge.source.errors import SourcePathError
from elixir_scope.knowledge.source.pitfalls import CATALOGUE, FAMILIES, scan_source, scan_tree


def gs(body: str, extra: str = "") -> str:
    """A GenServer module around callbacks/functions `body`."""
    return f"""
defmodule App.Server do
  use GenServer
{extra}
  def start_link(a), do: GenServer.start_link(__MODULE__, a, name: __MODULE__)
  def init(a), do: {{:ok, a}}
{body}
end
"""


def mod(body: str, name: str = "App.Mod") -> str:
    return f"defmodule {name} do\n{body}\nend\n"


# (pitfall id, source, must match?) — two or more matching forms and a correct twin per pitfall
CASES: list[tuple[str, str, bool]] = [
    # -- time
    ("timer_cancel_wrong_api", gs("""
  def handle_cast(:extend, s) do
    :timer.cancel(s.timer)
    {:noreply, %{s | timer: Process.send_after(self(), :close, 500)}}
  end"""), True),
    ("timer_cancel_wrong_api", gs("""
  def handle_cast(:extend, s) do
    s.timer |> :timer.cancel()
    {:noreply, %{s | timer: :erlang.send_after(500, self(), :close)}}
  end"""), True),
    ("timer_cancel_wrong_api", gs("""
  def handle_cast(:extend, s) do
    Process.cancel_timer(s.timer)
    {:noreply, %{s | timer: Process.send_after(self(), :close, 500)}}
  end"""), False),
    ("timer_cancel_wrong_api", gs("""
  def handle_cast(:extend, s) do
    :timer.cancel(s.timer)
    {:ok, t} = :timer.send_after(500, :close)
    {:noreply, %{s | timer: t, other: Process.send_after(self(), :x, 10)}}
  end"""), False),
    ("float_timer_value", gs("""
  @base_ms 100
  def handle_info(:failed, s) do
    delay = @base_ms * :math.pow(2, s.attempt)
    Process.send_after(self(), :retry, delay)
    {:noreply, s}
  end"""), True),
    ("float_timer_value", mod("""
  def wait(total, n), do: Process.sleep(total / n)
  def later(pid), do: :erlang.send_after(1.5e3, pid, :go)"""), True),
    ("float_timer_value", mod("""
  @base_ms 100
  def backoff(pid, n) do
    delay = round(@base_ms * :math.pow(2, n))
    Process.send_after(pid, :retry, delay)
    Process.sleep(div(1000, n))
  end"""), False),
    ("monotonic_vs_system_time", mod("""
  @ttl 3600
  def issue, do: %{valid_until: System.monotonic_time(:second) + @ttl}
  def valid?(t), do: t.valid_until > System.system_time(:second)"""), True),
    ("monotonic_vs_system_time", mod("""
  def deadline(ms), do: :erlang.monotonic_time(:millisecond) + ms
  def expired?(d) do
    now = System.os_time(:millisecond)
    now >= d
  end"""), True),
    ("monotonic_vs_system_time", mod("""
  def deadline(ms), do: System.monotonic_time(:millisecond) + ms
  def expired?(d), do: System.monotonic_time(:millisecond) >= d
  def stamp, do: System.system_time(:second) > 0"""), False),
    ("native_time_unit_assumed", mod("""
  def timed(f) do
    t0 = System.monotonic_time()
    f.()
    (System.monotonic_time() - t0) / 1000
  end"""), True),
    ("native_time_unit_assumed", mod("""
  def now_ms, do: div(System.system_time(), 1_000_000)"""), True),
    ("native_time_unit_assumed", mod("""
  def timed(f) do
    t0 = System.monotonic_time()
    f.()
    System.convert_time_unit(System.monotonic_time() - t0, :native, :millisecond)
  end
  def now_s, do: div(System.system_time(:millisecond), 1000)"""), False),
    ("timer_unit_mismatch", gs("""
  @interval_s 30
  def handle_info(:poll, s) do
    Process.send_after(self(), :poll, @interval_s)
    {:noreply, s}
  end"""), True),
    ("timer_unit_mismatch", mod("""
  def pause(timeout_ms), do: :timer.sleep(timeout_ms * 1000)
  def again(pid, retry_seconds), do: Process.send_after(pid, :again, retry_seconds)"""), True),
    ("timer_unit_mismatch", mod("""
  @interval_s 30
  def again(pid, interval_ms), do: Process.send_after(pid, :again, interval_ms)
  def poll(pid), do: Process.send_after(pid, :poll, :timer.seconds(@interval_s))"""), False),
    ("rand_reseeded_per_call", mod("""
  def code do
    :rand.seed(:exsss, {System.system_time(:second), 7, 11})
    :rand.uniform(1_000_000)
  end"""), True),
    ("rand_reseeded_per_call", mod("""
  def token do
    :rand.seed(:exsplus, {1, 2, 3})
    Enum.map(1..8, fn _ -> :rand.uniform(36) end)
  end
  def other, do: :random.seed(:os.timestamp())"""), True),
    ("rand_reseeded_per_call", mod("""
  def init(a) do
    :rand.seed(:exsss, {System.system_time(:second), 7, 11})
    {:ok, a}
  end
  def code, do: :rand.uniform(1_000_000)"""), False),
    ("statem_generic_timeout_kept", mod("""
  @behaviour :gen_statem
  def callback_mode, do: :handle_event_function
  def handle_event(:cast, :unlock, :locked, d), do: {:next_state, :open, d, [{{:timeout, :relock}, 400, :relock}]}
  def handle_event(:cast, :hold, :open, d), do: {:next_state, :held, d}
  def handle_event({:timeout, :relock}, :relock, _, d), do: {:next_state, :locked, d}""", "App.Door"), True),
    ("statem_generic_timeout_kept", mod("""
  @behaviour :gen_statem
  def callback_mode, do: :state_functions
  def idle(:cast, :start, d) do
    actions = [{{:timeout, :watchdog}, 5_000, :bark}]
    {:next_state, :busy, d, actions}
  end""", "App.Dog"), True),
    ("statem_generic_timeout_kept", mod("""
  @behaviour :gen_statem
  def callback_mode, do: :handle_event_function
  def handle_event(:cast, :unlock, :locked, d), do: {:next_state, :open, d, [{{:timeout, :relock}, 400, :relock}]}
  def handle_event(:cast, :hold, :open, d), do: {:next_state, :held, d, [{{:timeout, :relock}, :cancel}]}
  def handle_event(:cast, :go, :x, d), do: {:next_state, :y, d, [{:state_timeout, 400, :relock}]}""", "App.Door"), False),
    ("timer_restarted_without_cancel", gs("""
  def handle_call(:watch, _from, s) do
    Process.send_after(self(), :tick, 1000)
    {:reply, :ok, s}
  end
  def handle_info(:tick, s) do
    Process.send_after(self(), :tick, 1000)
    {:noreply, s}
  end"""), True),
    ("timer_restarted_without_cancel", gs("""
  def handle_cast({:subscribe, pid}, s) do
    Process.send_after(self(), {:refresh, pid}, 500)
    {:noreply, s}
  end
  def handle_info({:refresh, pid}, s) do
    send(pid, :refresh)
    Process.send_after(self(), {:refresh, pid}, 500)
    {:noreply, s}
  end"""), True),
    ("timer_restarted_without_cancel", gs("""
  def handle_call(:watch, _from, s) do
    if s.ref, do: Process.cancel_timer(s.ref)
    Process.send_after(self(), :tick, 1000)
    {:reply, :ok, s}
  end
  def handle_info(:tick, s) do
    Process.send_after(self(), :tick, 1000)
    {:noreply, s}
  end"""), False),
    # -- collections
    ("merge_defaults_last", mod("""
  @defaults [priority: :normal, duplex: false]
  def build(opts), do: Keyword.merge(opts, @defaults)"""), True),
    ("merge_defaults_last", mod("""
  def build(opts) do
    default_opts = %{color: false}
    opts |> Map.new() |> Map.merge(default_opts)
  end"""), True),
    ("merge_defaults_last", mod("""
  import Keyword, only: [merge: 2]
  @defaults [priority: :normal]
  def build(opts), do: merge(opts, @defaults)"""), True),
    ("merge_defaults_last", mod("""
  @defaults [priority: :normal, duplex: false]
  def build(opts), do: Keyword.merge(@defaults, opts)
  def other(opts), do: @defaults |> Keyword.merge(opts)"""), False),
    ("shallow_merge_nested", gs("""
  def handle_call({:update, changes}, _from, s) do
    s = Map.merge(s, changes)
    {:reply, :ok, s}
  end""", "  @initial %{notifications: %{email: true, sms: true}, roaming: %{data: false}}"), True),
    ("shallow_merge_nested", gs("""
  def handle_call({:update, params}, _from, s), do: {:reply, :ok, s |> Map.merge(params)}""",
        "  def defaults, do: %{\"alerts\" => %{\"push\" => false}}"), True),
    ("shallow_merge_nested", gs("""
  def handle_call({:update, changes}, _from, s) do
    s = Map.merge(s, changes, fn _k, a, b when is_map(a) -> Map.merge(a, b); _k, _a, b -> b end)
    {:reply, :ok, s}
  end""", "  @initial %{notifications: %{email: true}}"), False),
    ("shallow_merge_nested", gs("""
  def handle_call({:update, changes}, _from, s), do: {:reply, :ok, Map.merge(s, changes)}""",
        "  @initial %{email: true, sms: false}"), False),
    ("binary_split_first_only", mod("""
  def lines(body) do
    [_header | rows] = :binary.split(String.trim_trailing(body), "\\n")
    rows
  end"""), True),
    ("binary_split_first_only", mod("""
  def fields(line), do: line |> :binary.split(",", [:trim]) |> Enum.map(&String.trim/1)"""), True),
    ("binary_split_first_only", mod("""
  def lines(body), do: :binary.split(body, "\\n", [:global])
  def header(body) do
    [head, rest] = :binary.split(body, "\\n\\n")
    {head, rest}
  end"""), False),
    ("string_split_keeps_empty", mod("""
  def rows(text), do: text |> String.split("\\n") |> Enum.map(&parse/1)
  defp parse(l), do: l"""), True),
    ("string_split_keeps_empty", mod("""
  def count(text), do: Enum.count(String.split(text, ","))"""), True),
    ("string_split_keeps_empty", mod("""
  def rows(text), do: text |> String.split("\\n", trim: true) |> Enum.map(&String.upcase/1)
  def rows2(text), do: text |> String.trim() |> String.split("\\n") |> Enum.map(&String.upcase/1)"""), False),
    ("version_strings_compared", mod("""
  def newest(releases), do: Enum.max_by(releases, & &1.version)"""), True),
    ("version_strings_compared", mod("""
  def newest(releases), do: releases |> Enum.sort_by(fn r -> r.firmware end) |> List.last()
  def top(versions), do: Enum.max(versions)"""), True),
    ("version_strings_compared", mod("""
  def newest(releases), do: Enum.max_by(releases, &Version.parse!(&1.version), Version)
  def sorted(releases), do: Enum.sort_by(releases, & &1.version, Version)"""), False),
    ("date_structs_term_order", mod("""
  def last(payments), do: payments |> Enum.max_by(& &1.on) |> Map.get(:on)"""), True),
    ("date_structs_term_order", mod("""
  def first(events), do: Enum.min_by(events, fn e -> e.inserted_at end)"""), True),
    ("date_structs_term_order", mod("""
  def last(payments), do: Enum.max_by(payments, & &1.on, Date)
  def page(rows), do: Enum.sort_by(rows, &{&1.updated_at, &1.id})"""), False),
    ("lazy_stream_dropped", mod("""
  def notify(people) do
    people |> Stream.map(&String.upcase/1) |> Stream.each(&IO.puts/1)
    :ok
  end"""), True),
    ("lazy_stream_dropped", mod("""
  def run(items) do
    send_all(items)
    {:ok, length(items)}
  end
  defp send_all(items) do
    items
    |> Stream.each(fn i -> send(self(), i) end)
  end"""), True),
    ("lazy_stream_dropped", mod("""
  def notify(people) do
    people |> Stream.map(&String.upcase/1) |> Stream.each(&IO.puts/1) |> Stream.run()
    people |> Stream.map(&String.upcase/1) |> Enum.each(&IO.puts/1)
    :ok
  end
  def lazy(xs), do: Stream.map(xs, & &1)"""), False),
    ("zip_after_unordered_stream", mod("""
  def quotes(branches) do
    results = Task.async_stream(branches, &price/1, ordered: false) |> Enum.map(fn {:ok, r} -> r end)
    Enum.zip(branches, results)
  end
  defp price(b), do: b"""), True),
    ("zip_after_unordered_stream", mod("""
  def quotes(branches) do
    results =
      App.TaskSup
      |> Task.Supervisor.async_stream_nolink(branches, &price/1, max_concurrency: 4, ordered: false)
      |> Enum.map(fn {:ok, r} -> r end)
    branches |> Enum.zip(results) |> Map.new()
  end
  defp price(b), do: b"""), True),
    ("zip_after_unordered_stream", mod("""
  def quotes(branches) do
    results = Task.async_stream(branches, fn b -> {b, price(b)} end, ordered: false) |> Enum.map(fn {:ok, r} -> r end)
    ordered = Task.async_stream(branches, &price/1) |> Enum.map(fn {:ok, r} -> r end)
    {results, Enum.zip(branches, ordered)}
  end
  defp price(b), do: b"""), False),
    # -- ETS
    ("ets_continuation_dropped", mod("""
  @chunk 50
  def due(ms) do
    {rows, _cont} = :ets.select(:patients, ms, @chunk)
    rows
  end"""), True),
    ("ets_continuation_dropped", mod("""
  def due(ms) do
    case :ets.select(:patients, ms, 100) do
      {rows, _continuation} -> rows
      :"$end_of_table" -> []
    end
  end
  def some(p), do: :ets.match(:patients, p, 10) |> elem(0)"""), True),
    ("ets_continuation_dropped", mod("""
  def due(ms), do: :ets.select(:patients, ms)
  def all(ms), do: collect(:ets.select(:patients, ms, 100), [])
  defp collect(:"$end_of_table", acc), do: acc
  defp collect({rows, cont}, acc), do: collect(:ets.select(cont), acc ++ rows)"""), False),
    ("ets_set_read_as_bag", gs("""
  def init(_) do
    :ets.new(:bag_tags, [:set, :named_table, :protected])
    {:ok, %{}}
  end
  def for_booking(flight, booking), do: for({_, tag} <- :ets.lookup(:bag_tags, {flight, booking}), do: tag)"""), True),
    ("ets_set_read_as_bag", gs("""
  def init(_) do
    :ets.new(:tags, [:named_table])
    {:ok, %{}}
  end
  def count(k), do: :ets.lookup(:tags, k) |> Enum.count()"""), True),
    ("ets_set_read_as_bag", gs("""
  def init(_) do
    :ets.new(:bag_tags, [:duplicate_bag, :named_table, :protected])
    :ets.new(:pages, [:set, :named_table])
    {:ok, %{}}
  end
  def for_booking(k), do: for({_, tag} <- :ets.lookup(:bag_tags, k), do: tag)
  def page(k), do: :ets.lookup(:pages, k) |> Enum.map(&elem(&1, 1)) |> List.first()"""), False),
    ("ets_named_table_per_instance", mod("""
  use GenServer
  def start_link(c), do: GenServer.start_link(__MODULE__, c, name: {:via, Registry, {App.Reg, c}})
  def init(c) do
    table =
      case :ets.whereis(:positions) do
        :undefined -> :ets.new(:positions, [:set, :public, :named_table])
        t -> t
      end
    {:ok, %{customer: c, table: table}}
  end""", "App.Tracker"), True),
    ("ets_named_table_per_instance", mod("""
  use GenServer
  def init(c) do
    if :ets.info(:cache) == :undefined, do: :ets.new(:cache, [:named_table, :public])
    {:ok, c}
  end""", "App.Cache"), True),
    ("ets_named_table_per_instance", mod("""
  use GenServer
  def init(c) do
    table = :ets.new(:positions, [:set, :protected])
    :ets.new(:global_index, [:named_table, :public])
    {:ok, %{customer: c, table: table}}
  end""", "App.Tracker"), False),
    ("ets_check_then_insert", gs("""
  def handle_cast({:event, id}, s) do
    if :ets.member(:processed, id) do
      {:noreply, s}
    else
      credit(id)
      :ets.insert(:processed, {id, :done})
      {:noreply, s}
    end
  end
  defp credit(id), do: id""", "  def setup, do: :ets.new(:processed, [:set, :public, :named_table])"), True),
  ("ets_check_then_insert", gs("""
  def handle_cast({:event, id}, s) do
    case :ets.lookup(:seen, id) do
      [] -> :ets.insert(:seen, {id}); {:noreply, s}
      _ -> {:noreply, s}
    end
  end""", "  def setup, do: :ets.new(:seen, [:public, :named_table])"), True),
    ("ets_check_then_insert", gs("""
  def handle_cast({:event, id}, s) do
    if :ets.insert_new(:processed, {id, :done}), do: credit(id)
    {:noreply, s}
  end
  def handle_call({:private, id}, _f, s) do
    if :ets.member(:mine, id), do: :ok, else: :ets.insert(:mine, {id})
    {:reply, :ok, s}
  end
  defp credit(id), do: id""", "  def setup, do: {:ets.new(:processed, [:public, :named_table]), :ets.new(:mine, [:named_table])}"), False),
    # -- processes
    ("start_link_from_short_lived", mod("""
  def open(call), do: Task.Supervisor.start_child(App.TaskSup, App.Setup, :run, [call])
  def run(call) do
    {:ok, _rec} = App.Recorder.start_link(call)
    :ok
  end""", "App.Setup"), True),
    ("start_link_from_short_lived", mod("""
  def open(call) do
    Task.start(fn -> {:ok, _} = GenServer.start_link(App.Session, call) end)
  end""", "App.Calls"), True),
    ("start_link_from_short_lived", mod("""
  def open(call), do: Task.Supervisor.start_child(App.TaskSup, App.Setup, :run, [call])
  def run(call) do
    {:ok, _rec} = DynamicSupervisor.start_child(App.RecSup, {App.Recorder, call})
    :ok
  end
  def start_link(a), do: GenServer.start_link(App.Recorder, a)""", "App.Setup"), False),
    ("async_stream_timeout_exits_caller", mod("""
  def enrich_all(items) do
    App.TaskSup
    |> Task.Supervisor.async_stream_nolink(items, &enrich/1, max_concurrency: 4, timeout: 400)
    |> Enum.to_list()
  end
  defp enrich(i), do: i"""), True),
    ("async_stream_timeout_exits_caller", mod("""
  def run(items), do: Task.async_stream(items, &IO.inspect/1, timeout: 1_000, on_timeout: :exit) |> Enum.to_list()"""), True),
    ("async_stream_timeout_exits_caller", mod("""
  def run(items), do: Task.async_stream(items, &IO.inspect/1, timeout: 1_000, on_timeout: :kill_task) |> Enum.to_list()
  def run2(items), do: Task.async_stream(items, &IO.inspect/1, timeout: :infinity) |> Enum.to_list()"""), False),
    ("task_async_never_awaited", gs("""
  def handle_cast({:report, r}, s) do
    Task.async(fn -> upload(r) end)
    {:noreply, s}
  end
  defp upload(r), do: r"""), True),
    ("task_async_never_awaited", mod("""
  def warm(keys) do
    _ = Task.async(App.Cache, :load, [keys])
    :ok
  end"""), True),
    ("task_async_never_awaited", mod("""
  def warm(keys) do
    t = Task.async(App.Cache, :load, [keys])
    Task.await(t)
  end
  def fire(keys), do: Task.start(fn -> keys end)"""), False),
    ("init_casts_to_later_sibling", """
defmodule App.Events do
  use GenServer
  def start_link(_), do: GenServer.start_link(__MODULE__, [], name: __MODULE__)
  def subscribe(pid), do: GenServer.cast(__MODULE__, {:subscribe, pid})
  def init(s), do: {:ok, s}
end
defmodule App.Screen do
  use GenServer
  alias App.Events
  def start_link(_), do: GenServer.start_link(__MODULE__, [], name: __MODULE__)
  def init(s) do
    Events.subscribe(self())
    {:ok, s}
  end
end
defmodule App.Sup do
  use Supervisor
  def init(_) do
    children = [App.Screen, App.Events]
    Supervisor.init(children, strategy: :one_for_one)
  end
end
""", True),
    ("init_casts_to_later_sibling", """
defmodule App.Hub do
  use GenServer
  def init(s), do: {:ok, s}
end
defmodule App.Listener do
  use GenServer
  def init(s) do
    GenServer.cast(App.Hub, {:join, self()})
    {:ok, s}
  end
end
defmodule App.Root do
  def start do
    Supervisor.start_link([{App.Listener, []}, {App.Hub, []}], strategy: :one_for_one)
  end
end
""", True),
    ("init_casts_to_later_sibling", """
defmodule App.Hub do
  use GenServer
  def init(s), do: {:ok, s}
end
defmodule App.Listener do
  use GenServer
  def init(s) do
    GenServer.cast(App.Hub, {:join, self()})
    {:ok, s}
  end
end
defmodule App.Root do
  def start do
    Supervisor.start_link([{App.Hub, []}, {App.Listener, []}], strategy: :one_for_one)
  end
end
""", False),
    ("batch_flushed_only_when_full", gs("""
  @batch 10
  def handle_cast({:add, r}, s) do
    buffer = [r | s.buffer]
    if length(buffer) >= @batch do
      send_batch(buffer)
      {:noreply, %{s | buffer: []}}
    else
      {:noreply, %{s | buffer: buffer}}
    end
  end
  defp send_batch(b), do: b"""), True),
    ("batch_flushed_only_when_full", gs("""
  def handle_cast({:add, r}, %{items: items} = s) do
    items = [r | items]
    case length(items) == s.max_batch do
      true -> flush(items); {:noreply, %{s | items: []}}
      false -> {:noreply, %{s | items: items}}
    end
  end
  defp flush(b), do: b"""), True),
    ("batch_flushed_only_when_full", gs("""
  @batch 10
  def handle_cast({:add, r}, s) do
    buffer = [r | s.buffer]
    if length(buffer) >= @batch do
      {:noreply, %{s | buffer: []}}
    else
      {:noreply, %{s | buffer: buffer}}
    end
  end
  def handle_info(:flush, s) do
    Process.send_after(self(), :flush, 1000)
    {:noreply, %{s | buffer: []}}
  end"""), False),
    ("retry_every_error_forever", gs("""
  def handle_info({:send, job}, s) do
    case App.Sms.send(job) do
      {:ok, _} -> {:noreply, s}
      {:error, _reason} ->
        Process.send_after(self(), {:send, job}, 5)
        {:noreply, s}
    end
  end
  def handle_info({:retry, job}, s), do: {:noreply, s}"""), False),
    ("retry_every_error_forever", gs("""
  def handle_info({:retry, job}, s), do: {:noreply, attempt(job, s)}
  defp attempt(job, s), do: after_send(App.Sms.send(job), job, s)
  defp after_send({:ok, _}, _job, s), do: s
  defp after_send({:error, _}, job, s) do
    Process.send_after(self(), {:retry, job}, 5)
    s
  end"""), True),
    ("retry_every_error_forever", gs("""
  def handle_info({:deliver, job}, s) do
    case App.Sms.send(job) do
      {:ok, _} -> {:noreply, s}
      {:error, _} -> schedule_retry(job); {:noreply, s}
    end
  end
  defp schedule_retry(job), do: Process.send_after(self(), {:deliver, job}, 10)"""), True),
    ("retry_every_error_forever", gs("""
  @max_attempts 5
  def handle_info({:retry, job, n}, s), do: {:noreply, after_send(App.Sms.send(job), job, n, s)}
  defp after_send({:error, {status, _}}, job, n, s) when status >= 500 and n < @max_attempts do
    Process.send_after(self(), {:retry, job, n + 1}, 5 * n)
    s
  end
  defp after_send(_, _job, _n, s), do: s"""), False),
    # -- data
    ("money_in_floats", mod("""
  def line_vat(net_cents, rate), do: round(Float.round(net_cents / 100 * rate, 2) * 100)"""), True),
    ("money_in_floats", mod("""
  def total(price, qty), do: (price * qty * 1.19) |> Float.round(2)"""), True),
    ("money_in_floats", mod("""
  def line_vat(net_cents, rate_bp), do: div(net_cents * rate_bp + 5_000, 10_000)
  def score(claims), do: Float.round(1.0 + 0.2 * length(claims), 2)"""), False),
    ("io_format_s_unicode", mod("""
  @width 24
  def line(text), do: :io_lib.format(~c"|~-*s|", [@width, text]) |> to_string()"""), True),
    ("io_format_s_unicode", mod("""
  def label(name), do: :io_lib.format('Name: ~s~n', [name])
  def log(name), do: :io.format("hello ~10s~n", [name])"""), True),
    ("io_format_s_unicode", mod("""
  @width 24
  def line(text), do: :io_lib.format(~c"|~-*ts|", [@width, text]) |> to_string()
  def dbg(x), do: :io_lib.format("~p ~~s", [x])"""), False),
    ("config_frozen_at_compile_time", """
defmodule App.Screening do
  @review_above Application.compile_env(:orders, :review_above_cents, 100_000)
  def review?(cents), do: cents > @review_above
end
defmodule App.Boot do
  def start(limit), do: Application.put_env(:orders, :review_above_cents, limit)
end
""", True),
    ("config_frozen_at_compile_time", mod("""
  @timeout Application.get_env(:app, :timeout, 5_000)
  def call(pid), do: GenServer.call(pid, :go, @timeout)"""), True),
    ("config_frozen_at_compile_time", """
defmodule App.Screening do
  @review_above Application.compile_env(:orders, :review_above_cents, 100_000)
  def review?(cents), do: cents > @review_above
  def limit, do: Application.get_env(:orders, :other_key)
end
defmodule App.Runtime do
  def timeout, do: Application.get_env(:app, :timeout, 5_000)
end
""", False),
    ("file_rewritten_not_appended", gs("""
  def handle_info(:flush, s) do
    write_lines(s.path, Enum.reverse(s.pending))
    {:noreply, %{s | pending: []}}
  end
  defp write_lines(path, lines), do: File.write!(path, lines)"""), True),
    ("file_rewritten_not_appended", mod("""
  def export(path, batches) do
    Enum.each(batches, fn batch -> File.write(path, Enum.join(batch.rows, "\\n")) end)
  end"""), True),
    ("file_rewritten_not_appended", gs("""
  def handle_call({:open, path}, _from, s) do
    File.write!(path, "sample,temp\\n")
    {:reply, :ok, s}
  end
  def handle_info(:flush, s) do
    File.write!(s.path, s.pending, [:append])
    {:noreply, %{s | pending: []}}
  end"""), False),
    ("atom_from_input", mod("""
  def tag(key), do: String.to_atom(String.downcase(key))
  def tag2(key), do: key |> String.downcase() |> String.to_atom()"""), True),
    ("atom_from_input", mod("""
  def kind(b), do: :erlang.binary_to_atom(b, :utf8)"""), True),
    ("atom_from_input", mod("""
  def tag(key), do: String.to_existing_atom(key)
  def fixed, do: String.to_atom("fixed")"""), False),
    ("binary_endianness_mismatch", """
defmodule App.Device do
  def encode(v, wh), do: <<v, wh::32-little, 0>>
end
defmodule App.Frame do
  def parse(frame) do
    <<version, wh::32, status>> = frame
    {version, wh, status}
  end
end
""", True),
    ("binary_endianness_mismatch", """
defmodule App.Device do
  def encode(v), do: <<v::size(16)-little>>
end
defmodule App.Frame do
  def parse(<<kind, reading::16, _rest::binary>>), do: {kind, reading}
end
""", True),
    ("binary_endianness_mismatch", """
defmodule App.Device do
  def encode(v, wh), do: <<v, wh::32-little, 0>>
end
defmodule App.Frame do
  def parse(frame) do
    <<version, wh::32-little, status, crc::16>> = frame
    {version, wh, status, crc}
  end
end
""", False),
]

CASES += [
    ("parse_rest_ignored", mod("""
  def cents(text) do
    {v, _rest} = Float.parse(String.trim(text))
    round(v * 100)
  end"""), True),
    ("parse_rest_ignored", mod("""
  def qty(text) do
    case text |> String.trim() |> Integer.parse() do
      {n, _} -> n
      :error -> 0
    end
  end"""), True),
    ("parse_rest_ignored", mod("""
  def cents(text) do
    {v, ""} = Float.parse(String.replace(text, ",", ""))
    round(v * 100)
  end
  def qty(text) do
    case Integer.parse(text) do
      {n, ""} -> n
      _ -> 0
    end
  end"""), False),
    ("binary_part_cuts_text", mod("""
  @max 24
  def preview(text), do: binary_part(text, 0, @max)
  def short(msg), do: :binary.part(msg.body, 0, 40)"""), True),
    ("binary_part_cuts_text", mod("""
  def label(item), do: item.name |> binary_part(0, 10)"""), True),
    ("binary_part_cuts_text", mod("""
  def preview(text), do: String.slice(text, 0, 24)
  def header(frame), do: binary_part(frame, 0, 4)"""), False),
]


@pytest.mark.parametrize("pid,source,expected", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_rule(pid, source, expected):
    found = [h.pitfall for h in scan_source(source)]
    if expected:
        assert pid in found, found
    else:
        assert pid not in found, found


def test_every_pitfall_has_two_forms_and_a_correct_twin():
    for pid in CATALOGUE:
        yes = sum(1 for p, _s, e in CASES if p == pid and e)
        no = sum(1 for p, _s, e in CASES if p == pid and not e)
        assert yes >= 2 and no >= 1, (pid, yes, no)


def test_catalogue_entries_are_documented():
    assert 25 <= len(CATALOGUE) <= 40
    for p in CATALOGUE.values():
        assert p.family in FAMILIES
        for text in (p.title, p.matches, p.why, p.symptoms, p.source, p.fix):
            assert len(text) > 15, (p.id, text)
        assert p.shows, p.id
    assert {p.family for p in CATALOGUE.values()} == set(FAMILIES)


def test_hit_names_the_function_and_the_code():
    src = mod("""
  def newest(releases) do
    releases |> Enum.max_by(& &1.version)
  end""", "Ota.Releases")
    [hit] = scan_source(src, "lib/ota.ex")
    assert (hit.module, hit.function, hit.file, hit.line) == ("Ota.Releases", "newest/1", "lib/ota.ex", 4)
    assert "Enum.max_by" in hit.code and hit.ran_in == ("Ota.Releases.newest/1",)
    assert hit.spec == "Ota.Releases.newest/1"


def test_code_inside_quote_is_not_the_modules():
    src = mod("""
  defmacro __using__(_) do
    quote do
      def newest(rs), do: Enum.max_by(rs, & &1.version)
    end
  end""")
    assert scan_source(src) == []


def test_scan_tree_reads_a_project_and_reports_bad_files(tmp_path):
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "a.ex").write_text(mod("  def t(k), do: String.to_atom(k)"))
    (tmp_path / "lib" / "broken.ex").write_text("defmodule B do\n  def x(, do: 1\nend\n")
    (tmp_path / "test").mkdir()
    (tmp_path / "test" / "a_test.exs").write_text(mod("  def t(k), do: String.to_atom(k)", "ATest"))
    scan = scan_tree(tmp_path)
    assert [h.pitfall for h in scan.hits] == ["atom_from_input"] and scan.files == 1
    assert [e.file for e in scan.errors] == ["lib/broken.ex"]
    with pytest.raises(SourcePathError, match="does not exist"):
        scan_tree(tmp_path / "nope")
    with pytest.raises(SourcePathError, match="cannot parse"):
        scan_source("defmodule B do\n  def x(, do: 1\nend\n")


@pytest.mark.parametrize("root", ["examples"])
def test_no_false_positive_in_the_correct_parts_of_the_examples(root):
    """Over the shipped examples (each with one seeded bug) the catalogue finds only the bug."""
    from pathlib import Path

    base = Path(__file__).resolve().parents[1] / root
    hits = [(d.name, h.pitfall, h.spec) for d in sorted(base.iterdir()) if (d / "lib").is_dir()
            for h in scan_tree(d).hits]
    assert hits == [("corrupted_state", "shallow_merge_nested", "CorruptedState.Accounts.handle_cast/2")], hits


def _case(pid: str, n: int = 0) -> str:
    return [src for p, src, e in CASES if p == pid and e][n]


def test_ran_in_names_the_path_of_the_symptom():
    """A pitfall whose own function runs at boot names the functions that run when its effect
    shows: the sibling that should have heard the lost cast, the writers of a :set read as a bag,
    the reader of a compile-time attribute, the caller dropping a helper's stream."""
    [sib] = [h for h in scan_source(_case("init_casts_to_later_sibling")) if h.pitfall == "init_casts_to_later_sibling"]
    assert sib.spec == "App.Sup.init/1"
    assert {"App.Screen.init/1", "App.Events.subscribe/1"} <= set(sib.ran_in)
    [bag] = [h for h in scan_source(_case("ets_set_read_as_bag")) if h.pitfall == "ets_set_read_as_bag"]
    assert bag.spec == "App.Server.init/1" and "App.Server.for_booking/2" in bag.ran_in
    [cfg] = [h for h in scan_source(_case("config_frozen_at_compile_time")) if h.pitfall == "config_frozen_at_compile_time"]
    assert cfg.spec == "App.Screening.review?/1"
    [lazy] = [h for h in scan_source(_case("lazy_stream_dropped", 1)) if h.pitfall == "lazy_stream_dropped"]
    assert lazy.spec == "App.Mod.send_all/1" and lazy.ran_in == ("App.Mod.send_all/1", "App.Mod.run/1")
