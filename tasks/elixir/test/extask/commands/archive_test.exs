defmodule Extask.Commands.ArchiveTest do
  @moduledoc "archive's flags and failures that need no S3 server (the rest: ingest_s3_test.exs)."
  use ExUnit.Case, async: true
  doctest Extask.Commands.Archive

  import ExtaskTest.Run

  @secret "archive-secret-4b1d-never-print-me"
  @env %{
    "EXTASK_BUCKET" => "polyetl",
    "EXTASK_S3_ENDPOINT_URL" => "http://127.0.0.1:1",
    "EXTASK_S3_ACCESS_KEY_ID" => "AKID",
    "EXTASK_S3_SECRET_ACCESS_KEY" => @secret
  }

  test "--help describes every flag with its env var" do
    run = cli(["archive", "--help"])
    assert run.code == 0

    for text <- ~w(--manifest EXTASK_ARCHIVE_PREFIX EXTASK_ARCHIVE_BUCKET EXTASK_STORAGE_CLASS
                   EXTASK_CONCURRENCY EXTASK_OBJECT_TIMEOUT EXTASK_BUCKET EXTASK_S3_ENDPOINT_URL
                   EXTASK_S3_SECRET_ACCESS_KEY) do
      assert run.stdout =~ text
    end

    assert cli(["--help"]).stdout =~ ~r/archive\s+Copy a manifest/
  end

  test "bad usage exits 64 with one error line naming the flag or variable" do
    m = ["archive", "--manifest", "manifests/r/batch-0001.json"]

    cases = [
      {["archive"], "expected --manifest or EXTASK_MANIFEST to be set, got: none"},
      {m ++ ["--concurrency", "0"], ~S(expected --concurrency to be an integer from 1 to 64)},
      {m ++ ["--storage-class", "glacier"], ~S(expected --storage-class to be a storage class)},
      {m ++ ["--archive-prefix", ""], "expected --archive-prefix outside raw/"},
      {m ++ ["--archive-prefix", "manifests/x"], "expected --archive-prefix outside raw/"},
      {m ++ ["--archive-bucket", "Cold_Bucket"],
       ~S(expected --archive-bucket to be an S3 bucket name)}
    ]

    for {argv, expected} <- cases do
      run = cli(argv, @env)
      assert run.code == 64, inspect(argv)
      assert [%{"error_kind" => "usage", "error" => error}] = run.lines
      assert error =~ expected
    end
  end

  test "the DAG's env (prefix, storage class) is accepted; an empty storage class is none" do
    env = Map.merge(@env, %{"EXTASK_ARCHIVE_PREFIX" => "archive/", "EXTASK_STORAGE_CLASS" => ""})
    {:ok, {:run, config}} = Extask.Config.parse(["archive", "--manifest", "m"], env)
    assert {config.opts.archive_prefix, config.opts.storage_class} == {"archive/", ""}
  end

  test "an object past --object-timeout fails alone, transiently (75), with one error line" do
    manifest =
      ~S({"run_id":"r","batch":1,"objects":[{"key":"raw/acme/a.csv","size":1,"etag":"e"}]})

    # The manifest is served, then every request hangs (the client's own timeout is 120 s).
    port = S3ClientTest.StubServer.start!([{200, [], manifest}, :hang])
    env = Map.put(@env, "EXTASK_S3_ENDPOINT_URL", "http://127.0.0.1:#{port}")

    {elapsed_us, run} =
      :timer.tc(fn ->
        cli(
          ["archive", "--manifest", "manifests/r/batch-0001.json", "--object-timeout", "1"],
          env
        )
      end)

    assert run.code == 75, run.stderr
    assert elapsed_us < 10_000_000
    assert [%{"error_kind" => "transient", "error" => error}] = lines_at(run, "error")
    assert error =~ "archiving raw/acme/a.csv took longer than 1 s"

    assert [%{"key" => "raw/acme/a.csv"}] =
             Enum.filter(run.lines, &(&1["msg"] == "object failed"))
  end

  test "an unreachable S3 server is a transient failure (75)" do
    run = cli(["archive", "--manifest", "manifests/r/batch-0001.json"], @env)
    assert run.code == 75
    assert [%{"error_kind" => "transient", "error" => error}] = lines_at(run, "error")
    assert error =~ "GetObject"
    refute run.stderr =~ @secret
  end
end
