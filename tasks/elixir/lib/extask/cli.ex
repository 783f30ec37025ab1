defmodule Extask.CLI do
  @moduledoc """
  The `extask` entry point: `main/0` -> `run/3` -> exit code.

  `run/3` parses the command line once (`Extask.Config`), runs the command, writes its
  result, and turns every failure into exactly one JSON error line plus the contract's exit
  code. It never halts the VM, so tests call it in-process with `StringIO` devices; only
  `main/0`, called by the release's `bin/extask-cli`, exits (and, on SIGTERM,
  `Extask.Signals`, which the release's boot installs).
  """

  alias Extask.{Config, Errors, ExitCode, Log, Result, Secrets, Usage}

  @type option :: {:stdout, IO.device()} | {:stderr, IO.device()} | {:commands, [module()]}

  @doc """
  Runs the CLI with the VM's plain arguments and environment, then halts with the exit code.
  """
  @spec main() :: no_return()
  def main do
    code =
      try do
        use_unicode_stdio()
        _ = Log.route_otp_events()
        run(plain_arguments(), System.get_env())
      catch
        kind, reason -> last_resort(kind, reason)
      end

    System.halt(code)
  end

  @doc """
  Runs one command line and returns its exit code.

  Options: `:stdout` (results, help, version) and `:stderr` (log lines), devices defaulting
  to `:stdio` and `:standard_error`; `:commands`, the command modules (tests inject their
  own; default `Extask.Commands.all/0`).

      iex> {:ok, out} = StringIO.open("")
      iex> Extask.CLI.run(["--version"], %{}, stdout: out)
      0
      iex> StringIO.contents(out)
      {"", "extask 0.1.0\\n"}
  """
  @spec run([String.t()], Config.env(), [option()]) :: ExitCode.t()
  def run(argv, env, opts \\ []) do
    stdout = Keyword.get(opts, :stdout, :stdio)
    commands = Keyword.get(opts, :commands, Extask.Commands.all())
    # Until the level is parsed, errors are still logged: :error passes every level.
    log = Log.new(:info, Keyword.get(opts, :stderr, :standard_error))

    try do
      case Config.parse(argv, env, commands) do
        {:ok, :version} -> print(stdout, "extask #{Extask.version()}\n")
        {:ok, {:help, command}} -> print(stdout, Usage.text(command, commands))
        {:ok, {:run, config}} -> execute(config, %{log | level: config.log_level}, stdout)
        {:error, error} -> report(log, error, command_in(argv, commands), env)
      end
    rescue
      error -> report(log, error, command_in(argv, commands), env, __STACKTRACE__)
    catch
      kind, reason ->
        error = %ErlangError{original: {kind, reason}}
        report(log, error, command_in(argv, commands), env, __STACKTRACE__)
    end
  end

  @doc """
  The VM's plain arguments (everything after `-extra`) as strings, decoded the way the VM
  decoded them (`+fnu`: Unicode characters; `+fnl`, e.g. `LANG=C`: raw bytes).
  """
  @spec plain_arguments() :: [String.t()]
  def plain_arguments do
    encoding = :file.native_name_encoding()
    Enum.map(:init.get_plain_arguments(), &argument_to_string(&1, encoding))
  end

  defp argument_to_string(chars, :latin1), do: :erlang.list_to_binary(chars)
  defp argument_to_string(chars, _utf8), do: List.to_string(chars)

  defp execute(config, log, stdout) do
    command = config.command

    with {:ok, %Result{} = result} <- command.run(config, log),
         :ok <- Result.write(result, config.result_file, stdout) do
      Result.exit_code(result)
    else
      {:error, error} -> report(log, error, command.name(), config.env)
    end
  end

  defp print(device, text) do
    IO.write(device, text)
    ExitCode.code(:ok)
  end

  # The one place an error is reported: a single error line, then its exit code.
  defp report(log, error, command, env, stacktrace \\ nil) do
    kind = Errors.kind(error)
    code = Errors.exit_code(error)

    fields =
      [error_kind: kind, exit_code: code] ++
        if(command, do: [command: command], else: []) ++
        [error: Secrets.scrub(Errors.chain(error), env)] ++
        stacktrace_field(kind, stacktrace, env)

    Log.error(log, error_msg(kind), fields)
    code
  end

  defp error_msg(:usage), do: "bad usage"
  defp error_msg(:internal), do: "internal error"
  defp error_msg(_kind), do: "command failed"

  # A foreseen error's cause chain is the report; only a bug gets its stacktrace.
  defp stacktrace_field(:internal, [_ | _] = stacktrace, env) do
    [stacktrace: Secrets.scrub(Exception.format_stacktrace(stacktrace), env)]
  end

  defp stacktrace_field(_kind, _stacktrace, _env), do: []

  # For error lines only: the first argument naming a known command.
  defp command_in(argv, commands) do
    Enum.find(argv, &match?({:ok, _}, Extask.Commands.fetch(&1, commands)))
  end

  defp use_unicode_stdio do
    _ = :io.setopts(:standard_io, encoding: :unicode)
    _ = :io.setopts(:standard_error, encoding: :unicode)
    :ok
  end

  # run/3 rescues everything; this is for a failure while reporting (e.g. stderr closed).
  defp last_resort(kind, reason) do
    code = ExitCode.code(:internal)

    fields = [
      error_kind: :internal,
      exit_code: code,
      error: Secrets.scrub(Exception.format_banner(kind, reason), System.get_env())
    ]

    line = Log.line(:error, "internal error", fields, System.system_time(:millisecond))
    _ = IO.write(:standard_error, [line, ?\n])
    code
  catch
    _kind, _reason -> ExitCode.code(:internal)
  end
end
