defmodule Extask.CLITest do
  use ExUnit.Case, async: true
  doctest Extask.CLI

  import ExtaskTest.Run

  test "--help, -h and <command> --help print usage on stdout and exit 0" do
    for argv <- [["--help"], ["-h"], ["selfcheck", "--help"], ["selfcheck", "-h"]] do
      outcome = cli(argv)
      assert {outcome.code, outcome.stderr} == {0, ""}, inspect(argv)
      assert outcome.stdout =~ "Usage", inspect(argv)
    end
  end

  test "bad usage is one JSON error line naming the flag, exit 64, nothing on stdout" do
    outcome = cli(["selfcheck", "--no-such-flag"])
    assert outcome.code == 64
    assert outcome.stdout == ""

    assert [line] = outcome.lines

    assert %{
             "level" => "error",
             "msg" => "bad usage",
             "error_kind" => "usage",
             "exit_code" => 64,
             "command" => "selfcheck"
           } = line

    assert line["error"] =~ "--no-such-flag"
  end

  test "a bad --log-level is reported even though the level is unknown" do
    outcome = cli(["selfcheck", "--log-level", "loud"])
    assert outcome.code == 64
    assert [%{"error" => error}] = outcome.lines
    assert error == ~S(expected --log-level to be one of debug, info, warn, error, got: "loud")
  end

  test "a missing command is bad usage without a command field" do
    outcome = cli([])
    assert outcome.code == 64
    assert [line] = outcome.lines
    refute Map.has_key?(line, "command")
  end

  test "--log-level filters the command's lines but never the error line" do
    scratch = tmp_dir!("cli")
    outcome = cli(["selfcheck", "--log-level", "error", "--scratch-dir", scratch])
    assert {outcome.code, outcome.lines} == {0, []}

    failed = cli(["selfcheck", "--fail-with", "transient"], %{"EXTASK_LOG_LEVEL" => "error"})
    assert failed.code == 75
    assert [%{"error_kind" => "transient", "exit_code" => 75}] = failed.lines
  end

  test "the result goes to stdout as one line when no result file is set" do
    outcome = cli(["selfcheck", "--scratch-dir", tmp_dir!("cli")])
    assert outcome.code == 0
    assert %{"status" => "ok", "command" => "selfcheck"} = Extask.JSON.decode!(outcome.stdout)
  end

  test "a result file that cannot be written is a permanent failure" do
    dir = tmp_dir!("cli")
    File.write!(Path.join(dir, "file"), "")
    result_file = Path.join([dir, "file", "return.json"])
    outcome = cli(["selfcheck", "--scratch-dir", dir, "--result-file", result_file])
    assert outcome.code == 65
    assert [error] = lines_at(outcome, "error")
    assert error["error"] =~ "cannot write result file"
  end

  defmodule Crashing do
    @moduledoc false
    @behaviour Extask.Command
    def name, do: "crash"
    def summary, do: "Crashes."
    def flags, do: [%Extask.Flag{name: :how, doc: "raise, throw or garbage"}]

    def run(config, _log) do
      secret = config.env["EXTASK_DB_PASSWORD"]

      case config.opts.how do
        "raise" -> raise "bug while using #{secret}"
        "throw" -> throw({:oops, secret})
        "garbage" -> :not_a_result
      end
    end
  end

  test "an unforeseen exception is an internal error (70): one line, stacktrace, secrets scrubbed" do
    secret = "pw-9f2c-never-print"
    env = %{"EXTASK_DB_PASSWORD" => secret}

    for how <- ~w(raise throw garbage) do
      {:ok, out} = StringIO.open("")
      {:ok, err} = StringIO.open("")
      argv = ["crash", "--how", how]
      assert Extask.CLI.run(argv, env, stdout: out, stderr: err, commands: [Crashing]) == 70

      {:ok, {_, ""}} = StringIO.close(out)
      {:ok, {_, text}} = StringIO.close(err)
      refute text =~ secret
      assert [line] = text |> String.split("\n", trim: true) |> Enum.map(&Extask.JSON.decode!/1)

      assert %{
               "msg" => "internal error",
               "error_kind" => "internal",
               "exit_code" => 70,
               "command" => "crash"
             } = line

      assert line["stacktrace"] =~ "cli_test.exs", how
    end
  end

  test "a foreseen failure is reported once, without a stacktrace" do
    outcome = cli(["selfcheck", "--scratch-dir", "/nonexistent/dir"])
    assert outcome.code == 65
    assert [line] = lines_at(outcome, "error")
    assert line["error"] =~ ~S(scratch dir "/nonexistent/dir")
    refute Map.has_key?(line, "stacktrace")
  end
end
