defmodule Extask.Commands.SelfcheckTest do
  use ExUnit.Case, async: true
  doctest Extask.Commands.Selfcheck

  import ExtaskTest.Run

  alias Extask.Commands.Selfcheck
  alias Extask.Log

  @secret "pw-selfcheck-4b1d-never-print-me"

  setup do
    scratch = tmp_dir!("selfcheck")
    result_file = Path.join([tmp_dir!("xcom"), "airflow", "xcom", "return.json"])
    %{scratch: scratch, result_file: result_file}
  end

  test "logs, checks the scratch dir and writes the contract's result", ctx do
    env = %{
      "EXTASK_LOG_LEVEL" => "debug",
      "EXTASK_DEMO_PASSWORD" => @secret,
      "EXTASK_DEMO_TOKEN_FILE" => "/run/secrets/token",
      "NOT_OURS_PASSWORD" => "other"
    }

    outcome =
      cli(["selfcheck", "--scratch-dir", ctx.scratch, "--result-file", ctx.result_file], env)

    assert {outcome.code, outcome.stdout} == {0, ""}

    assert Enum.map(outcome.lines, &{&1["level"], &1["msg"]}) == [
             {"info", "selfcheck started"},
             {"debug", "scratch dir writable"},
             {"info", "selfcheck done"}
           ]

    [started, _, done] = outcome.lines
    assert started["version"] == "0.1.0"
    assert {done["checks"], done["failed"]} == {1, 0}

    text = File.read!(ctx.result_file)
    result = Extask.JSON.decode!(text)

    assert %{
             "status" => "ok",
             "tool" => "extask",
             "version" => "0.1.0",
             "command" => "selfcheck",
             "counts" => %{"checks" => 1, "failed" => 0},
             "outputs" => %{
               "runtime" => "Elixir " <> _,
               "uid" => uid,
               "scratch_dir" => scratch_dir,
               "config" => config
             }
           } = result

    assert is_integer(uid) and uid >= 0
    assert scratch_dir == ctx.scratch

    assert config == %{
             "EXTASK_DEMO_PASSWORD" => "[redacted]",
             "EXTASK_DEMO_TOKEN_FILE" => "/run/secrets/token",
             "EXTASK_LOG_LEVEL" => "debug"
           }

    # The env keys are written sorted (they decode into a map, so check the text).
    assert text =~ ~S("config":{"EXTASK_DEMO_PASSWORD":"[redacted]","EXTASK_DEMO_TOKEN_FILE")
    refute outcome.stderr <> text =~ @secret
    assert File.ls!(ctx.scratch) == []
  end

  test "--fail-with permanent and transient end with 65 and 75 after one error line", ctx do
    for {kind, code} <- [{"permanent", 65}, {"transient", 75}] do
      outcome =
        cli(["selfcheck", "--fail-with", kind, "--result-file", ctx.result_file], %{
          "EXTASK_SCRATCH_DIR" => ctx.scratch
        })

      assert outcome.code == code
      assert [error] = lines_at(outcome, "error")
      assert %{"error_kind" => ^kind, "exit_code" => ^code, "command" => "selfcheck"} = error
      assert error["error"] =~ "--fail-with #{kind}"
      refute File.exists?(ctx.result_file)
    end
  end

  test "--fail-with nothing-to-do writes a nothing_to_do result and exits 99", ctx do
    outcome =
      cli(["selfcheck", "--fail-with", "nothing-to-do", "--result-file", ctx.result_file], %{
        "EXTASK_SCRATCH_DIR" => ctx.scratch
      })

    assert outcome.code == 99
    assert lines_at(outcome, "error") == []
    assert [_started, %{"msg" => "nothing to do", "reason" => reason}] = outcome.lines
    assert reason =~ "nothing-to-do"
    assert %{"status" => "nothing_to_do"} = Extask.JSON.decode!(File.read!(ctx.result_file))
  end

  test "an unwritable scratch dir is permanent and names the directory", ctx do
    not_a_dir = Path.join(ctx.scratch, "file")
    File.write!(not_a_dir, "")

    outcome = cli(["selfcheck", "--scratch-dir", not_a_dir])
    assert outcome.code == 65
    assert [error] = lines_at(outcome, "error")

    assert error["error"] ==
             "expected scratch dir #{inspect(not_a_dir)} to be writable: not a directory"
  end

  test "--hold waits, then goes on as without: result with held_s", ctx do
    started = System.monotonic_time(:millisecond)

    outcome =
      cli(["selfcheck", "--hold", "1", "--result-file", ctx.result_file], %{
        "EXTASK_SCRATCH_DIR" => ctx.scratch
      })

    assert System.monotonic_time(:millisecond) - started >= 1000
    assert outcome.code == 0

    assert Enum.map(outcome.lines, &{&1["msg"], &1["seconds"]}) == [
             {"selfcheck started", nil},
             {"selfcheck holding", 1},
             {"selfcheck done", nil}
           ]

    assert %{"outputs" => %{"held_s" => 1}} = Extask.JSON.decode!(File.read!(ctx.result_file))
  end

  test "EXTASK_HOLD holds, then --fail-with permanent still ends with 65", ctx do
    outcome =
      cli(["selfcheck", "--fail-with", "permanent", "--result-file", ctx.result_file], %{
        "EXTASK_SCRATCH_DIR" => ctx.scratch,
        "EXTASK_HOLD" => "1"
      })

    assert outcome.code == 65

    assert ["selfcheck started", "selfcheck holding", "command failed"] ==
             Enum.map(outcome.lines, & &1["msg"])

    refute File.exists?(ctx.result_file)
  end

  test "no hold by default: held_s is 0 and nothing is logged about it", ctx do
    outcome = cli(["selfcheck", "--scratch-dir", ctx.scratch])
    assert outcome.code == 0
    assert %{"outputs" => %{"held_s" => 0}} = Extask.JSON.decode!(outcome.stdout)
    refute Enum.any?(outcome.lines, &(&1["msg"] =~ "hold"))
  end

  test "a bad --hold is a usage error naming the value and what was expected" do
    for bad <- ["-1", "abc", "86401", "1.5", ""] do
      outcome = cli(["selfcheck", "--hold", bad])
      assert outcome.code == 64, bad
      assert [%{"error_kind" => "usage", "error" => error}] = outcome.lines

      assert error ==
               "expected --hold to be an integer from 0 to 86400, got: #{inspect(bad)}"
    end

    outcome = cli(["selfcheck"], %{"EXTASK_HOLD" => "soon"})
    assert outcome.code == 64
    assert [%{"error" => "expected EXTASK_HOLD to be an integer" <> _}] = outcome.lines
  end

  test "hold/3 says how long is left every 5 seconds" do
    {:ok, device} = StringIO.open("")
    test = self()
    assert :ok = Selfcheck.hold(12, Log.new(:info, device), &send(test, {:slept, &1}))
    assert_received {:slept, 5000}
    assert_received {:slept, 5000}
    assert_received {:slept, 2000}
    refute_received {:slept, _}

    {_in, out} = StringIO.contents(device)
    lines = out |> String.split("\n", trim: true) |> Enum.map(&Extask.JSON.decode!/1)

    assert Enum.map(lines, &{&1["msg"], &1["seconds"], &1["remaining_s"]}) == [
             {"selfcheck holding", 12, nil},
             {"selfcheck held", nil, 7},
             {"selfcheck held", nil, 2}
           ]
  end

  test "hold/3 of 0 neither sleeps nor logs" do
    {:ok, device} = StringIO.open("")
    assert :ok = Selfcheck.hold(0, Log.new(:debug, device), fn _ -> flunk("slept") end)
    assert StringIO.contents(device) == {"", ""}
  end

  test "the effective uid is this process's" do
    {id, 0} = System.cmd("id", ["-u"])
    status = File.read!("/proc/self/status")
    assert Extask.Commands.Selfcheck.effective_uid(status) == String.to_integer(String.trim(id))
  end
end
