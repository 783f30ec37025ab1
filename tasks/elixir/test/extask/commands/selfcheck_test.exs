defmodule Extask.Commands.SelfcheckTest do
  use ExUnit.Case, async: true
  doctest Extask.Commands.Selfcheck

  import ExtaskTest.Run

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

  test "the effective uid is this process's" do
    {id, 0} = System.cmd("id", ["-u"])
    status = File.read!("/proc/self/status")
    assert Extask.Commands.Selfcheck.effective_uid(status) == String.to_integer(String.trim(id))
  end
end
