defmodule NodeGone do
  @moduledoc """
  Buggy example on two nodes: the web node hands e-mails to a mailer on another node. The
  notifier looks the mailer's pid up once, when it starts, and casts every e-mail to that pid.
  When the mailer node goes away (a deploy, a crash), every cast to the cached pid is dropped
  without an error: the e-mails are silently lost, and they stay lost after the node is back.
  """

  @doc "Start the notifier on this node, sending to the mailer on `mailer_node`. Returns `{:ok, supervisor_pid}`."
  def start_web(mailer_node) do
    start([{NodeGone.Notifier, mailer_node}], NodeGone.WebSupervisor)
  end

  @doc "Start the mailer on this node. Returns `{:ok, supervisor_pid}`."
  def start_mailer do
    start([NodeGone.Mailer], NodeGone.MailerSupervisor)
  end

  defp start(children, name) do
    with {:ok, pid} <- Supervisor.start_link(children, strategy: :one_for_one, name: name) do
      Process.unlink(pid)
      {:ok, pid}
    end
  end
end
