defmodule CrossNodeCycle do
  @moduledoc """
  Buggy example on two nodes: billing runs on one node, the customer directory on another.
  `CrossNodeCycle.Billing.invoice/1` asks the directory (on the accounts node) for the billing
  address; for a sub-account the directory asks billing — back on the caller's node — who pays
  for it, with a `GenServer.call`, while billing is still blocked in its own call to the
  directory. Both wait on each other across the two nodes; the invoice call times out after 1 s.
  """

  @doc "Start billing on this node, talking to the directory on `accounts_node`. Returns `{:ok, supervisor_pid}`."
  def start_billing(accounts_node) do
    children = [{CrossNodeCycle.Billing, accounts_node}]
    start(children, CrossNodeCycle.BillingSupervisor)
  end

  @doc "Start the customer directory on this node. Returns `{:ok, supervisor_pid}`."
  def start_accounts do
    start([CrossNodeCycle.Directory], CrossNodeCycle.AccountsSupervisor)
  end

  defp start(children, name) do
    with {:ok, pid} <- Supervisor.start_link(children, strategy: :one_for_one, name: name) do
      Process.unlink(pid)
      {:ok, pid}
    end
  end
end
