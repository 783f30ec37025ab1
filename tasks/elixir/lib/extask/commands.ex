defmodule Extask.Commands do
  @moduledoc """
  The registry of commands: the one list the CLI, the parser and `--help` read.

  To add a command, write a module implementing `Extask.Command` under
  `lib/extask/commands/`, add it to `all/0`, and mirror it in `test/extask/commands/`.
  """

  @doc """
  Every command module, in `--help` order.

      iex> Extask.Commands.all()
      [Extask.Commands.Selfcheck, Extask.Commands.Discover, Extask.Commands.Archive,
       Extask.Commands.Requeue]
  """
  @spec all() :: [module(), ...]
  def all do
    [
      Extask.Commands.Selfcheck,
      Extask.Commands.Discover,
      Extask.Commands.Archive,
      Extask.Commands.Requeue
    ]
  end

  @doc """
  The command module named `name`, among `commands`.

      iex> Extask.Commands.fetch("selfcheck")
      {:ok, Extask.Commands.Selfcheck}
      iex> Extask.Commands.fetch("nope")
      :error
  """
  @spec fetch(String.t(), [module()]) :: {:ok, module()} | :error
  def fetch(name, commands \\ all()) do
    case Enum.find(commands, &(&1.name() == name)) do
      nil -> :error
      command -> {:ok, command}
    end
  end
end
