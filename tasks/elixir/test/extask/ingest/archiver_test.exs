defmodule Extask.Ingest.ArchiverTest do
  @moduledoc """
  `Extask.Ingest.Archiver` against the project's real S3 server (the one `S3_ENDPOINT_URL`
  names, else a private one started for this module): the states of its table, one object
  at a time, for the archive and for the quarantine of poison objects, and the archive
  stopped after each step, as a crash would, then finished.
  Every test works in its own bucket. The `archive` command's own behaviour (counts,
  refusals reported, exit codes) is tested in `Extask.Commands.IngestS3Test`.
  """
  use ExtaskTest.S3Case, async: true
  doctest Extask.Ingest.Archiver

  alias Extask.Ingest
  alias Extask.Ingest.{Archiver, Ledger}

  # Puts raw objects and returns them as a manifest lists them, with the plan archiving
  # them into archive/ of the same bucket.
  defp manifest_objects!(%{config: config, bucket: bucket}, raw) do
    put = put_all!(config, bucket, raw)

    objects =
      for {key, _body} <- raw do
        {size, etag} = put[key]
        %{key: key, size: size, etag: etag}
      end

    plan = %Archiver{
      s3: config,
      bucket: bucket,
      archive_bucket: bucket,
      archive_prefix: "archive/",
      run_id: "r1",
      manifest_key: "manifests/r1/batch-0001.json"
    }

    {plan, objects}
  end

  test "an object as in the manifest is copied, verified, recorded, deleted; then already archived",
       ctx do
    %{config: config, bucket: bucket} = ctx
    {plan, [object]} = manifest_objects!(ctx, raw_objects([{"acme", 1}]))

    assert {:archived, ^object} = Archiver.archive(plan, object)

    state = snapshot(config, bucket)
    refute Map.has_key?(state, object.key)
    archived = Archiver.archive_key(plan, object.key)
    assert archived == Ingest.archive_key("archive/", object.key)
    assert state[archived] == %{size: object.size, etag: object.etag}

    assert {:ok, %Ledger{} = marker} = Ledger.read(config, bucket, object.key)

    assert Map.take(marker, [:key, :size, :etag, :archive_bucket, :archive_key, :archive_etag]) ==
             %{
               key: object.key,
               size: object.size,
               etag: object.etag,
               archive_bucket: bucket,
               archive_key: archived,
               archive_etag: object.etag
             }

    assert {marker.run_id, marker.manifest} == {"r1", "manifests/r1/batch-0001.json"}

    # Gone, with a marker of this very version: nothing left to do.
    assert {:already_archived, ^object} = Archiver.archive(plan, object)
    assert snapshot(config, bucket) == state
  end

  test "a changed original, or a foreign object at the archive key, is refused and left in place",
       ctx do
    %{config: config, bucket: bucket} = ctx
    {plan, [changed, conflict]} = manifest_objects!(ctx, raw_objects([{"acme", 2}]))

    _ = put_all!(config, bucket, [{changed.key, "new content delivered after discover"}])
    foreign = Archiver.archive_key(plan, conflict.key)
    _ = put_all!(config, bucket, [{foreign, "someone else's object"}])
    before = snapshot(config, bucket)

    assert {:refused, ^changed, :changed, detail} = Archiver.archive(plan, changed)
    assert detail =~ "the original changed since discover"
    assert {:refused, ^conflict, :archive_conflict, detail} = Archiver.archive(plan, conflict)
    assert detail =~ "not overwritten"

    assert snapshot(config, bucket) == before
    assert read!(config, bucket, foreign) == "someone else's object"
    assert ledger!(config, bucket) == %{}
  end

  test "an original gone: archived from a verified copy, else refused (missing, ledger mismatch)",
       ctx do
    %{config: config, bucket: bucket} = ctx
    raw = raw_objects([{"acme", 1}, {"opta", 1}, {"stats", 1}])
    {plan, [copied, missing, mismatched]} = manifest_objects!(ctx, raw)

    # Copied, then the original went (a crash, then someone's delete): the copy proves it.
    assert {:stopped, :copy, ^copied} = Archiver.archive(plan, copied, stop_after: :copy)
    :ok = S3Client.delete_object(config, bucket, copied.key)
    assert {:archived, ^copied} = Archiver.archive(plan, copied)
    assert {:ok, %Ledger{etag: etag}} = Ledger.read(config, bucket, copied.key)
    assert etag == copied.etag

    # Gone with no copy and no marker: nothing proves it was archived.
    :ok = S3Client.delete_object(config, bucket, missing.key)
    assert {:refused, ^missing, :missing, _detail} = Archiver.archive(plan, missing)

    # Gone, and the ledger records another version of the key.
    :ok = S3Client.delete_object(config, bucket, mismatched.key)

    other = %Ledger{
      key: mismatched.key,
      size: mismatched.size,
      etag: "0123456789abcdef0123456789abcdef",
      archive_bucket: bucket,
      archive_key: Archiver.archive_key(plan, mismatched.key)
    }

    :ok = Ledger.write(config, bucket, other)

    assert {:refused, ^mismatched, :ledger_mismatch, detail} = Archiver.archive(plan, mismatched)

    assert detail =~ "0123456789abcdef0123456789abcdef"
  end

  describe "poison objects (a quarantine sidecar with the manifest's ETag)" do
    test "go to quarantine/_objects/<rest> in the bucket itself; marker quarantined; sidecar kept",
         ctx do
      %{config: config, bucket: bucket} = ctx
      {plan, [poison, fine]} = manifest_objects!(ctx, raw_objects([{"acme", 2}]))
      # The archive elsewhere, with a storage class: quarantine ignores both.
      cold = bucket!(config, "cold")
      plan = %{plan | archive_bucket: cold, storage_class: "GLACIER"}
      :ok = sidecar!(config, bucket, poison, "corrupt_gzip", plan.manifest_key)
      # A stale sidecar of another version of the other key: ignored.
      :ok =
        sidecar!(config, bucket, %{fine | etag: "0123456789abcdef0123456789abcdef"}, "bad_header")

      assert {:quarantined, ^poison, "corrupt_gzip"} = Archiver.archive(plan, poison)
      assert {:archived, ^fine} = Archiver.archive(plan, fine)

      quarantined = Ingest.quarantine_key(poison.key)

      assert quarantined ==
               "quarantine/_objects/" <> String.replace_prefix(poison.key, "raw/", "")

      state = snapshot(config, bucket)
      refute Map.has_key?(state, poison.key)
      assert state[quarantined] == %{size: poison.size, etag: poison.etag}
      assert Map.has_key?(state, Ingest.sidecar_key(poison.key))
      assert keys_under(snapshot(config, cold), "") == [Archiver.archive_key(plan, fine.key)]
      refute Map.has_key?(state, Archiver.archive_key(plan, poison.key))

      assert {:ok, %Ledger{} = marker} = Ledger.read(config, bucket, poison.key)

      assert Map.take(marker, [:archive_bucket, :archive_key, :archive_etag, :outcome, :reason]) ==
               %{
                 archive_bucket: bucket,
                 archive_key: quarantined,
                 archive_etag: poison.etag,
                 outcome: :quarantined,
                 reason: "corrupt_gzip"
               }

      assert {:ok, %Ledger{outcome: :archived, reason: nil, archive_bucket: ^cold}} =
               Ledger.read(config, bucket, fine.key)

      # Done is done, whichever the destination.
      assert {:already_archived, ^poison} = Archiver.archive(plan, poison)
      assert {:already_archived, ^fine} = Archiver.archive(plan, fine)
    end

    test "the crash table holds for the quarantine destination too", ctx do
      %{config: config, bucket: bucket} = ctx
      raw = raw_objects([{"acme", 1}, {"opta", 1}, {"stats", 1}, {"betco", 1}])
      {plan, objects} = manifest_objects!(ctx, raw)
      [copied, recorded, gone, conflict] = objects
      for object <- objects, do: :ok = sidecar!(config, bucket, object, "bad_header")

      assert {:stopped, :copy, ^copied} = Archiver.archive(plan, copied, stop_after: :copy)

      assert {:stopped, :record, ^recorded} =
               Archiver.archive(plan, recorded, stop_after: :record)

      assert {:stopped, :copy, ^gone} = Archiver.archive(plan, gone, stop_after: :copy)
      assert_no_loss(config, bucket, objects)

      for object <- [copied, recorded, gone] do
        assert snapshot(config, bucket)[Ingest.quarantine_key(object.key)] ==
                 %{size: object.size, etag: object.etag}
      end

      # Original gone after a verified quarantine copy: recorded from the copy.
      :ok = S3Client.delete_object(config, bucket, gone.key)
      # Someone else's object at a quarantine key: never overwritten.
      _ = put_all!(config, bucket, [{Ingest.quarantine_key(conflict.key), "not this one"}])

      assert {:quarantined, ^copied, "bad_header"} = Archiver.archive(plan, copied)
      assert {:quarantined, ^recorded, "bad_header"} = Archiver.archive(plan, recorded)
      assert {:quarantined, ^gone, "bad_header"} = Archiver.archive(plan, gone)

      assert {:refused, ^conflict, :archive_conflict, detail} = Archiver.archive(plan, conflict)
      assert detail =~ Ingest.quarantine_key(conflict.key)

      assert_no_loss(config, bucket, objects)
      ledger = ledger!(config, bucket)
      assert Map.keys(ledger) |> Enum.sort() == Enum.sort([copied.key, recorded.key, gone.key])
      assert Enum.all?(ledger, fn {_, marker} -> marker.outcome == :quarantined end)
      assert keys_under(snapshot(config, bucket), "archive/") == []
    end
  end

  describe "crash between copy and delete" do
    setup :crash_fixture

    test "stopped after each step, a re-run finishes with no loss and no duplicate", ctx do
      %{config: config, bucket: bucket, env: env, manifest: manifest, objects: objects} = ctx

      plan = %Archiver{
        s3: config,
        bucket: bucket,
        archive_bucket: bucket,
        archive_prefix: "archive/",
        run_id: "crash",
        manifest_key: manifest
      }

      {copied, rest} = Enum.split(objects, 4)
      {recorded, untouched} = Enum.split(rest, 4)

      for object <- copied do
        assert {:stopped, :copy, ^object} = Archiver.archive(plan, object, stop_after: :copy)
        assert_no_loss(config, bucket, objects)
      end

      for object <- recorded do
        assert {:stopped, :record, ^object} = Archiver.archive(plan, object, stop_after: :record)
        assert_no_loss(config, bucket, objects)
      end

      state = snapshot(config, bucket)
      assert Enum.all?(objects, &Map.has_key?(state, &1.key))
      assert length(keys_under(state, "archive/")) == 8
      assert length(keys_under(state, "ledger/ingested/")) == 4

      # A copied object whose original someone removed: the verified copy proves it archived.
      [gone | _] = copied
      :ok = S3Client.delete_object(config, bucket, gone.key)

      # Running the copy step again is harmless: the verified copy is kept, not redone.
      [again | _] = tl(copied)
      assert {:stopped, :copy, _} = Archiver.archive(plan, again, stop_after: :copy)

      run = cli(["archive", "--manifest", manifest, "--concurrency", "4"], env)
      assert run.code == 0, run.stderr
      assert run.result["counts"]["archived"] == length(objects)
      assert run.result["counts"]["refused"] == 0
      assert_no_loss(config, bucket, objects)
      assert length(untouched) == 4

      assert_clean_final_state(ctx)
    end
  end
end
