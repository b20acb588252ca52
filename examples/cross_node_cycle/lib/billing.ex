defmodule CrossNodeCycle.Billing do
  @moduledoc """
  Issues invoices. Knows which account pays for which sub-account; asks the directory on the
  accounts node for addresses.
  State: `%{accounts: node, payers: %{customer => paying_customer}, invoices: [invoice]}`.
  """
  use GenServer

  @compile {:no_warn_undefined, [CrossNodeCycle.Directory]}

  @payers %{"acme-eu" => "acme", "acme-us" => "acme"}

  def start_link(accounts_node), do: GenServer.start_link(__MODULE__, accounts_node, name: __MODULE__)

  @doc "Invoice a customer. Callers wait at most 1 s."
  def invoice(customer), do: GenServer.call(__MODULE__, {:invoice, customer}, 1_000)

  @doc "The account that pays for `customer`, asked of billing on `node`."
  def payer_of(node, customer), do: GenServer.call({__MODULE__, node}, {:payer_of, customer}, 3_000)

  @impl true
  def init(accounts_node), do: {:ok, %{accounts: accounts_node, payers: @payers, invoices: []}}

  @impl true
  def handle_call({:invoice, customer}, _from, state) do
    address = CrossNodeCycle.Directory.billing_address(state.accounts, customer)
    invoice = %{id: length(state.invoices) + 1, customer: customer, address: address}
    {:reply, {:ok, invoice.id}, %{state | invoices: [invoice | state.invoices]}}
  end

  def handle_call({:payer_of, customer}, _from, state),
    do: {:reply, Map.get(state.payers, customer, customer), state}
end
