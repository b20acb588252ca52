defmodule Notify do
  @moduledoc """
  Buggy example: a server caches the pid of a dependency that later restarts.
  `Notify.Dispatcher` looks up `Notify.Mailer`'s pid once, in `init/1`, and casts every e-mail
  to that pid. The mailer recycles itself (stops and is restarted by the supervisor) after
  every 20 deliveries; from then on the dispatcher casts to a dead pid and every notification
  silently vanishes.
  """

  @compile {:no_warn_undefined, [Notify.Mailer, Notify.Dispatcher, Notify.Users]}

  def start do
    children = [Notify.Users, Notify.Mailer, Notify.Dispatcher]

    with {:ok, pid} <- Supervisor.start_link(children, strategy: :one_for_one, name: Notify.Supervisor) do
      Process.unlink(pid)
      {:ok, pid}
    end
  end

  @doc "Reproduce once: a busy hour of notifications (more than one mailer connection's worth)."
  def trigger do
    for n <- 1..30, do: Notify.Dispatcher.notify(rem(n, 3) + 1, "order #{n} shipped")
    :ok
  end
end

defmodule Notify.Users do
  @moduledoc "User directory (id → e-mail address). An Agent."
  use Agent

  @users %{1 => "ada@example.com", 2 => "bob@example.com", 3 => "cy@example.com"}

  def start_link(_), do: Agent.start_link(fn -> @users end, name: __MODULE__)
  def email(id), do: Agent.get(__MODULE__, &Map.get(&1, id))
end
