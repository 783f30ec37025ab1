defmodule Extask.ConfigTest do
  use ExUnit.Case, async: true
  doctest Extask.Config

  alias Extask.{Config, UsageError}
  alias Extask.Commands.Selfcheck

  defp run_config(argv, env \\ %{}) do
    assert {:ok, {:run, %Config{} = config}} = Config.parse(argv, env)
    config
  end

  defp usage_error(argv, env \\ %{}) do
    assert {:error, %UsageError{message: message}} = Config.parse(argv, env)
    message
  end

  test "defaults" do
    config = run_config(["selfcheck"])

    assert %Config{
             command: Selfcheck,
             result_file: nil,
             log_level: :info,
             scratch_dir: "/tmp",
             opts: %{fail_with: nil},
             env: %{}
           } = config
  end

  test "common flags before or after the command, with --flag=value too" do
    before = run_config(["--result-file", "/x/r.json", "--log-level=warn", "selfcheck"])
    after_ = run_config(["selfcheck", "--result-file=/x/r.json", "--log-level", "warn"])
    assert {before.result_file, before.log_level} == {"/x/r.json", :warn}
    assert {after_.result_file, after_.log_level} == {"/x/r.json", :warn}
  end

  test "the later of two values wins" do
    assert run_config(["--log-level", "debug", "selfcheck", "--log-level", "error"]).log_level ==
             :error
  end

  test "env fallbacks for common and command flags; flags win" do
    env = %{
      "EXTASK_RESULT_FILE" => "/airflow/xcom/return.json",
      "EXTASK_LOG_LEVEL" => "debug",
      "EXTASK_SCRATCH_DIR" => "/scratch",
      "EXTASK_FAIL_WITH" => "nothing-to-do",
      "EXTASK_HOLD" => "20"
    }

    config = run_config(["selfcheck"], env)
    assert config.result_file == "/airflow/xcom/return.json"
    assert config.log_level == :debug
    assert config.scratch_dir == "/scratch"
    assert config.opts == %{fail_with: :nothing_to_do, hold: 20}
    assert config.env == env

    assert run_config(["selfcheck", "--fail-with", "permanent"], env).opts.fail_with == :permanent
    assert run_config(["selfcheck", "--hold", "3"], env).opts.hold == 3
  end

  test "help and version" do
    assert Config.parse(["--help"], %{}) == {:ok, {:help, nil}}
    assert Config.parse(["-h", "selfcheck"], %{}) == {:ok, {:help, nil}}
    assert Config.parse(["selfcheck", "--help"], %{}) == {:ok, {:help, Selfcheck}}
    # Help wins over bad values: asking for help is never a usage error.
    assert Config.parse(["selfcheck", "--log-level", "loud", "-h"], %{}) ==
             {:ok, {:help, Selfcheck}}

    assert Config.parse(["--version", "selfcheck"], %{}) == {:ok, :version}
  end

  test "usage errors name the flag, the value or the command" do
    commands = Enum.map_join(Extask.Commands.all(), ", ", & &1.name())
    assert usage_error([]) == "expected a command, one of: #{commands}"
    assert usage_error(["--log-level", "info"]) == "expected a command, one of: #{commands}"
    assert usage_error(["nope"]) == ~s(expected a command, one of: #{commands}, got: "nope")

    assert usage_error(["--bogus", "selfcheck"]) ==
             ~S[expected a flag of extask (see extask --help), got: "--bogus"]

    assert usage_error(["selfcheck", "--fail_with", "x"]) =~ ~S(got: "--fail_with")
    assert usage_error(["selfcheck", "-extra"]) =~ ~S(got: "-extra")
    assert usage_error(["selfcheck", "--bogus=1"]) =~ ~S(got: "--bogus=1")

    assert usage_error(["selfcheck", "--log-level"]) ==
             "expected a value after --log-level, got: none"

    assert usage_error(["selfcheck", "--fail-with", "sometimes"]) ==
             ~S(expected --fail-with to be one of permanent, transient, nothing-to-do, got: "sometimes")

    assert usage_error(["selfcheck", "extra"]) ==
             ~S(expected no arguments after extask selfcheck, got: "extra")

    assert usage_error(["selfcheck", "--", "--log-level"]) =~ "expected no arguments"
    assert usage_error(["selfcheck", "--version"]) =~ "--version"

    assert usage_error(["selfcheck", "--result-file="]) ==
             ~S(expected --result-file to be a path, got: "")

    assert usage_error(["selfcheck"], %{"EXTASK_LOG_LEVEL" => "LOUD"}) ==
             ~S(expected EXTASK_LOG_LEVEL to be one of debug, info, warn, error, got: "LOUD")
  end

  test "commands are injectable, so the parser is tested apart from the registry" do
    defmodule Fake do
      def name, do: "fake"
      def flags, do: [%Extask.Flag{name: :bucket, doc: "b", default: "dflt"}]
    end

    assert {:ok, {:run, config}} = Config.parse(["fake"], %{"EXTASK_BUCKET" => "b1"}, [Fake])
    assert config.opts == %{bucket: "b1"}
    assert {:error, %UsageError{message: message}} = Config.parse(["selfcheck"], %{}, [Fake])
    assert message == ~S(expected a command, one of: fake, got: "selfcheck")
  end

  test "a repeatable flag keeps every value, in order; its env fallback is one value per line" do
    defmodule Many do
      def name, do: "many"

      def flags,
        do: [
          %Extask.Flag{name: :key, doc: "k", type: :path, repeatable: true, required: true},
          %Extask.Flag{name: :bucket, doc: "b"}
        ]
    end

    parse = fn argv, env ->
      with {:ok, {:run, config}} <- Config.parse(argv, env, [Many]), do: config.opts
    end

    argv = ["many", "--key", "raw/a,1.csv", "--bucket", "b1", "--key=raw/b.csv", "--key", "raw/a"]

    assert parse.(argv, %{"EXTASK_KEY" => "raw/z"}) == %{
             key: ~w(raw/a,1.csv raw/b.csv raw/a),
             bucket: "b1"
           }

    assert parse.(["many"], %{"EXTASK_KEY" => "raw/y\nraw/z\n"}) == %{
             key: ~w(raw/y raw/z),
             bucket: nil
           }

    assert {:error, %UsageError{message: "expected --key or EXTASK_KEY to be set, got: none"}} =
             parse.(["many"], %{})

    assert {:error, %UsageError{message: "expected a value after --key, got: none"}} =
             parse.(["many", "--key"], %{})
  end
end
