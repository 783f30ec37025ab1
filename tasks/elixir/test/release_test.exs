defmodule Extask.ReleaseTest do
  @moduledoc """
  Runs the real `extask` release, as the image does, in temp dirs.

  The release is built once per test run (`ExtaskTest.Release`); every test runs
  `bin/extask-cli` as an OS process with a clean environment, capturing stdout and stderr
  apart. Tagged `:release`: `mix test --exclude release` skips them.
  """
  use ExUnit.Case, async: true

  import ExtaskTest.Run, only: [tmp_dir!: 1]

  @moduletag :release
  @moduletag timeout: 120_000

  @secret "pw-release-4b1d-never-print-me"

  setup_all do
    bin = ExtaskTest.Release.bin!()
    %{bin: bin, root: bin |> Path.dirname() |> Path.dirname()}
  end

  defp extask(bin, args, env \\ %{}), do: ExtaskTest.Release.run(bin, args, env)

  test "--help prints usage on stdout and exits 0", %{bin: bin} do
    run = extask(bin, ["--help"])
    assert {run.code, run.stderr} == {0, ""}
    assert run.stdout =~ "extask <command> [flags]"
    assert extask(bin, ["selfcheck", "--help"]).stdout =~ "--fail-with KIND"
  end

  test "--version", %{bin: bin} do
    assert %{code: 0, stdout: "extask 0.1.0\n", stderr: ""} = extask(bin, ["--version"])
  end

  test "a bad flag exits 64 with one JSON error line naming it", %{bin: bin} do
    run = extask(bin, ["selfcheck", "--no-such-flag"])
    assert {run.code, run.stdout} == {64, ""}
    assert [%{"level" => "error", "error_kind" => "usage", "exit_code" => 64} = line] = run.lines
    assert line["error"] =~ "--no-such-flag"
  end

  test "arguments reach the CLI untouched, even ones the VM or Elixir would take", %{bin: bin} do
    for arg <- ["-extra", "--eval", "-noshell", "--cookie", "-s"] do
      run = extask(bin, ["selfcheck", arg])
      assert run.code == 64, arg
      assert [%{"error" => error}] = run.lines
      assert error =~ inspect(arg), arg
    end
  end

  test "selfcheck writes the agreed result; logs are JSON; the secret never shows", %{bin: bin} do
    scratch = tmp_dir!("scratch") |> Path.join("é")
    File.mkdir_p!(scratch)
    result_file = Path.join([tmp_dir!("xcom"), "airflow", "xcom", "return.json"])

    env = %{
      "EXTASK_DEMO_PASSWORD" => @secret,
      "EXTASK_LOG_LEVEL" => "debug",
      "EXTASK_RESULT_FILE" => result_file
    }

    run = extask(bin, ["selfcheck", "--scratch-dir", scratch], env)
    assert {run.code, run.stdout} == {0, ""}, run.stderr

    assert [_ | _] = run.lines

    for line <- run.lines do
      assert %{"ts" => ts, "level" => level, "msg" => msg, "tool" => "extask"} = line
      assert ts =~ ~r/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/
      assert level in ~w(debug info warn error)
      assert is_binary(msg)
    end

    assert Enum.map(run.lines, & &1["msg"]) ==
             ["selfcheck started", "scratch dir writable", "selfcheck done"]

    text = File.read!(result_file)

    assert %{
             "status" => "ok",
             "tool" => "extask",
             "version" => "0.1.0",
             "command" => "selfcheck",
             "counts" => %{"checks" => 1, "failed" => 0},
             "outputs" => %{
               "runtime" => runtime,
               "uid" => uid,
               "scratch_dir" => ^scratch,
               "config" => %{
                 "EXTASK_DEMO_PASSWORD" => "[redacted]",
                 "EXTASK_LOG_LEVEL" => "debug",
                 "EXTASK_RESULT_FILE" => ^result_file
               }
             }
           } = Extask.JSON.decode!(text)

    assert runtime == "Elixir #{System.version()} / OTP #{System.otp_release()}"
    {id, 0} = System.cmd("id", ["-u"])
    assert uid == String.to_integer(String.trim(id))
    refute run.stdout <> run.stderr <> text =~ @secret
    assert File.ls!(Path.dirname(result_file)) == ["return.json"]
  end

  test "without a result file the result is one JSON line on stdout", %{bin: bin} do
    run = extask(bin, ["selfcheck"], %{"EXTASK_SCRATCH_DIR" => tmp_dir!("scratch")})
    assert run.code == 0
    assert [line] = String.split(run.stdout, "\n", trim: true)
    assert %{"status" => "ok"} = Extask.JSON.decode!(line)
  end

  test "--fail-with gives 65, 75 and 99", %{bin: bin} do
    for {kind, code} <- [{"permanent", 65}, {"transient", 75}, {"nothing-to-do", 99}] do
      result_file = Path.join(tmp_dir!("xcom"), "return.json")
      env = %{"EXTASK_SCRATCH_DIR" => tmp_dir!("scratch"), "EXTASK_RESULT_FILE" => result_file}
      run = extask(bin, ["selfcheck", "--fail-with", kind], env)
      assert run.code == code, kind

      if code == 99 do
        assert %{"status" => "nothing_to_do"} = Extask.JSON.decode!(File.read!(result_file))
      else
        assert [%{"exit_code" => ^code}] = Enum.filter(run.lines, &(&1["level"] == "error"))
        refute File.exists?(result_file)
      end
    end
  end

  @tag :s3
  test "discover then archive against the real S3 server, S3 settings from env", %{bin: bin} do
    %{settings: settings, config: config} = S3ClientTest.S3Server.start_for_tests!()
    bucket = ExtaskTest.Ingest.bucket!(config, "release")
    raw = for i <- 1..5, do: {"raw/acme/2026/e-#{i}.ndjson", ~s({"event":#{i}}\n)}
    _ = ExtaskTest.Ingest.put_all!(config, bucket, raw)

    xcom = tmp_dir!("xcom")

    env =
      ExtaskTest.Ingest.env(settings, bucket, %{
        "EXTASK_SCRATCH_DIR" => tmp_dir!("scratch"),
        "EXTASK_RESULT_FILE" => Path.join(xcom, "return.json"),
        "EXTASK_PROVIDERS" => "",
        "EXTASK_LIMIT" => "1000",
        "EXTASK_BATCH_SIZE" => "2"
      })

    discover = extask(bin, ["discover", "--run-id", "manual__2026-11-23T06:37:30+00:00"], env)
    assert {discover.code, discover.stdout} == {0, ""}, discover.stderr
    result = Extask.JSON.decode!(File.read!(Path.join(xcom, "return.json")))
    assert %{"status" => "ok", "counts" => %{"objects" => 5, "batches" => 3}} = result
    manifests = result["outputs"]["manifests"]
    assert length(manifests) == 3

    archive_env =
      Map.merge(env, %{"EXTASK_ARCHIVE_PREFIX" => "archive/", "EXTASK_STORAGE_CLASS" => "GLACIER"})

    for manifest <- manifests do
      run = extask(bin, ["archive", "--manifest", manifest], archive_env)
      assert {run.code, run.stdout} == {0, ""}, run.stderr

      assert %{"status" => "ok", "counts" => %{"refused" => 0}} =
               Extask.JSON.decode!(File.read!(Path.join(xcom, "return.json")))

      assert Enum.all?(run.lines, &(&1["level"] in ["info", "debug"]))
      refute run.stderr =~ settings.secret_access_key
    end

    state = ExtaskTest.Ingest.snapshot(config, bucket)
    assert ExtaskTest.Ingest.keys_under(state, "raw/") == []
    assert length(ExtaskTest.Ingest.keys_under(state, "archive/raw/acme/")) == 5
    assert length(ExtaskTest.Ingest.keys_under(state, "ledger/ingested/raw/acme/")) == 5

    nothing = extask(bin, ["discover", "--run-id", "later"], env)
    assert nothing.code == 99, nothing.stderr
    refute discover.stderr <> nothing.stderr =~ settings.secret_access_key
  end

  test "SIGTERM stops a hold at once: one terminated line, exit 143, no result", %{bin: bin} do
    scratch = tmp_dir!("scratch")
    result_file = Path.join(tmp_dir!("xcom"), "return.json")
    args = ["selfcheck", "--hold", "60", "--scratch-dir", scratch, "--result-file", result_file]

    port =
      Port.open({:spawn_executable, bin}, [
        :binary,
        :exit_status,
        :stderr_to_stdout,
        {:line, 4096},
        args: args,
        env: [{~c"LANG", ~c"C"}]
      ])

    {:os_pid, os_pid} = Port.info(port, :os_pid)
    # Up to the holding line: the handler is installed by then.
    before = receive_lines(port, &(&1["msg"] == "selfcheck holding"))
    assert [%{"msg" => "selfcheck started"} | _] = before
    sent = System.monotonic_time(:millisecond)
    {_, 0} = System.cmd("kill", ["-TERM", Integer.to_string(os_pid)])

    assert [%{"level" => "warn", "msg" => "terminated", "signal" => "SIGTERM"}] =
             receive_lines(port, &(&1["msg"] == "terminated"))

    assert_receive {^port, {:exit_status, 143}}, 5_000
    assert System.monotonic_time(:millisecond) - sent < 5_000
    refute File.exists?(result_file)
    assert File.ls!(Path.dirname(result_file)) == []
  end

  test "the boot takes SIGTERM over right after the kernel, before the other apps start", ctx do
    [script] = Path.wildcard(Path.join([ctx.root, "releases", "*", "start.script"]))
    {:ok, [{:script, _name, steps} = term]} = :file.consult(script)
    # The VM boots from the .boot file: the same term, binary.
    assert :erlang.binary_to_term(File.read!(Path.rootname(script) <> ".boot")) == term
    kernel = {:apply, {:application, :start_boot, [:kernel, :permanent]}}

    assert [
             ^kernel,
             {:apply, {Extask.Signals, :exit_on_sigterm, []}},
             {:apply, {:application, :start_boot, [:stdlib, _]}} | _
           ] = Enum.drop_while(steps, &(&1 != kernel))
  end

  # The JSON lines of a port up to and including the first one `last?` accepts.
  defp receive_lines(port, last?) do
    receive do
      {^port, {:data, {:eol, text}}} ->
        line = Extask.JSON.decode!(text)
        if last?.(line), do: [line], else: [line | receive_lines(port, last?)]
    after
      10_000 -> flunk("no such line within 10 s")
    end
  end

  test "an unwritable scratch dir exits 65 naming the dir", %{bin: bin} do
    not_a_dir = Path.join(tmp_dir!("scratch"), "file")
    File.write!(not_a_dir, "")
    run = extask(bin, ["selfcheck", "--scratch-dir", not_a_dir])
    assert run.code == 65
    assert [%{"error_kind" => "permanent", "error" => error}] = tl(run.lines)
    assert error =~ inspect(not_a_dir)
  end
end
