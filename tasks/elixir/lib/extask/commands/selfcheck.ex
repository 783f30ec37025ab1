defmodule Extask.Commands.Selfcheck do
  @moduledoc """
  Check that this image's runtime honours the task contract (section 7).

  It touches no external service: it reports the version, the runtime, the effective uid
  and the configuration it sees (secrets redacted), proves the scratch dir is writable and
  writes a result. With `--hold` it first waits (a task that runs for a while, for fault
  tests); with `--fail-with` it ends on one of the contract's other outcomes, so the
  operators' exit-code mapping can be tested against real pods.
  """

  @behaviour Extask.Command

  alias Extask.{Flag, Log, PermanentError, Result, Secrets, TransientError}

  @hold_max_s 86_400
  @held_every_s 5

  @impl true
  def name, do: "selfcheck"

  @impl true
  def summary, do: "Check that this image's runtime honours the task contract."

  @impl true
  def flags do
    [
      %Flag{
        name: :fail_with,
        type:
          {:one_of,
           [
             {"permanent", :permanent},
             {"transient", :transient},
             {"nothing-to-do", :nothing_to_do}
           ]},
        metavar: "KIND",
        doc: "end with this outcome: permanent, transient or nothing-to-do"
      },
      %Flag{
        name: :hold,
        type: {:integer, 0, @hold_max_s},
        metavar: "SECONDS",
        default: 0,
        doc:
          "wait this long after the checks, 0 to #{@hold_max_s}, logging every " <>
            "#{@held_every_s} s, so fault tests can act while a task runs; default 0"
      }
    ]
  end

  @impl true
  def run(config, log) do
    Log.info(log, "selfcheck started", version: Extask.version())

    with :ok <- check_scratch_dir(config.scratch_dir) do
      Log.debug(log, "scratch dir writable", scratch_dir: config.scratch_dir)
      :ok = hold(config.opts[:hold], log)

      outputs = %{
        runtime: runtime(),
        uid: effective_uid(),
        scratch_dir: config.scratch_dir,
        held_s: config.opts[:hold],
        config: Secrets.redacted_env(config.env, Extask.env_prefix())
      }

      finish(config.opts[:fail_with], outputs, log)
    end
  end

  @doc """
  Creates, writes, reads back and removes a file in `dir`; a failure is permanent and
  names the directory.

      iex> Extask.Commands.Selfcheck.check_scratch_dir(System.tmp_dir!())
      :ok
      iex> {:error, error} = Extask.Commands.Selfcheck.check_scratch_dir("/nonexistent/scratch")
      iex> Extask.Errors.chain(error)
      ~S(expected scratch dir "/nonexistent/scratch" to be writable: no such file or directory)
  """
  @spec check_scratch_dir(Path.t()) :: :ok | {:error, PermanentError.t()}
  def check_scratch_dir(dir) do
    probe = Path.join(dir, ".selfcheck-#{System.pid()}-#{System.unique_integer([:positive])}")
    payload = "polyetl selfcheck\n"

    result =
      with :ok <- File.write(probe, payload, [:exclusive]),
           {:ok, ^payload} <- File.read(probe) do
        File.rm(probe)
      else
        {:ok, _other} -> remove_after_error(probe, "read back different bytes")
        {:error, reason} -> remove_after_error(probe, reason)
      end

    case result do
      :ok ->
        :ok

      {:error, reason} ->
        message = "expected scratch dir #{inspect(dir)} to be writable"
        {:error, %PermanentError{message: message, cause: reason}}
    end
  end

  defp remove_after_error(probe, reason) do
    _ = File.rm(probe)
    {:error, reason}
  end

  @doc """
  Waits `seconds`, logging `selfcheck holding`, then `selfcheck held` with the seconds left
  every #{@held_every_s} s; nothing at all for 0. `sleep` takes milliseconds (tests pass
  their own). SIGTERM needs no check here: `Extask.Signals` halts the VM mid-sleep.
  """
  @spec hold(non_neg_integer(), Log.t(), (non_neg_integer() -> term())) :: :ok
  def hold(seconds, log, sleep \\ &Process.sleep/1)
  def hold(0, _log, _sleep), do: :ok

  def hold(seconds, log, sleep) do
    Log.info(log, "selfcheck holding", seconds: seconds)
    held(seconds, log, sleep)
  end

  defp held(remaining, log, sleep) do
    step = min(@held_every_s, remaining)
    _ = sleep.(:timer.seconds(step))
    left = remaining - step

    if left > 0 do
      Log.info(log, "selfcheck held", remaining_s: left)
      held(left, log, sleep)
    else
      :ok
    end
  end

  @doc """
  The language runtime and its version.

      iex> Extask.Commands.Selfcheck.runtime() =~ ~r/^Elixir \\d+\\.\\d+\\.\\d+ \\/ OTP \\d+$/
      true
  """
  @spec runtime() :: String.t()
  def runtime, do: "Elixir #{System.version()} / OTP #{System.otp_release()}"

  @doc """
  The effective user id from a `/proc/<pid>/status` text (the BEAM has no `geteuid`);
  `nil` when there is no `Uid:` line.

      iex> Extask.Commands.Selfcheck.effective_uid("Name:\\tbeam.smp\\nUid:\\t1000\\t10001\\t10001\\t10001\\n")
      10001
      iex> Extask.Commands.Selfcheck.effective_uid("Name:\\tbeam.smp\\n")
      nil
  """
  @spec effective_uid(String.t()) :: non_neg_integer() | nil
  def effective_uid(status) do
    Enum.find_value(String.split(status, "\n"), fn
      "Uid:" <> ids ->
        case String.split(ids) do
          [_real, effective | _] -> String.to_integer(effective)
          _ -> nil
        end

      _line ->
        nil
    end)
  end

  defp effective_uid do
    case File.read("/proc/self/status") do
      {:ok, status} -> effective_uid(status)
      {:error, _reason} -> nil
    end
  end

  defp finish(nil, outputs, log) do
    Log.info(log, "selfcheck done", checks: 1, failed: 0)
    {:ok, Result.new(name(), %{checks: 1, failed: 0}, outputs)}
  end

  defp finish(:permanent, _outputs, _log) do
    {:error,
     %PermanentError{message: "selfcheck asked to fail permanently (--fail-with permanent)"}}
  end

  defp finish(:transient, _outputs, _log) do
    {:error,
     %TransientError{message: "selfcheck asked to fail transiently (--fail-with transient)"}}
  end

  defp finish(:nothing_to_do, outputs, log) do
    Log.info(log, "nothing to do",
      command: name(),
      reason: "selfcheck asked for nothing to do (--fail-with nothing-to-do)"
    )

    {:ok, Result.new(name(), %{checks: 1, failed: 0}, outputs, :nothing_to_do)}
  end
end
