defmodule Extask.Commands.RequeueTest do
  @moduledoc "requeue's flags and failures that need no S3 server (the rest: ingest_s3_test.exs)."
  use ExUnit.Case, async: true
  doctest Extask.Commands.Requeue

  import ExtaskTest.Run

  @secret "requeue-secret-4b1d-never-print-me"
  @env %{
    "EXTASK_BUCKET" => "polyetl",
    "EXTASK_S3_ENDPOINT_URL" => "http://127.0.0.1:1",
    "EXTASK_S3_ACCESS_KEY_ID" => "AKID",
    "EXTASK_S3_SECRET_ACCESS_KEY" => @secret
  }

  test "--help describes --object (repeatable) and the S3 flags with their env vars" do
    run = cli(["requeue", "--help"])
    assert run.code == 0
    assert run.stdout =~ "--object RAW_KEY"
    assert run.stdout =~ "repeatable; env EXTASK_OBJECT, one per line"

    for text <- ~w(EXTASK_BUCKET EXTASK_S3_ENDPOINT_URL EXTASK_S3_SECRET_ACCESS_KEY) do
      assert run.stdout =~ text
    end

    assert cli(["--help"]).stdout =~ ~r/requeue\s+Put quarantined raw objects back/
  end

  test "bad usage exits 64 with one error line naming the flag or the key" do
    cases = [
      {["requeue"], "expected --object or EXTASK_OBJECT to be set, got: none"},
      {["requeue", "--object"], "expected a value after --object, got: none"},
      {["requeue", "--object", "raw/acme/a.csv", "--object", "archive/raw/acme/a.csv"],
       ~S[expected --object to be a raw object key (raw/<provider>/…), got: "archive/raw/acme/a.csv"]},
      {["requeue", "--object", "raw/top.csv"], ~S(got: "raw/top.csv")}
    ]

    for {argv, expected} <- cases do
      run = cli(argv, @env)
      assert run.code == 64, inspect(argv)
      assert [%{"error_kind" => "usage", "error" => error}] = run.lines
      assert error =~ expected
      refute run.stderr =~ @secret
    end
  end

  test "keys from EXTASK_OBJECT, one per line; an unreachable S3 server is transient (75)" do
    env = Map.put(@env, "EXTASK_OBJECT", "raw/acme/a,1.csv\nraw/acme/b.csv\n")
    {:ok, {:run, config}} = Extask.Config.parse(["requeue"], env)
    assert config.opts.object == ["raw/acme/a,1.csv", "raw/acme/b.csv"]

    run = cli(["requeue"], env)
    assert run.code == 75
    assert [%{"error_kind" => "transient", "error" => error}] = lines_at(run, "error")
    assert error =~ "2 of 2 keys failed"
    assert error =~ "GetObject"
    refute run.stderr =~ @secret
    assert run.stdout == ""
  end
end
