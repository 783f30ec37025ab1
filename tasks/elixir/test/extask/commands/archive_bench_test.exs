defmodule Extask.Commands.ArchiveBenchTest do
  @moduledoc """
  Throughput of `extask archive` against the local S3 server: 1,000 small objects in one
  manifest, archived at `--concurrency 8` and at `--concurrency 1` (each in a fresh bucket),
  printed as objects/s. Tagged `:bench` and excluded by default:

      mix test --only bench
  """
  use ExUnit.Case, async: false

  import ExtaskTest.Ingest

  alias S3ClientTest.S3Server

  @moduletag :bench
  @moduletag :s3
  @moduletag timeout: 600_000

  @objects 1000

  setup_all do
    S3Server.start_for_tests!()
  end

  test "archive throughput, concurrency 8 vs 1", %{settings: settings, config: config} do
    figures =
      for concurrency <- [8, 1] do
        bucket = bucket!(config, "bench#{concurrency}")

        raw =
          for i <- 1..@objects,
              do:
                {"raw/p#{rem(i, 4)}/obj-#{String.pad_leading("#{i}", 5, "0")}.json",
                 ~s({"i":#{i}})}

        _ = put_all!(config, bucket, raw, 16)
        env = env(settings, bucket)

        {discover_us, discover} =
          :timer.tc(fn -> cli(~w(discover --run-id bench --batch-size 1000), env) end)

        assert discover.code == 0
        [manifest] = discover.result["outputs"]["manifests"]

        {archive_us, run} =
          :timer.tc(fn ->
            cli(["archive", "--manifest", manifest, "--concurrency", "#{concurrency}"], env)
          end)

        assert run.code == 0, run.stderr
        assert run.result["counts"]["archived"] == @objects
        rate = @objects / (archive_us / 1_000_000)

        IO.puts(
          "archive bench: #{@objects} objects, concurrency #{concurrency}: " <>
            "#{Float.round(archive_us / 1_000_000, 2)} s, #{Float.round(rate, 1)} objects/s " <>
            "(discover #{Float.round(discover_us / 1_000, 0)} ms)"
        )

        {concurrency, rate}
      end

    [{8, fast}, {1, slow}] = figures
    IO.puts("archive bench: speed-up at concurrency 8: #{Float.round(fast / slow, 2)}x")
    assert fast > slow
  end
end
