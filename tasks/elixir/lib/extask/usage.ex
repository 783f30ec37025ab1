defmodule Extask.Usage do
  @moduledoc """
  The `--help` texts, generated from the command registry and the flag declarations.

  Help is printed on stdout (it is the requested output, not a diagnostic). Building it from
  `Extask.Flag` structs keeps the text, the parser and the env fallbacks from drifting apart.
  """

  alias Extask.{Config, Flag}

  @doc """
  The help of the tool (`nil`) or of one command.

      iex> Extask.Usage.text(nil) =~ "extask <command> [flags]"
      true
      iex> Extask.Usage.text(Extask.Commands.Selfcheck) =~ "--fail-with KIND"
      true
  """
  @spec text(module() | nil, [module()]) :: String.t()
  def text(command, commands \\ Extask.Commands.all())

  def text(nil, commands) do
    width = commands |> Enum.map(&String.length(&1.name())) |> Enum.max()

    lines =
      for command <- commands do
        "  #{String.pad_trailing(command.name(), width)}  #{command.summary()}"
      end

    """
    extask #{Extask.version()}: Elixir ETL task steps of polyetl (see docs/task-contract.md).

    Usage:
      extask <command> [flags]
      extask <command> --help
      extask --help | --version

    Commands:
    #{Enum.join(lines, "\n")}

    #{common_section()}
    Exit codes: 0 ok, 64 bad usage, 65 permanent failure, 75 transient failure,
    99 nothing to do, 143 stopped by SIGTERM. Logs are JSON lines on stderr; the result
    is JSON.
    """
  end

  def text(command, _commands) do
    own =
      case command.flags() do
        [] -> ""
        flags -> "Flags:\n" <> flag_lines(flags) <> "\n"
      end

    notes =
      if function_exported?(command, :notes, 0),
        do: String.trim_trailing(command.notes()) <> "\n\n",
        else: ""

    """
    Usage: extask #{command.name()} [flags]

    #{command.summary()}

    #{own}#{notes}#{common_section()}\
    """
  end

  defp common_section do
    "Common flags (before or after the command; a flag wins over its env fallback):\n" <>
      flag_lines(Config.common_flags(), [{"-h, --help", "show this help"}])
  end

  defp flag_lines(flags, extra \\ []) do
    helps = Enum.map(flags, &Flag.help/1) ++ extra
    width = helps |> Enum.map(&String.length(elem(&1, 0))) |> Enum.max()

    Enum.map_join(helps, fn {left, right} ->
      "  #{String.pad_trailing(left, width)}  #{right}\n"
    end)
  end
end
