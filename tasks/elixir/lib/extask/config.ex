defmodule Extask.Config do
  @moduledoc """
  The command line and `EXTASK_*` environment, parsed and validated once into a typed value.

  Parsing is two-staged (raw strings from `OptionParser`, then each `Extask.Flag` validated
  with its env fallback), and it is the only place that looks at the environment: commands
  receive this struct, which is what makes `Extask.CLI.run/3` testable in-process.

  The common flags are accepted before or after the command name; a flag always wins over
  its env fallback, and a flag given twice keeps its last value — but a `repeatable` one
  (`Extask.Flag`), which keeps them all, in order.
  """

  alias Extask.{Commands, Flag, UsageError}

  @enforce_keys [:command, :log_level, :scratch_dir]
  defstruct [:command, :result_file, :log_level, :scratch_dir, opts: %{}, env: %{}]

  @type env :: %{optional(String.t()) => String.t()}
  @type t :: %__MODULE__{
          command: module(),
          result_file: Path.t() | nil,
          log_level: Extask.Log.level(),
          scratch_dir: Path.t(),
          opts: %{optional(atom()) => term()},
          env: env()
        }
  @typedoc "What the command line asks for."
  @type parsed :: {:run, t()} | {:help, module() | nil} | :version

  @meta_switches [help: :boolean, version: :boolean]

  @doc """
  The flags every command accepts.

      iex> Enum.map(Extask.Config.common_flags(), &Extask.Flag.switch/1)
      ["--result-file", "--log-level", "--scratch-dir"]
  """
  @spec common_flags() :: [Flag.t(), ...]
  def common_flags do
    [
      %Flag{
        name: :result_file,
        type: :path,
        metavar: "PATH",
        doc: "write the result here instead of printing it to stdout"
      },
      %Flag{
        name: :log_level,
        type: {:one_of, Enum.map(Extask.Log.levels(), &{Atom.to_string(&1), &1})},
        metavar: "LEVEL",
        default: :info,
        doc: "debug, info, warn or error; default info"
      },
      %Flag{
        name: :scratch_dir,
        type: :path,
        metavar: "DIR",
        default: "/tmp",
        doc: "the only local directory written to; default /tmp"
      }
    ]
  end

  @doc """
  Parses `argv` with `env` as fallback.

      iex> {:ok, {:run, config}} = Extask.Config.parse(
      ...>   ["--log-level", "debug", "selfcheck", "--fail-with", "transient"],
      ...>   %{"EXTASK_SCRATCH_DIR" => "/scratch", "EXTASK_LOG_LEVEL" => "error"})
      iex> {config.command, config.log_level, config.scratch_dir, config.result_file, config.opts}
      {Extask.Commands.Selfcheck, :debug, "/scratch", nil, %{fail_with: :transient, hold: 0}}

      iex> Extask.Config.parse(["selfcheck", "-h"], %{})
      {:ok, {:help, Extask.Commands.Selfcheck}}
      iex> Extask.Config.parse(["--version"], %{})
      {:ok, :version}

      iex> {:error, error} = Extask.Config.parse(["selfcheck", "--log-level", "loud"], %{})
      iex> error.message
      ~S(expected --log-level to be one of debug, info, warn, error, got: "loud")
      iex> {:error, error} = Extask.Config.parse(["selfcheck", "--bogus"], %{})
      iex> error.message
      ~S[expected a flag of extask selfcheck (see extask selfcheck --help), got: "--bogus"]
  """
  @spec parse([String.t()], env(), [module()]) :: {:ok, parsed()} | {:error, UsageError.t()}
  def parse(argv, env, commands \\ Commands.all()) do
    common = common_flags()
    {head, rest, invalid} = OptionParser.parse_head(argv, parser_opts(common))

    cond do
      invalid != [] -> invalid_flag(invalid, argv, common, "extask")
      head[:help] -> {:ok, {:help, nil}}
      head[:version] -> {:ok, :version}
      true -> parse_command(rest, head, env, commands)
    end
  end

  defp parse_command([], _head, _env, commands) do
    usage_error("expected a command, one of: #{names(commands)}")
  end

  defp parse_command([name | argv], head, env, commands) do
    case Commands.fetch(name, commands) do
      {:ok, command} ->
        parse_flags(command, argv, head, env)

      :error ->
        usage_error("expected a command, one of: #{names(commands)}, got: #{inspect(name)}")
    end
  end

  defp parse_flags(command, argv, head, env) do
    own = command.flags()
    flags = common_flags() ++ own
    prog = "extask " <> command.name()
    {tail, args, invalid} = OptionParser.parse(argv, parser_opts(flags))

    cond do
      invalid != [] -> invalid_flag(invalid, argv, flags, prog)
      args != [] -> usage_error("expected no arguments after #{prog}, got: #{inspect(hd(args))}")
      tail[:help] -> {:ok, {:help, command}}
      head[:version] || tail[:version] -> usage_error("expected --version before the command")
      true -> build(command, Keyword.merge(head, tail), env, own)
    end
  end

  defp build(command, given, env, own) do
    with {:ok, common} <- resolve_all(common_flags(), given, env),
         {:ok, opts} <- resolve_all(own, given, env) do
      {:ok,
       {:run,
        %__MODULE__{
          command: command,
          result_file: common.result_file,
          log_level: common.log_level,
          scratch_dir: common.scratch_dir,
          opts: opts,
          env: env
        }}}
    end
  end

  defp resolve_all(flags, given, env) do
    Enum.reduce_while(flags, {:ok, %{}}, fn flag, {:ok, acc} ->
      value = if flag.repeatable, do: Keyword.get_values(given, flag.name), else: given[flag.name]

      case Flag.resolve(flag, value, env) do
        {:ok, value} -> {:cont, {:ok, Map.put(acc, flag.name, value)}}
        {:error, _} = error -> {:halt, error}
      end
    end)
  end

  defp parser_opts(flags) do
    switches =
      Enum.map(flags, &{&1.name, if(&1.repeatable, do: [:string, :keep], else: :string)}) ++
        @meta_switches

    [strict: switches, aliases: [h: :help]]
  end

  # OptionParser gives {switch, nil} both for an unknown switch and for a known one whose
  # value is missing; the flag list tells them apart.
  defp invalid_flag([{switch, value} | _], argv, flags, prog) do
    known? = Enum.any?(flags, &(Flag.switch(&1) == switch))

    cond do
      known? and value == nil ->
        usage_error("expected a value after #{switch}, got: none")

      known? or switch in ["--help", "-h", "--version"] ->
        usage_error("expected #{switch} to be valid here, got: #{inspect(value)}")

      true ->
        given = as_given(switch, argv)
        usage_error("expected a flag of #{prog} (see #{prog} --help), got: #{inspect(given)}")
    end
  end

  # OptionParser splits "-abc" into "-a", "-b", "-c"; report the argument as it was typed.
  defp as_given(switch, argv) do
    if switch in argv, do: switch, else: Enum.find(argv, switch, &String.starts_with?(&1, switch))
  end

  defp names(commands), do: Enum.map_join(commands, ", ", & &1.name())

  defp usage_error(message), do: {:error, %UsageError{message: message}}
end
