defmodule SampleApp.Workload do
  @moduledoc """
  Deterministic traffic for the sample app. Operation `i` works on user `"user_<rem(i, 5)>"`
  and sku number `rem(i, 4)`; each user checks out on every 4th of its own operations, every
  7th operation overall removes a sku, the rest add one unit. The same `n` always yields the
  same sequence of calls.
  """

  @users 5

  @doc "Run `n` cart operations in the calling process. Returns counts per operation."
  def run(n) when is_integer(n) and n >= 0 do
    skus = List.to_tuple(SampleApp.Pricing.skus())

    Enum.reduce(0..(n - 1)//1, %{add: 0, remove: 0, checkout: 0}, fn i, acc ->
      user = "user_#{rem(i, @users)}"
      sku = elem(skus, rem(i, tuple_size(skus)))
      op = op(i)
      _ = apply_op(op, user, sku)
      SampleApp.Stats.incr(:ops)
      Map.update!(acc, op, &(&1 + 1))
    end)
  end

  defp op(i) do
    cond do
      rem(div(i, @users), 4) == 3 -> :checkout
      rem(i, 7) == 6 -> :remove
      true -> :add
    end
  end

  defp apply_op(:add, user, sku), do: SampleApp.Cart.add(user, sku, 1)
  defp apply_op(:remove, user, sku), do: SampleApp.Cart.remove(user, sku)
  defp apply_op(:checkout, user, _sku), do: SampleApp.Cart.checkout(user)

  @doc """
  Start steady background traffic of about `rate_per_s` operations per second under
  `SampleApp.WorkloadSupervisor`. Returns `{:ok, pid}`; stop it with `stop_background/1`.
  """
  def start_background(rate_per_s) when is_number(rate_per_s) and rate_per_s > 0 do
    interval = max(1, round(1000 / rate_per_s))
    Task.Supervisor.start_child(SampleApp.WorkloadSupervisor, fn -> loop(0, interval) end)
  end

  def stop_background(pid) when is_pid(pid),
    do: Task.Supervisor.terminate_child(SampleApp.WorkloadSupervisor, pid)

  defp loop(i, interval) do
    _ = run_one(i)
    Process.sleep(interval)
    loop(i + 1, interval)
  end

  defp run_one(i) do
    skus = List.to_tuple(SampleApp.Pricing.skus())
    user = "user_#{rem(i, @users)}"
    SampleApp.Stats.incr(:ops)
    apply_op(op(i), user, elem(skus, rem(i, tuple_size(skus))))
  end
end
