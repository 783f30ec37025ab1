defmodule Extask.ExitCode do
  @moduledoc """
  The exit-code table every task image shares (BSD `sysexits.h` values where one exists).

  Airflow's operators decide between retry, fail-fast and skip from the exit code alone, so
  the numbers are defined once, here, and nowhere else in the code.

  | name | code | operator behaviour |
  | --- | ---: | --- |
  | `:ok` | 0 | success |
  | `:usage` | 64 | fail, no retries |
  | `:permanent` | 65 | fail, no retries |
  | `:internal` | 70 | a crash: retried like a transient failure |
  | `:transient` | 75 | fail, normal retries |
  | `:nothing_to_do` | 99 | skipped |
  | `:terminated` | 143 | stopped by SIGTERM (128 + 15): normal retries |
  """

  @type name :: :ok | :usage | :permanent | :internal | :transient | :nothing_to_do | :terminated
  @type t :: 0 | 64 | 65 | 70 | 75 | 99 | 143

  @codes %{
    ok: 0,
    usage: 64,
    permanent: 65,
    internal: 70,
    transient: 75,
    nothing_to_do: 99,
    terminated: 143
  }

  @doc """
  The numeric exit code of a name.

      iex> Extask.ExitCode.code(:usage)
      64
      iex> Extask.ExitCode.code(:nothing_to_do)
      99
  """
  @spec code(name()) :: t()
  def code(name), do: Map.fetch!(@codes, name)

  @doc """
  Every name with its code, for documentation and tests.

      iex> Extask.ExitCode.all()[:transient]
      75
  """
  @spec all() :: %{name() => t()}
  def all, do: @codes
end
