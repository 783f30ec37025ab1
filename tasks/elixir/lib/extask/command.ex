defmodule Extask.Command do
  @moduledoc """
  What a command module provides, so that adding a command is one module plus one line in
  `Extask.Commands`.

  The CLI parses and validates the command's `c:flags/0` (with their `EXTASK_*` fallbacks)
  before `c:run/2` is called, reports a returned error once, and writes the returned result;
  a command never exits, prints to stdout or reads the process environment itself
  (`config.env` is the environment `Extask.CLI.run/3` was given).
  """

  @doc "The name on the command line, e.g. `\"selfcheck\"`."
  @callback name() :: String.t()

  @doc "One line for `extask --help`."
  @callback summary() :: String.t()

  @doc "The command's own flags; the common flags are added by `Extask.Config`."
  @callback flags() :: [Extask.Flag.t()]

  @doc """
  Optional: text shown by `extask <command> --help` after the flags, for configuration
  that is not a flag (e.g. secrets, which come only from the environment).
  """
  @callback notes() :: String.t()

  @optional_callbacks notes: 0

  @doc """
  Does the work. `config.opts` holds the validated values of `c:flags/0` by name.
  Return a result (status `:ok` or `:nothing_to_do`) or a foreseen error.
  """
  @callback run(Extask.Config.t(), Extask.Log.t()) ::
              {:ok, Extask.Result.t()} | {:error, Extask.Errors.task_error()}
end
