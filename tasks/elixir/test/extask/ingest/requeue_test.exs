defmodule Extask.Ingest.RequeueTest do
  @moduledoc """
  `Extask.Ingest.Requeue` against the project's real S3 server: a quarantined object put
  back, the requeue stopped after each of its steps and finished by a re-run, and the keys
  it refuses (not quarantined, or a state it must not change). Objects are quarantined the
  real way: discover, the transform's sidecar (written as the contract has it), archive.
  The `requeue` command's own behaviour: `Extask.Commands.IngestS3Test`.
  """
  use ExtaskTest.S3Case, async: true

  alias Extask.Ingest
  alias Extask.Ingest.{Archiver, Ledger, Requeue}

  # `poison` raw objects quarantined by archive and `fine` ones archived, all discovered
  # first (so each has its arrival marker).
  defp quarantined!(ctx, poison, fine) do
    %{config: config, bucket: bucket} = ctx
    raw = raw_objects(Enum.reject([{"acme", poison}, {"opta", fine}], &(elem(&1, 1) == 0)))
    _ = put_all!(config, bucket, raw)
    run = cli(~w(discover --run-id q --batch-size 100), env(ctx.settings, bucket))
    assert run.code == 0, run.stderr
    [manifest] = run.result["outputs"]["manifests"]
    objects = manifest!(config, bucket, manifest).objects
    {poisoned, archived} = Enum.split_with(objects, &String.starts_with?(&1.key, "raw/acme/"))
    for object <- poisoned, do: :ok = sidecar!(config, bucket, object, "corrupt_gzip", manifest)

    archive = cli(["archive", "--manifest", manifest], env(ctx.settings, bucket))
    assert archive.code == 0, archive.stderr
    assert archive.result["counts"]["quarantined"] == poison

    %{
      plan: %Requeue{s3: config, bucket: bucket},
      poison: poisoned,
      fine: archived,
      bodies: Map.new(raw),
      arrivals: arrivals!(config, bucket)
    }
  end

  defp assert_requeued(ctx, fixture, object) do
    %{config: config, bucket: bucket} = ctx
    state = snapshot(config, bucket)
    assert state[object.key] == %{size: object.size, etag: object.etag}
    assert read!(config, bucket, object.key) == fixture.bodies[object.key]
    refute Map.has_key?(state, Ingest.ledger_key(object.key))
    refute Map.has_key?(state, Ingest.sidecar_key(object.key))
    refute Map.has_key?(state, Ingest.quarantine_key(object.key))
    assert arrivals!(config, bucket)[object.key] == fixture.arrivals[object.key]
  end

  test "a quarantined object is put back under raw/: original bytes; marker, sidecar, copy gone",
       ctx do
    fixture = quarantined!(ctx, 1, 1)
    [object] = fixture.poison

    assert {:requeued, key, info} = Requeue.requeue(fixture.plan, object.key)
    assert key == object.key

    assert info == %{size: object.size, etag: object.etag, reason: "corrupt_gzip", resumed: false}

    assert_requeued(ctx, fixture, object)
    # The archived object is untouched.
    [fine] = fixture.fine

    ledger = ledger!(ctx.config, ctx.bucket)
    assert Map.keys(ledger) == [fine.key]
    assert ledger[fine.key].outcome == :archived
  end

  test "stopped after each step, a re-run finishes; no step loses the bytes", ctx do
    %{config: config, bucket: bucket} = ctx
    fixture = quarantined!(ctx, 4, 0)
    steps = [:restore, :unrecord, :sidecar, :discard]

    for {step, object} <- Enum.zip(steps, fixture.poison) do
      assert {:stopped, ^step, _} = Requeue.requeue(fixture.plan, object.key, stop_after: step)
      assert_no_loss(config, bucket, [object])
      state = snapshot(config, bucket)
      assert state[object.key] == %{size: object.size, etag: object.etag}
      assert Map.has_key?(state, Ingest.ledger_key(object.key)) == (step == :restore)
      assert Map.has_key?(state, Ingest.sidecar_key(object.key)) == step in [:restore, :unrecord]
      assert Map.has_key?(state, Ingest.quarantine_key(object.key)) == (step != :discard)
    end

    for {step, object} <- Enum.zip(steps, fixture.poison) do
      case step do
        :discard ->
          # It was done: nothing quarantined any more, which the re-run says.
          assert {:refused, _, detail} = Requeue.requeue(fixture.plan, object.key)
          assert detail =~ "not quarantined: the ledger has no marker for it"

        _ ->
          assert {:requeued, _, %{resumed: true}} = Requeue.requeue(fixture.plan, object.key)
      end

      assert_requeued(ctx, fixture, object)
    end

    assert keys_under(snapshot(config, bucket), "quarantine/") == []
    assert ledger!(config, bucket) == %{}
  end

  test "keys that are not quarantined, or whose state must not change, are refused as they are",
       ctx do
    %{config: config, bucket: bucket} = ctx
    fixture = quarantined!(ctx, 1, 1)
    [poison] = fixture.poison
    [fine] = fixture.fine

    # Archived normally: the ledger says where.
    assert {:refused, key, detail} = Requeue.requeue(fixture.plan, fine.key)
    assert key == fine.key

    assert detail ==
             "not quarantined: the ledger records it archived to " <>
               "s3://#{bucket}/archive/#{fine.key} by run q at " <>
               ledger!(config, bucket)[fine.key].ingested_at

    # Never seen; found poison but not yet moved by archive.
    assert {:refused, _, detail} = Requeue.requeue(fixture.plan, "raw/acme/never.csv")
    assert detail =~ "the ledger has no marker for it and there is no quarantine copy"

    pending = %{key: "raw/acme/pending.csv", size: 3, etag: "900150983cd24fb0d6963f7d28e17f72"}
    _ = put_all!(config, bucket, [{pending.key, "abc"}])
    :ok = sidecar!(config, bucket, pending, "bad_header")
    assert {:refused, _, detail} = Requeue.requeue(fixture.plan, pending.key)
    assert detail =~ "found it poison (bad_header) but archive has not moved it"

    # A new delivery under the quarantined key: never overwritten, nothing changes.
    _ = put_all!(config, bucket, [{poison.key, "a new delivery"}])
    before = snapshot(config, bucket)
    assert {:refused, _, detail} = Requeue.requeue(fixture.plan, poison.key)
    assert detail =~ "#{poison.key} holds another object"
    assert detail =~ "the ledger records it quarantined (corrupt_gzip)"
    assert snapshot(config, bucket) == before

    # And S3 failures come back as such.
    plan = %{fixture.plan | bucket: bucket <> "-missing"}
    assert {:failed, _, %S3Client.Error{status: 404}} = Requeue.requeue(plan, poison.key)
  end

  test "a multipart original: put back from its copy, whose ETag is the marker's archive_etag",
       ctx do
    %{config: config, bucket: bucket, settings: settings} = ctx
    key = "raw/big/feed.ndjson.gz"
    parts = [:crypto.strong_rand_bytes(5 * 1024 * 1024), :crypto.strong_rand_bytes(10)]
    etag = S3ClientTest.S3Server.multipart_upload!(config, bucket, key, parts)
    assert Archiver.multipart_etag?(etag)
    env = env(settings, bucket)
    [manifest] = cli(~w(discover --run-id big), env).result["outputs"]["manifests"]
    [object] = manifest!(config, bucket, manifest).objects
    :ok = sidecar!(config, bucket, object, "corrupt_gzip", manifest)
    assert cli(["archive", "--manifest", manifest], env).result["counts"]["quarantined"] == 1

    md5 = :crypto.hash(:md5, parts) |> Base.encode16(case: :lower)
    assert %{^key => %Ledger{etag: ^etag, archive_etag: ^md5}} = ledger!(config, bucket)

    plan = %Requeue{s3: config, bucket: bucket}
    assert {:requeued, ^key, %{etag: ^md5, resumed: false}} = Requeue.requeue(plan, key)
    assert read!(config, bucket, key) == IO.iodata_to_binary(parts)
    assert keys_under(snapshot(config, bucket), "quarantine/") == []
  end
end
