defmodule Extask.Commands.DiscoverTest do
  @moduledoc "discover's flags and failures that need no S3 server (the rest: ingest_s3_test.exs)."
  use ExUnit.Case, async: true
  doctest Extask.Commands.Discover

  import ExtaskTest.Run

  @secret "discover-secret-4b1d-never-print-me"
  @env %{
    "EXTASK_BUCKET" => "polyetl",
    "EXTASK_S3_ENDPOINT_URL" => "http://127.0.0.1:1",
    "EXTASK_S3_ACCESS_KEY_ID" => "AKID",
    "EXTASK_S3_SECRET_ACCESS_KEY" => @secret
  }

  test "--help describes every flag with its env var" do
    run = cli(["discover", "--help"])
    assert run.code == 0

    for text <- ~w(--run-id EXTASK_PROVIDERS EXTASK_LIMIT EXTASK_BATCH_SIZE EXTASK_BUCKET
                   EXTASK_S3_ENDPOINT_URL EXTASK_S3_REGION EXTASK_S3_CA_FILE EXTASK_S3_PATH_STYLE
                   EXTASK_S3_ACCESS_KEY_ID EXTASK_S3_SECRET_ACCESS_KEY) do
      assert run.stdout =~ text
    end

    assert cli(["--help"]).stdout =~ ~r/discover\s+Write batch manifests/
  end

  test "bad usage exits 64 with one error line naming the flag or variable" do
    cases = [
      {["discover"], @env, "expected --run-id or EXTASK_RUN_ID to be set, got: none"},
      {["discover", "--run-id", "r", "--providers", "acme,a/b"], @env, ~S(got: "a/b")},
      {["discover", "--run-id", "r", "--batch-size", "0"], @env,
       ~S(expected --batch-size to be an integer from 1 to 1000, got: "0")},
      {["discover", "--run-id", "r"], Map.put(@env, "EXTASK_LIMIT", "ten"),
       ~S(expected EXTASK_LIMIT to be an integer >= 1, got: "ten")},
      {["discover", "--run-id", "r"], Map.delete(@env, "EXTASK_S3_SECRET_ACCESS_KEY"),
       "expected EXTASK_S3_SECRET_ACCESS_KEY (or EXTASK_S3_SECRET_ACCESS_KEY_FILE) to be set"}
    ]

    for {argv, env, expected} <- cases do
      run = cli(argv, env)
      assert run.code == 64, inspect(argv)
      assert [%{"error_kind" => "usage", "error" => error}] = run.lines
      assert error =~ expected
      refute run.stderr =~ @secret
    end
  end

  test "the DAG's env (empty provider list, limit, batch size) is accepted" do
    dag_env =
      Map.merge(@env, %{
        "EXTASK_PROVIDERS" => "",
        "EXTASK_LIMIT" => "1000",
        "EXTASK_BATCH_SIZE" => "50"
      })

    {:ok, {:run, config}} = Extask.Config.parse(["discover", "--run-id", "manual__x"], dag_env)
    assert config.opts == Map.merge(config.opts, %{providers: [], limit: 1000, batch_size: 50})
  end

  test "an unreachable S3 server is a transient failure (75); the secret never shows" do
    run = cli(["discover", "--run-id", "r", "--log-level", "debug"], @env)
    assert run.code == 75
    assert [%{"error_kind" => "transient", "error" => error}] = lines_at(run, "error")
    assert error =~ "ListObjectsV2"
    refute run.stderr =~ @secret
    assert run.stdout == ""
  end
end
