defmodule Extask do
  @moduledoc """
  Identity of the tool: its name, version and env prefix, as the task contract uses them.

  Every log line, result and env lookup names the tool the same way, so these live in one
  place instead of being repeated as literals (see `docs/task-contract.md`).
  """

  @version Mix.Project.config()[:version]

  @doc """
  The tool name, the `tool` key of every log line and result.

      iex> Extask.tool()
      "extask"
  """
  @spec tool() :: String.t()
  def tool, do: "extask"

  @doc """
  The version, taken from `mix.exs` at compile time.

      iex> Extask.version()
      "0.1.0"
  """
  @spec version() :: String.t()
  def version, do: @version

  @doc """
  The prefix of every environment variable the tool reads.

      iex> Extask.env_prefix()
      "EXTASK_"
  """
  @spec env_prefix() :: String.t()
  def env_prefix, do: "EXTASK_"
end
