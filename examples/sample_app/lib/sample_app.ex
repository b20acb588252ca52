defmodule SampleApp do
  @moduledoc """
  A small, healthy OTP application used as a tracing target by ElixirScope's tests and demos.

  It runs without mix: every file is required with `elixir -r`, then `SampleApp.start/0` loads
  an application spec in memory and starts it, so the supervision tree hangs under a real
  application master exactly as it would in a release.

  Supervision tree (3 levels):

      SampleApp.Supervisor (one_for_one)
      ├── SampleApp.Stats            GenServer owning the :sample_app_stats ETS table
      ├── SampleApp.Pricing          Agent: sku => price in cents
      ├── SampleApp.Inventory        GenServer: sku => units in stock
      ├── SampleApp.Carts            Supervisor (rest_for_one)
      │   ├── SampleApp.CartRegistry     Registry (unique keys: user => cart pid)
      │   └── SampleApp.CartSupervisor   DynamicSupervisor
      │       └── SampleApp.Cart ...     one GenServer per user
      ├── SampleApp.Ticker           periodic restocking (handle_info timer)
      └── SampleApp.WorkloadSupervisor  Task.Supervisor for background traffic
  """

  @app :sample_app

  @doc "Start the application (idempotent). Returns `{:ok, top_supervisor_pid}`."
  def start do
    spec =
      {:application, @app,
       [
         description: 'ElixirScope sample app',
         vsn: '0.1.0',
         modules: [],
         registered: [],
         applications: [:kernel, :stdlib, :elixir],
         mod: {SampleApp.Application, []}
       ]}

    case :application.load(spec) do
      :ok -> :ok
      {:error, {:already_loaded, _}} -> :ok
    end

    case Application.ensure_all_started(@app) do
      {:ok, _} -> {:ok, Process.whereis(SampleApp.Supervisor)}
      {:error, reason} -> {:error, reason}
    end
  end

  @doc "Stop the application."
  def stop, do: Application.stop(@app)
end

defmodule SampleApp.Application do
  @moduledoc false
  use Application

  @impl true
  def start(_type, _args) do
    children = [
      SampleApp.Stats,
      SampleApp.Pricing,
      SampleApp.Inventory,
      SampleApp.Carts,
      SampleApp.Ticker,
      {Task.Supervisor, name: SampleApp.WorkloadSupervisor}
    ]

    Supervisor.start_link(children, strategy: :one_for_one, name: SampleApp.Supervisor)
  end
end
