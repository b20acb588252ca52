defmodule SampleApp.Carts do
  @moduledoc """
  Second-level supervisor for carts: the Registry must outlive the carts registered in it, so
  the strategy is rest_for_one (a Registry restart also restarts every cart).
  """
  use Supervisor

  def start_link(_opts), do: Supervisor.start_link(__MODULE__, [], name: __MODULE__)

  @impl true
  def init([]) do
    children = [
      {Registry, keys: :unique, name: SampleApp.CartRegistry},
      {DynamicSupervisor, strategy: :one_for_one, name: SampleApp.CartSupervisor}
    ]

    Supervisor.init(children, strategy: :rest_for_one)
  end
end
