defmodule Extask.Result do
  @moduledoc """
  What a command hands to the next task, written where Airflow's xcom sidecar reads it.

  The shape is the same in every language (`status`, `tool`, `version`, `command`, `counts`,
  `outputs`). `counts` holds non-negative integers only, so DAGs and dashboards can sum them
  without knowing the command. The sidecar may read the file the moment the container exits,
  so it is written whole or not at all: a temp file in the same directory, then a rename.
  """

  alias Extask.{ExitCode, JSON, PermanentError}

  @enforce_keys [:command]
  defstruct [:command, status: :ok, counts: %{}, outputs: %{}]

  @type status :: :ok | :nothing_to_do
  @type t :: %__MODULE__{
          command: String.t(),
          status: status(),
          counts: %{optional(atom() | String.t()) => non_neg_integer()},
          outputs: %{optional(atom() | String.t()) => term()}
        }

  @doc """
  A result; raises `ArgumentError` when a count is not a non-negative integer (a bug in the
  command, not bad input).

      iex> Extask.Result.new("selfcheck", %{checks: 1}, %{uid: 0}).status
      :ok
      iex> Extask.Result.new("selfcheck", %{checks: -1}, %{})
      ** (ArgumentError) expected counts.checks to be a non-negative integer, got: -1
  """
  @spec new(String.t(), map(), map(), status()) :: t()
  def new(command, counts, outputs, status \\ :ok) when status in [:ok, :nothing_to_do] do
    case Enum.find(counts, fn {_name, value} -> not (is_integer(value) and value >= 0) end) do
      nil ->
        :ok

      {name, value} ->
        raise ArgumentError,
              "expected counts.#{name} to be a non-negative integer, got: #{inspect(value)}"
    end

    %__MODULE__{command: command, status: status, counts: counts, outputs: outputs}
  end

  @doc """
  The exit code of a result: 0, or 99 when there was nothing to do.

      iex> Extask.Result.exit_code(Extask.Result.new("x", %{}, %{}, :nothing_to_do))
      99
  """
  @spec exit_code(t()) :: ExitCode.t()
  def exit_code(%__MODULE__{status: :ok}), do: ExitCode.code(:ok)
  def exit_code(%__MODULE__{status: :nothing_to_do}), do: ExitCode.code(:nothing_to_do)

  @doc """
  The result as one line of JSON, keys in the contract's order.

      iex> Extask.Result.to_json(Extask.Result.new("selfcheck", %{checks: 1}, %{a: [1]}))
      ~S({"status":"ok","tool":"extask","version":"0.1.0","command":"selfcheck","counts":{"checks":1},"outputs":{"a":[1]}})
  """
  @spec to_json(t()) :: String.t()
  def to_json(%__MODULE__{} = result) do
    JSON.encode_object([
      {"status", result.status},
      {"tool", Extask.tool()},
      {"version", Extask.version()},
      {"command", result.command},
      {"counts", result.counts},
      {"outputs", result.outputs}
    ])
  end

  @doc """
  Writes the result atomically to `path`, creating its directory, or as one line to
  `stdout` when `path` is nil. A file that cannot be written is a permanent error.
  """
  @spec write(t(), Path.t() | nil, IO.device()) :: :ok | {:error, PermanentError.t()}
  def write(result, nil, stdout), do: IO.write(stdout, [to_json(result), ?\n])

  def write(result, path, _stdout) do
    dir = Path.dirname(path)
    tmp = Path.join(dir, ".#{Path.basename(path)}.#{System.pid()}-#{unique()}.tmp")

    with :ok <- File.mkdir_p(dir),
         :ok <- write_synced(tmp, to_json(result)),
         :ok <- rename(tmp, path) do
      :ok
    else
      {:error, reason} ->
        {:error,
         %PermanentError{message: "cannot write result file #{inspect(path)}", cause: reason}}
    end
  end

  defp write_synced(tmp, data) do
    case File.open(tmp, [:write, :exclusive, :binary], &write_and_sync(&1, data)) do
      {:ok, :ok} -> :ok
      {:ok, {:error, reason}} -> discard(tmp, reason)
      {:error, reason} -> {:error, reason}
    end
  end

  defp write_and_sync(io, data) do
    with :ok <- IO.binwrite(io, data), do: :file.sync(io)
  end

  defp rename(tmp, path) do
    case File.rename(tmp, path) do
      :ok -> :ok
      {:error, reason} -> discard(tmp, reason)
    end
  end

  defp discard(tmp, reason) do
    _ = File.rm(tmp)
    {:error, reason}
  end

  defp unique, do: System.unique_integer([:positive])
end
