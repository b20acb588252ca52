defmodule Clinic do
  @moduledoc """
  Buggy example: messages from two senders arrive in either order. Reception admits a patient
  (`Clinic.Records.admit/1` files the record and starts a task that checks the insurance, then
  tells the ward `{:admitted, id, name}`) and right away sends the vitals taken at the desk
  straight to the ward. The vitals usually arrive first; the ward does not know the patient yet
  and drops them.
  """

  @compile {:no_warn_undefined, [Clinic.Records, Clinic.Ward, Clinic.Reception]}

  def start do
    children = [Clinic.Ward, Clinic.Records]

    with {:ok, pid} <- Supervisor.start_link(children, strategy: :one_for_one, name: Clinic.Supervisor) do
      Process.unlink(pid)
      {:ok, pid}
    end
  end

  @doc "Two patients are admitted at the desk with their vitals, one without."
  def trigger do
    for {name, vitals} <- [{"Ada Moreno", %{bp: "128/84", pulse: 72}}, {"Ines Kaur", nil}, {"Tomas Lind", %{bp: "141/90", pulse: 88}}] do
      spawn(fn -> Clinic.Reception.check_in(name, vitals) end)
    end

    :ok
  end
end

defmodule Clinic.Reception do
  @compile {:no_warn_undefined, [Clinic.Records, Clinic.Ward]}

  def check_in(name, vitals) do
    {:ok, id} = Clinic.Records.admit(name)
    if vitals, do: Clinic.Ward.record_vitals(id, vitals)
    {:ok, id}
  end
end
