defmodule Extask.Commands.IngestS3Test do
  @moduledoc """
  `extask discover` and `extask archive` against the project's real S3 server (the one
  `S3_ENDPOINT_URL` names, else a private one started for this module): the round trip,
  listing pagination, a crash injected into the archive command, objects that change
  between discover and archive, and multipart originals. Every test works in its own
  bucket. The archiver's own states and step-by-step crashes are tested in
  `Extask.Ingest.ArchiverTest`, the ledger in `Extask.Ingest.LedgerTest`.
  """
  use ExtaskTest.S3Case, async: true

  import ExtaskTest.Run, only: [lines_at: 2]

  alias Extask.Ingest
  alias Extask.Ingest.{Archiver, Ledger}
  alias S3ClientTest.S3Server

  defp manifest_objects(config, bucket, keys) do
    Enum.flat_map(keys, &manifest!(config, bucket, &1).objects)
  end

  test "round trip: discover (filter, limit, batches, order, idempotent), archive, nothing left",
       ctx do
    %{config: config, bucket: bucket, settings: settings} = ctx
    raw = raw_objects([{"acme", 12}, {"opta", 10}, {"stats_perform", 8}])
    put = put_all!(config, bucket, raw)

    others = [
      {"raw/top-level.csv", "not under a provider"},
      {"rawish/acme/a.csv", "not raw"},
      {"archive/raw/old/a.csv", "already archived elsewhere"},
      {"raw/acme/", ""}
    ]

    _ = put_all!(config, bucket, others)
    env = env(settings, bucket)

    # 1. two providers, limited, small batches
    argv = ~w(discover --run-id manual__2026-11-23T06:37:30+00:00 --providers opta,acme
              --limit 15 --batch-size 4)

    first = cli(argv, env)
    assert first.code == 0, first.stderr
    safe = Ingest.safe_run_id("manual__2026-11-23T06:37:30+00:00")

    assert %{
             "status" => "ok",
             "command" => "discover",
             "counts" => %{"objects" => 15, "batches" => 4, "bytes" => bytes},
             "outputs" => %{"manifests" => manifests}
           } = first.result

    assert manifests == for(n <- 1..4, do: "manifests/#{safe}/batch-000#{n}.json")

    expected_keys =
      raw
      |> Enum.map(&elem(&1, 0))
      |> Enum.filter(&(Ingest.provider(&1) in ["acme", "opta"]))
      |> Enum.sort()
      |> Enum.take(15)

    objects = manifest_objects(config, bucket, manifests)
    assert Enum.map(objects, & &1.key) == expected_keys
    assert bytes == objects |> Enum.map(& &1.size) |> Enum.sum()

    for object <- objects do
      assert {object.size, object.etag} == put[object.key]
    end

    assert Enum.map(manifests, &length(manifest!(config, bucket, &1).objects)) == [4, 4, 4, 3]

    assert %{run_id: "manual__2026-11-23T06:37:30+00:00", batch: 2} =
             manifest!(config, bucket, Enum.at(manifests, 1))

    # 2. the same run again: the same manifests, byte for byte
    before = Map.new(manifests, &{&1, read!(config, bucket, &1)})
    again = cli(argv, env)
    assert again.code == 0
    assert again.result == first.result
    assert Map.new(manifests, &{&1, read!(config, bucket, &1)}) == before

    # 3. archive every batch (the DAG maps over outputs.manifests)
    for manifest <- manifests do
      run = cli(["archive", "--manifest", manifest, "--concurrency", "3"], env)
      assert run.code == 0, run.stderr
      assert run.result["counts"]["refused"] == 0
    end

    state = snapshot(config, bucket)
    ledger = ledger!(config, bucket)
    assert Map.keys(ledger) |> Enum.sort() == expected_keys

    for object <- objects do
      refute Map.has_key?(state, object.key)
      archived = Ingest.archive_key("archive/", object.key)
      assert state[archived] == %{size: object.size, etag: object.etag}
      assert read!(config, bucket, archived) == List.keyfind(raw, object.key, 0) |> elem(1)

      assert %Ledger{size: size, etag: etag, archive_key: ^archived, archive_bucket: ^bucket} =
               ledger[object.key]

      assert {size, etag} == {object.size, object.etag}
    end

    # 4. everything else: discovered by a second run, archived
    second = cli(~w(discover --run-id second --batch-size 50), env)
    assert second.code == 0, second.stderr
    assert second.result["counts"]["objects"] == 30 - 15
    assert [manifest] = second.result["outputs"]["manifests"]
    rest = manifest!(config, bucket, manifest).objects
    assert MapSet.disjoint?(MapSet.new(rest, & &1.key), MapSet.new(expected_keys))

    run = cli(["archive", "--manifest", manifest], env)
    assert run.code == 0, run.stderr

    assert run.result["counts"] == %{
             "objects" => 15,
             "archived" => 15,
             "already_archived" => 0,
             "refused" => 0,
             "bytes" => rest |> Enum.map(& &1.size) |> Enum.sum()
           }

    # archiving the same manifest again changes nothing
    run = cli(["archive", "--manifest", manifest], env)
    assert run.code == 0
    assert run.result["counts"]["already_archived"] == 15
    assert run.result["counts"]["archived"] == 0

    # 5. nothing left: exit 99 with a result; a re-run of the first run id prunes its batches
    nothing = cli(~w(discover --run-id third), env)
    assert nothing.code == 99, nothing.stderr
    assert %{"status" => "nothing_to_do", "outputs" => %{"manifests" => []}} = nothing.result
    assert nothing.result["counts"]["objects"] == 0

    assert [%{"msg" => "nothing to do"}] =
             Enum.filter(nothing.lines, &(&1["msg"] == "nothing to do"))

    assert cli(argv, env).code == 99
    assert keys_under(snapshot(config, bucket), "manifests/#{safe}/") == []

    # the key outside raw/<provider>/ was reported each time, never discovered
    assert nothing.result["counts"]["skipped"] == 1
    assert [skipped] = Enum.filter(lines_at(nothing, "warn"), &(&1["count"] == 1))
    assert skipped["keys"] == ["raw/top-level.csv"]

    final = snapshot(config, bucket)
    # Only what is not a raw object stays (the directory marker may or may not).
    assert keys_under(final, "raw/") -- ["raw/acme/"] == ["raw/top-level.csv"]

    assert length(keys_under(final, "ledger/ingested/")) == 30
    assert Map.has_key?(final, "rawish/acme/a.csv")
  end

  test "listings page: 2,600 raw keys and 1,100 ledger markers", ctx do
    %{config: config, bucket: bucket, settings: settings} = ctx

    raw =
      for provider <- ["p1", "p2"], i <- 1..1300 do
        {"raw/#{provider}/f-#{String.pad_leading("#{i}", 5, "0")}.csv", "#{provider}-#{i}"}
      end

    put = put_all!(config, bucket, raw, 32)

    # Markers of objects archived long ago (no raw object any more) make the ledger page too.
    old_markers =
      for i <- 1..1100 do
        key = "raw/p1/old-#{String.pad_leading("#{i}", 5, "0")}.csv"

        %Ledger{
          key: key,
          size: 1,
          etag: "e",
          archive_bucket: bucket,
          archive_key: "archive/" <> key
        }
      end

    # 5 raw objects whose archive stopped before the delete (marker of this very version),
    # and 2 whose provider re-delivered new content under an ingested key.
    {leftover, changed} = raw |> Enum.map(&elem(&1, 0)) |> Enum.take_random(7) |> Enum.split(5)

    markers =
      old_markers ++
        for key <- leftover ++ changed do
          {size, etag} = put[key]
          etag = if key in changed, do: "0123456789abcdef0123456789abcdef", else: etag

          %Ledger{
            key: key,
            size: size,
            etag: etag,
            archive_bucket: bucket,
            archive_key: "archive/" <> key,
            manifest: "manifests/old/batch-0001.json"
          }
        end

    markers
    |> Task.async_stream(&(:ok = Ledger.write(config, bucket, &1)), max_concurrency: 32)
    |> Stream.run()

    run = cli(~w(discover --run-id paging --batch-size 1000), env(settings, bucket))
    assert run.code == 0, run.stderr

    assert run.result["counts"] == %{
             "objects" => 2600 - 5,
             "batches" => 3,
             "bytes" =>
               raw
               |> Enum.reject(&(elem(&1, 0) in leftover))
               |> Enum.map(&byte_size(elem(&1, 1)))
               |> Enum.sum(),
             "already_ingested" => 5,
             "changed_since_ingest" => 2,
             "skipped" => 0
           }

    keys =
      manifest_objects(config, bucket, run.result["outputs"]["manifests"]) |> Enum.map(& &1.key)

    assert keys == raw |> Enum.map(&elem(&1, 0)) |> Enum.reject(&(&1 in leftover)) |> Enum.sort()

    assert [warn] = lines_at(run, "warn")
    assert warn["count"] == 5
    assert Enum.sort(Enum.map(warn["objects"], & &1["key"])) == Enum.sort(leftover)
    assert Enum.all?(warn["objects"], &(&1["manifest"] == "manifests/old/batch-0001.json"))

    # a limit stops early, per provider filter
    limited =
      cli(~w(discover --run-id paging-limited --providers p2 --limit 1100), env(settings, bucket))

    assert limited.code == 0
    assert limited.result["counts"]["objects"] == 1100
    limited_keys = manifest_objects(config, bucket, limited.result["outputs"]["manifests"])
    assert Enum.all?(limited_keys, &String.starts_with?(&1.key, "raw/p2/"))
  end

  describe "crash between copy and delete" do
    setup :crash_fixture

    test "a crash injected mid-run (test hook) exits 70; the re-run finishes", ctx do
      %{config: config, bucket: bucket, env: env, manifest: manifest, objects: objects} = ctx

      for step <- ["copy", "record"] do
        crash_env = Map.put(env, "EXTASK_ARCHIVE_CRASH_AFTER", step)
        run = cli(["archive", "--manifest", manifest, "--concurrency", "3"], crash_env)

        # The first object's copy exists after the first pass, so the second pass
        # verifies it (the copy step passes) and crashes after recording it.
        assert run.code == 70, run.stderr
        assert [error] = lines_at(run, "error")
        assert error["error_kind"] == "internal"
        assert error["error"] =~ "crash injected after #{step}"
        assert run.result == nil

        assert_no_loss(config, bucket, objects)

        # The first object stopped between its copy (or its marker) and its delete.
        first = hd(objects)
        expected = Map.take(first, [:size, :etag])
        state = snapshot(config, bucket)
        assert state[first.key] == expected
        assert state[Ingest.archive_key("archive/", first.key)] == expected
        assert Map.has_key?(state, Ingest.ledger_key(first.key)) == (step == "record")
      end

      run = cli(["archive", "--manifest", manifest], env)
      assert run.code == 0, run.stderr
      counts = run.result["counts"]
      assert counts["archived"] + counts["already_archived"] == length(objects)
      assert counts["archived"] >= 1
      assert_clean_final_state(ctx)
    end
  end

  test "objects changed after discover are refused, reported, kept; the rest archived (65)",
       ctx do
    %{config: config, bucket: bucket, settings: settings} = ctx
    raw = raw_objects([{"acme", 6}])
    _ = put_all!(config, bucket, raw)
    env = env(settings, bucket)
    run = cli(~w(discover --run-id changed), env)
    assert run.code == 0
    [manifest] = run.result["outputs"]["manifests"]
    [same_size, bigger, conflict, late | fine] = manifest!(config, bucket, manifest).objects

    # Same size, different bytes: only the ETag tells.
    {same_key, same_body} = List.keyfind(raw, same_size.key, 0)
    new_same = String.reverse(same_body)
    assert byte_size(new_same) == same_size.size and new_same != same_body
    _ = put_all!(config, bucket, [{same_key, new_same}, {bigger.key, "much bigger content"}])

    # Something else already sits at one archive key: never overwritten.
    conflict_archive = Ingest.archive_key("archive/", conflict.key)
    _ = put_all!(config, bucket, [{conflict_archive, "someone else's object"}])

    # Overwritten after its copy was verified and recorded, just before the delete: the
    # conditional delete keeps the new content.
    plan = %Archiver{
      s3: config,
      bucket: bucket,
      archive_bucket: bucket,
      archive_prefix: "archive/"
    }

    overwrite = fn
      :record, object -> put_all!(config, bucket, [{object.key, "overwritten late"}])
      _step, _object -> :ok
    end

    assert {:refused, ^late, :changed, detail} =
             Archiver.archive(plan, late, after_step: overwrite)

    assert detail =~ "conditional delete"

    run = cli(["archive", "--manifest", manifest], env)
    assert run.code == 65, run.stderr
    assert run.result == nil

    refused = lines_at(run, "warn") |> Enum.filter(&(&1["msg"] == "object refused"))

    assert Enum.map(refused, &{&1["key"], &1["reason"]}) |> Enum.sort() ==
             Enum.sort([
               {same_size.key, "changed"},
               {bigger.key, "changed"},
               {conflict.key, "archive_conflict"},
               {late.key, "changed"}
             ])

    assert [error] = lines_at(run, "error")
    assert %{"error_kind" => "permanent", "exit_code" => 65, "command" => "archive"} = error
    assert error["error"] =~ "refused 4 of 6 objects"
    for object <- [same_size, bigger, conflict, late], do: assert(error["error"] =~ object.key)

    assert [done] = Enum.filter(run.lines, &(&1["msg"] == "archive done"))
    assert {done["archived"], done["refused"]} == {2, 4}

    state = snapshot(config, bucket)
    assert read!(config, bucket, same_size.key) == new_same
    assert read!(config, bucket, bigger.key) == "much bigger content"
    assert read!(config, bucket, late.key) == "overwritten late"
    assert read!(config, bucket, conflict.key) == List.keyfind(raw, conflict.key, 0) |> elem(1)
    assert read!(config, bucket, conflict_archive) == "someone else's object"
    refute Map.has_key?(state, Ingest.archive_key("archive/", same_size.key))
    refute Map.has_key?(state, Ingest.archive_key("archive/", bigger.key))

    for object <- fine, do: refute(Map.has_key?(state, object.key))

    ledger = ledger!(config, bucket)
    assert Map.keys(ledger) |> Enum.sort() == Enum.sort([late.key | Enum.map(fine, & &1.key)])

    # The next discover sees the late overwrite as new content under an ingested key.
    next = cli(~w(discover --run-id next), env)
    assert next.code == 0
    assert next.result["counts"]["changed_since_ingest"] == 1
    next_keys = manifest_objects(config, bucket, next.result["outputs"]["manifests"])

    assert Enum.map(next_keys, & &1.key) |> Enum.sort() ==
             Enum.sort([same_size.key, bigger.key, conflict.key, late.key])
  end

  test "a multipart original: the copy's new ETag is verified by content", ctx do
    %{config: config, bucket: bucket, settings: settings} = ctx
    key = "raw/big/feed.ndjson"
    parts = [:crypto.strong_rand_bytes(5 * 1024 * 1024), :crypto.strong_rand_bytes(1000)]
    etag = S3Server.multipart_upload!(config, bucket, key, parts)
    assert Archiver.multipart_etag?(etag)

    env = env(settings, bucket)
    run = cli(~w(discover --run-id big), env)
    assert run.code == 0
    [manifest] = run.result["outputs"]["manifests"]
    assert [%{etag: ^etag}] = manifest!(config, bucket, manifest).objects

    run = cli(["archive", "--manifest", manifest, "--storage-class", "GLACIER"], env)
    assert run.code == 0, run.stderr
    assert run.result["counts"]["archived"] == 1

    archived = Ingest.archive_key("archive/", key)
    md5 = :crypto.hash(:md5, parts) |> Base.encode16(case: :lower)
    assert {:ok, %{etag: ^md5}} = S3Client.head_object(config, bucket, archived)
    assert %{^key => %Ledger{etag: ^etag, archive_etag: ^md5}} = ledger!(config, bucket)
    refute Map.has_key?(snapshot(config, bucket), key)
  end

  test "archive refuses a missing manifest, a non-raw manifest and a bad prefix", ctx do
    %{config: config, bucket: bucket, settings: settings} = ctx
    env = env(settings, bucket)

    missing = cli(~w(archive --manifest manifests/none/batch-0001.json), env)
    assert missing.code == 65
    assert [%{"error" => error}] = lines_at(missing, "error")
    assert error =~ "NoSuchKey"

    {:ok, _} =
      S3Client.put_object(
        config,
        bucket,
        "manifests/bad/batch-0001.json",
        ~S({"run_id":"bad","batch":1,"objects":[{"key":"ledger/ingested/x.json","size":1,"etag":"e"}]})
      )

    bad = cli(~w(archive --manifest manifests/bad/batch-0001.json), env)
    assert bad.code == 65
    assert [%{"error" => error}] = lines_at(bad, "error")
    assert error =~ "expected only raw objects"

    prefix =
      cli(~w(archive --manifest manifests/bad/batch-0001.json --archive-prefix raw/cold), env)

    assert prefix.code == 64
    assert [%{"error" => error}] = lines_at(prefix, "error")
    assert error =~ "--archive-prefix"
  end

  test "archive into another bucket, with an empty prefix", ctx do
    %{config: config, bucket: bucket, settings: settings} = ctx
    cold = bucket!(config, "cold")
    raw = raw_objects([{"acme", 3}])
    _ = put_all!(config, bucket, raw)
    env = env(settings, bucket)
    [manifest] = cli(~w(discover --run-id cold), env).result["outputs"]["manifests"]

    run =
      cli(
        ~w(archive --archive-bucket #{cold} --archive-prefix) ++ ["", "--manifest", manifest],
        env
      )

    assert run.code == 0, run.stderr
    assert %{"archive_bucket" => ^cold, "archive_prefix" => ""} = run.result["outputs"]

    assert keys_under(snapshot(config, cold), "raw/") ==
             raw |> Enum.map(&elem(&1, 0)) |> Enum.sort()

    assert keys_under(snapshot(config, bucket), "raw/") == []
    assert Enum.all?(ledger!(config, bucket), fn {_, marker} -> marker.archive_bucket == cold end)
  end
end
