defmodule Extask.Signals do
  @moduledoc """
  SIGTERM (Kubernetes deleting the pod, `docker stop`) ends the tool with exit 143.

  The BEAM turns SIGTERM into an event of the `:erl_signal_server` event manager, whose
  default handler (`:erl_signal_handler`, added when the kernel starts) calls `:init.stop/0`:
  a graceful shutdown that exits 0, which Airflow would take for success. `exit_on_sigterm/1`
  swaps that handler for this one, which writes the contract's `terminated` line and halts
  the VM with 143 at once, wherever the command is: no result is written, and a
  `selfcheck --hold` does not run to its end.

  The release runs it as a step of its boot script right after the kernel's start (added by
  `mix release`, see `mix.exs`), not from `Extask.CLI.main/0`: the other apps start in
  between, and a SIGTERM then would still be the graceful stop. Before the kernel starts the
  BEAM drops SIGTERM (no event manager yet): Kubernetes then kills the pod after its grace
  period (137, retried). Global: never called by `Extask.CLI.run/3` nor the tests, which run
  in-process.
  """

  @behaviour :gen_event

  alias Extask.{ExitCode, Log}

  @doc """
  Makes SIGTERM write the `terminated` line to `device` and halt the VM with 143. Raises
  when it cannot (the boot then fails: better than a SIGTERM exiting 0).
  """
  @spec exit_on_sigterm(IO.device()) :: :ok
  def exit_on_sigterm(device \\ :standard_error) do
    :ok = :os.set_signal(:sigterm, :handle)

    :ok =
      :gen_event.swap_handler(
        :erl_signal_server,
        {:erl_signal_handler, :swapped},
        {__MODULE__, device}
      )
  end

  @doc """
  The line written on SIGTERM (without the newline). It is written whatever `--log-level`
  says, like the error line of a failure: it is what explains the exit code.

      iex> Extask.Signals.terminated_line(0)
      ~S({"ts":"1970-01-01T00:00:00.000Z","level":"warn","msg":"terminated","tool":"extask","signal":"SIGTERM"})
  """
  @spec terminated_line(integer()) :: String.t()
  def terminated_line(ts_ms), do: Log.line(:warn, "terminated", [signal: "SIGTERM"], ts_ms)

  @impl :gen_event
  def init({device, _swapped_out_handler_state}), do: {:ok, device}

  @impl :gen_event
  def handle_event(:sigterm, device) do
    _ = IO.write(device, [terminated_line(System.system_time(:millisecond)), ?\n])
    System.halt(ExitCode.code(:terminated))
  end

  # Only SIGTERM is set to :handle; anything else is left alone, as the default handler does.
  def handle_event(_signal, device), do: {:ok, device}

  @impl :gen_event
  def handle_call(_request, device), do: {:ok, :ok, device}
end
