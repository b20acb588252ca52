defmodule CrossNodeCycle.Directory do
  @moduledoc """
  Customer addresses, on the accounts node. A sub-account has no address of its own: it is
  billed at the address of the account that pays for it — which only billing knows.
  State: `%{customer => address}`.
  """
  use GenServer

  @compile {:no_warn_undefined, [CrossNodeCycle.Billing]}

  @addresses %{"acme" => "1 Main St", "globex" => "9 Elm Rd"}

  def start_link(_), do: GenServer.start_link(__MODULE__, @addresses, name: __MODULE__)

  @doc "The billing address of `customer`, asked of the directory on `node`."
  def billing_address(node, customer), do: GenServer.call({__MODULE__, node}, {:billing_address, customer}, 3_000)

  @impl true
  def init(addresses), do: {:ok, addresses}

  @impl true
  def handle_call({:billing_address, customer}, {caller, _}, addresses) do
    case Map.fetch(addresses, customer) do
      {:ok, address} ->
        {:reply, address, addresses}

      # The bug: a sub-account's payer is looked up in billing on the caller's node — which is
      # blocked in `Billing.handle_call({:invoice, _}, ...)` waiting for this very reply.
      :error ->
        payer = CrossNodeCycle.Billing.payer_of(node(caller), customer)
        {:reply, Map.get(addresses, payer), addresses}
    end
  end
end
