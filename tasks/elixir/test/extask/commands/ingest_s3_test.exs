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
  alias Extask.Ingest.{Archiver, Arrival, Ledger, Requeue}
  alias ExtaskTest.RecordingProxy
  alias S3ClientTest.S3Server

  defp manifest_objects(config, bucket, keys) do
    Enum.flat_map(keys, &manifest!(config, bucket, &1).objects)
  end

  defp done_line(run), do: Enum.find(run.lines, &(&1["msg"] == "discover done"))

  # The CLI's env pointed at a recording proxy in front of the server.
  defp proxied_env(settings, bucket) do
    proxy = RecordingProxy.start!(settings.endpoint)
    {proxy, env(%{settings | endpoint: proxy.endpoint}, bucket)}
  end

  defp ledger_marker(bucket, key, size, etag, manifest \\ nil) do
    %Ledger{
      key: key,
      size: size,
      etag: etag,
      archive_bucket: bucket,
      archive_key: "archive/" <> key,
      manifest: manifest
    }
  end

  defp write_markers!(config, bucket, markers) do
    markers
    |> Task.async_stream(&(:ok = Ledger.write(config, bucket, &1)), max_concurrency: 32)
    |> Stream.run()
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
             "quarantined" => 0,
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

  test "listings page: 2,600 raw keys, 1,100 ledger markers; the limit fetches no page beyond",
       ctx do
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

    # Every raw key was looked up once (no more: the old markers were never touched).
    assert done_line(run)["lookups"] == 2600

    # Within one page: that page only, its keys looked up (at most 15 more than needed,
    # still in flight when the limit was reached), arrivals of the 900 objects only.
    {proxy, proxied} = proxied_env(settings, bucket)

    within = cli(~w(discover --run-id paging-900 --providers p2 --limit 900), proxied)
    assert within.code == 0, within.stderr
    assert within.result["counts"]["objects"] == 900

    assert [%{"prefix" => "raw/p2/"}, %{"prefix" => "manifests/paging-900/"}] =
             RecordingProxy.listings(proxy)

    gets = RecordingProxy.gets(proxy)
    marker_gets = Enum.filter(gets, &String.starts_with?(&1, "ledger/ingested/"))

    assert length(marker_gets) in 900..(900 + 15 + length(leftover ++ changed))
    assert Enum.count(gets, &String.starts_with?(&1, "ledger/arrivals/")) == 900
  end

  test "discover looks up only the listed raw keys' markers: the ledger is never listed", ctx do
    %{config: config, bucket: bucket, settings: settings} = ctx
    raw = raw_objects([{"acme", 12}, {"opta", 8}])
    put = put_all!(config, bucket, raw)
    keys = raw |> Enum.map(&elem(&1, 0)) |> Enum.sort()

    # A year of history: 1,500 markers of long-archived objects of the same providers...
    history =
      for provider <- ["acme", "opta"], i <- 1..750 do
        key = "raw/#{provider}/2025/#{String.pad_leading("#{i}", 4, "0")}/old.csv"
        ledger_marker(bucket, key, 1, "e")
      end

    # ... and 2 leftovers (this very version recorded) and 1 re-delivery (another version).
    [left1, left2, redelivered | _] = keys

    current =
      for key <- [left1, left2] do
        {size, etag} = put[key]
        ledger_marker(bucket, key, size, etag, "manifests/old/batch-0001.json")
      end

    write_markers!(config, bucket, history ++ current)
    write_markers!(config, bucket, [ledger_marker(bucket, redelivered, 1, "0123456789abcdef")])

    {proxy, proxied} = proxied_env(settings, bucket)
    run = cli(~w(discover --run-id year), proxied)
    assert run.code == 0, run.stderr

    assert run.result["counts"] == %{
             "objects" => 18,
             "bytes" =>
               raw
               |> Enum.reject(&(elem(&1, 0) in [left1, left2]))
               |> Enum.map(&byte_size(elem(&1, 1)))
               |> Enum.sum(),
             "batches" => 1,
             "already_ingested" => 2,
             "changed_since_ingest" => 1,
             "skipped" => 0
           }

    # One listing of raw/ (and the run's manifests, for stale ones); one GET per raw key's
    # marker, one per new object's arrival; nothing under ledger/ listed or opened else.
    assert Enum.map(RecordingProxy.listings(proxy), & &1["prefix"]) == ["raw/", "manifests/year/"]
    gets = RecordingProxy.gets(proxy)

    assert gets |> Enum.filter(&String.starts_with?(&1, "ledger/ingested/")) |> Enum.sort() ==
             Enum.map(keys, &Ingest.ledger_key/1)

    assert gets |> Enum.filter(&String.starts_with?(&1, "ledger/arrivals/")) |> Enum.sort() ==
             (keys -- [left1, left2]) |> Enum.map(&Ingest.arrival_key/1)

    assert %{"lookups" => 20, "arrivals_written" => 18} = done_line(run)

    # Re-run: the same manifest bytes, every arrival reused.
    [manifest] = run.result["outputs"]["manifests"]
    before = read!(config, bucket, manifest)
    again = cli(~w(discover --run-id year), proxied)
    assert again.code == 0
    assert read!(config, bucket, manifest) == before
    assert %{"arrivals_written" => 0} = done_line(again)
  end

  test "discover records each object's arrival once; a new delivery under a key is a new one",
       ctx do
    %{config: config, bucket: bucket, settings: settings} = ctx
    raw = raw_objects([{"acme", 3}])
    _ = put_all!(config, bucket, raw)
    env = env(settings, bucket)
    {:ok, listed} = S3Client.list_all_objects(config, bucket, prefix: "raw/")

    first = cli(~w(discover --run-id a1), env)
    assert first.code == 0, first.stderr
    objects = manifest_objects(config, bucket, first.result["outputs"]["manifests"])
    arrivals = arrivals!(config, bucket)

    for object <- listed do
      {:ok, expected} = Arrival.timestamp(object.last_modified)
      assert expected =~ ~r/\A\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\z/
      assert Enum.find(objects, &(&1.key == object.key)).arrived_at == expected

      assert %Arrival{etag: etag, size: size, arrived_at: ^expected, run_id: "a1"} =
               arrivals[object.key]

      assert {etag, size} == {object.etag, object.size}
    end

    # Another run before anything was archived: the same arrivals, markers untouched.
    second = cli(~w(discover --run-id a2), env)
    assert manifest_objects(config, bucket, second.result["outputs"]["manifests"]) == objects
    assert arrivals!(config, bucket) == arrivals
    assert %{"arrivals_written" => 0} = done_line(second)

    # New content under one key: a new delivery, a new arrival; the others are kept.
    [{changed, _} | _] = raw
    _ = put_all!(config, bucket, [{changed, "delivered again, different"}])
    third = cli(~w(discover --run-id a3), env)
    assert %{"arrivals_written" => 1} = done_line(third)
    now = arrivals!(config, bucket)
    assert Map.delete(now, changed) == Map.delete(arrivals, changed)
    assert %Arrival{run_id: "a3", size: 26} = now[changed]
    assert now[changed].etag != arrivals[changed].etag
    assert now[changed].arrived_at >= arrivals[changed].arrived_at

    assert Enum.find(
             manifest_objects(config, bucket, third.result["outputs"]["manifests"]),
             &(&1.key == changed)
           ).arrived_at == now[changed].arrived_at
  end

  test "poison objects: archive quarantines them, requeue puts them back, discover finds them",
       ctx do
    %{config: config, bucket: bucket, settings: settings} = ctx
    raw = raw_objects([{"acme", 4}])
    _ = put_all!(config, bucket, raw)
    env = env(settings, bucket)
    discovered = cli(~w(discover --run-id poison), env)
    [manifest] = discovered.result["outputs"]["manifests"]
    [gz, header, stale, fine] = objects = manifest!(config, bucket, manifest).objects
    :ok = sidecar!(config, bucket, gz, "corrupt_gzip", manifest)
    :ok = sidecar!(config, bucket, header, "bad_header", manifest)
    # A sidecar of an earlier version of the key: not about this one, ignored.
    :ok =
      sidecar!(config, bucket, %{stale | etag: "0123456789abcdef0123456789abcdef"}, "bad_header")

    run = cli(["archive", "--manifest", manifest], env)
    assert run.code == 0, run.stderr

    assert run.result["counts"] == %{
             "objects" => 4,
             "archived" => 2,
             "quarantined" => 2,
             "already_archived" => 0,
             "refused" => 0,
             "bytes" => stale.size + fine.size
           }

    assert run.result["outputs"]["quarantined"] == [
             %{"key" => gz.key, "reason" => "corrupt_gzip"},
             %{"key" => header.key, "reason" => "bad_header"}
           ]

    assert_no_loss(config, bucket, objects)
    state = snapshot(config, bucket)
    assert keys_under(state, "raw/") == []

    assert keys_under(state, "quarantine/_objects/") ==
             Enum.map([gz, header], &Ingest.quarantine_key(&1.key))

    assert keys_under(state, "archive/") ==
             Enum.map([stale, fine], &Ingest.archive_key("archive/", &1.key))

    ledger = ledger!(config, bucket)
    assert {ledger[gz.key].outcome, ledger[gz.key].reason} == {:quarantined, "corrupt_gzip"}
    assert {ledger[fine.key].outcome, ledger[fine.key].reason} == {:archived, nil}
    arrivals = arrivals!(config, bucket)

    # Requeue one; the other stopped after its marker was deleted, as a crash would, then
    # finished by the command.
    one = cli(["requeue", "--object", gz.key], env)
    assert one.code == 0, one.stderr

    assert one.result["counts"] == %{
             "keys" => 1,
             "requeued" => 1,
             "resumed" => 0,
             "bytes" => gz.size
           }

    assert one.result["outputs"]["requeued"] == [
             %{"key" => gz.key, "size" => gz.size, "etag" => gz.etag, "reason" => "corrupt_gzip"}
           ]

    plan = %Requeue{s3: config, bucket: bucket}
    assert {:stopped, :unrecord, _} = Requeue.requeue(plan, header.key, stop_after: :unrecord)
    two = cli(["requeue", "--object", header.key, "--object", header.key], env)
    assert two.code == 0, two.stderr
    assert %{"keys" => 1, "requeued" => 1, "resumed" => 1} = two.result["counts"]

    for object <- [gz, header] do
      assert read!(config, bucket, object.key) == List.keyfind(raw, object.key, 0) |> elem(1)
    end

    state = snapshot(config, bucket)
    assert keys_under(state, "quarantine/") == [Ingest.sidecar_key(stale.key)]
    assert Map.keys(ledger!(config, bucket)) |> Enum.sort() == [stale.key, fine.key]
    assert arrivals!(config, bucket) == arrivals

    # Not quarantined: refused, naming the key and what the ledger says; the rest is done.
    refused = cli(["requeue", "--object", fine.key, "--object", gz.key], env)
    assert refused.code == 65
    assert refused.result == nil
    assert [error] = lines_at(refused, "error")
    assert error["error_kind"] == "permanent"
    assert error["error"] =~ "refused 2 of 2 keys"

    assert error["error"] =~
             "#{fine.key}: not quarantined: the ledger records it archived to s3://#{bucket}/archive/#{fine.key}"

    assert error["error"] =~ "#{gz.key}: not quarantined: the ledger has no marker for it"
    assert snapshot(config, bucket) == state

    # The next discover finds both again, with their first arrival.
    next = cli(~w(discover --run-id after-requeue), env)
    assert next.code == 0, next.stderr
    again = manifest_objects(config, bucket, next.result["outputs"]["manifests"])
    assert Enum.map(again, & &1.key) == [gz.key, header.key]
    assert Enum.map(again, & &1.arrived_at) == [gz.arrived_at, header.arrived_at]
    assert %{"arrivals_written" => 0} = done_line(next)
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
