defmodule ExtaskTest.Ingest do
  @moduledoc """
  Helpers for the discover/archive tests (commands, archiver, ledger) against the real S3
  server: buckets, objects put concurrently, the CLI run with the S3 settings as `EXTASK_*`
  env, the crash fixture, and the invariant the archive must keep — every object exists as
  its original or as a verified copy.
  """

  import ExUnit.Assertions

  alias Extask.{Ingest, JSON}
  alias Extask.Ingest.{Arrival, Ledger, Manifest}

  @doc "A fresh bucket, emptied and deleted when the test ends."
  @spec bucket!(S3Client.Config.t(), String.t()) :: String.t()
  def bucket!(config, label \\ "ingest") do
    bucket = "extask-#{label}-#{System.unique_integer([:positive])}-#{:rand.uniform(1_000_000)}"
    :ok = S3Client.create_bucket(config, bucket)

    ExUnit.Callbacks.on_exit(fn ->
      {:ok, objects} = S3Client.list_all_objects(config, bucket)
      {:ok, %{errors: []}} = S3Client.delete_objects(config, bucket, Enum.map(objects, & &1.key))
      :ok = S3Client.delete_bucket(config, bucket)
    end)

    bucket
  end

  @doc "The `EXTASK_*` environment the DAG gives the commands, for this server and bucket."
  @spec env(map(), String.t(), map()) :: %{String.t() => String.t()}
  def env(settings, bucket, extra \\ %{}) do
    Map.merge(
      %{
        "EXTASK_BUCKET" => bucket,
        "EXTASK_S3_ENDPOINT_URL" => settings.endpoint,
        "EXTASK_S3_REGION" => settings.region,
        "EXTASK_S3_ACCESS_KEY_ID" => settings.access_key_id,
        "EXTASK_S3_SECRET_ACCESS_KEY" => settings.secret_access_key
      },
      extra
    )
  end

  @doc "Puts `{key, body}` pairs, `concurrency` at a time; returns key => {size, md5 etag}."
  @spec put_all!(S3Client.Config.t(), String.t(), [{String.t(), binary()}], pos_integer()) ::
          map()
  def put_all!(config, bucket, objects, concurrency \\ 16) do
    objects
    |> Task.async_stream(
      fn {key, body} ->
        {:ok, %{etag: etag}} = S3Client.put_object(config, bucket, key, body)
        {key, {byte_size(body), etag}}
      end,
      max_concurrency: concurrency,
      timeout: 60_000
    )
    |> Map.new(fn {:ok, pair} -> pair end)
  end

  @doc "Runs the CLI in-process with a result file; the decoded result is in `:result`."
  @spec cli([String.t()], map()) :: map()
  def cli(argv, env) do
    result_file = Path.join(ExtaskTest.Run.tmp_dir!("xcom"), "return.json")
    outcome = ExtaskTest.Run.cli(argv ++ ["--result-file", result_file], env)

    result =
      case File.read(result_file) do
        {:ok, text} -> JSON.decode!(text)
        {:error, :enoent} -> nil
      end

    Map.put(outcome, :result, result)
  end

  @doc "Every object of a bucket: key => %{size, etag}."
  @spec snapshot(S3Client.Config.t(), String.t()) :: %{String.t() => map()}
  def snapshot(config, bucket) do
    {:ok, objects} = S3Client.list_all_objects(config, bucket)
    Map.new(objects, &{&1.key, %{size: &1.size, etag: &1.etag}})
  end

  @doc "A manifest read back from S3."
  @spec manifest!(S3Client.Config.t(), String.t(), String.t()) :: Manifest.t()
  def manifest!(config, bucket, key) do
    {:ok, manifest} = Manifest.decode(read!(config, bucket, key))
    manifest
  end

  @doc "An object's bytes."
  @spec read!(S3Client.Config.t(), String.t(), String.t()) :: binary()
  def read!(config, bucket, key) do
    sink = {:fun, [], fn chunk, acc -> [acc, chunk] end}
    {:ok, %{acc: iodata}} = S3Client.get_object(config, bucket, key, sink)
    IO.iodata_to_binary(iodata)
  end

  @doc """
  The archive's invariant: each object exists as its original (as in the manifest) or as
  a copy with the same size and ETag — in the archive, or for a poison object in
  quarantine — never neither.
  """
  @spec assert_no_loss(S3Client.Config.t(), String.t(), [Manifest.object()], String.t()) :: :ok
  def assert_no_loss(config, bucket, objects, prefix \\ "archive/") do
    state = snapshot(config, bucket)

    for object <- objects do
      expected = %{size: object.size, etag: object.etag}
      original = state[object.key]
      copy = state[Ingest.archive_key(prefix, object.key)]
      quarantined = state[Ingest.quarantine_key(object.key)]

      assert original == expected or copy == expected or quarantined == expected,
             "#{object.key} lost: original #{inspect(original)}, copy #{inspect(copy)}, " <>
               "quarantined #{inspect(quarantined)}"
    end

    :ok
  end

  @doc """
  Writes the transform's quarantine sidecar for `object` (a manifest object: key, size,
  ETag), as the contract has it — what the Rust transform does for a poison object.
  """
  @spec sidecar!(S3Client.Config.t(), String.t(), map(), String.t(), String.t() | nil) :: :ok
  def sidecar!(config, bucket, object, reason, manifest \\ nil) do
    text =
      JSON.encode_object([
        {"key", object.key},
        {"etag", object.etag},
        {"size", object.size},
        {"reason", reason},
        {"detail", "#{reason} (written by the test)"},
        {"quarantine_key", Ingest.quarantine_key(object.key)},
        {"manifest", manifest},
        {"detected_at", "2026-12-06T14:00:00.123Z"}
      ])

    {:ok, _} =
      S3Client.put_object(config, bucket, Ingest.sidecar_key(object.key), text,
        content_type: "application/json"
      )

    :ok
  end

  @doc "The arrival markers of a bucket, decoded: raw key => marker."
  @spec arrivals!(S3Client.Config.t(), String.t()) :: %{String.t() => Arrival.t()}
  def arrivals!(config, bucket) do
    {:ok, objects} = S3Client.list_all_objects(config, bucket, prefix: "ledger/arrivals/")

    Map.new(objects, fn object ->
      {:ok, marker} = Arrival.decode(read!(config, bucket, object.key))
      assert Ingest.arrival_key(marker.key) == object.key
      {marker.key, marker}
    end)
  end

  @doc "The ledger markers of a bucket, decoded: raw key => marker."
  @spec ledger!(S3Client.Config.t(), String.t()) :: %{String.t() => Ledger.t()}
  def ledger!(config, bucket) do
    {:ok, objects} = S3Client.list_all_objects(config, bucket, prefix: Ingest.ledger_prefix())

    Map.new(objects, fn object ->
      {:ok, raw_key} = Ingest.raw_key(object.key)
      {:ok, marker} = Ledger.decode(read!(config, bucket, object.key))
      assert marker.key == raw_key
      {raw_key, marker}
    end)
  end

  @doc "The keys of a bucket under `prefix`."
  @spec keys_under(map(), String.t()) :: [String.t()]
  def keys_under(snapshot, prefix) do
    snapshot |> Map.keys() |> Enum.filter(&String.starts_with?(&1, prefix)) |> Enum.sort()
  end

  @doc """
  `{key, body}` pairs of raw objects, `count` per provider: zero-padded names and a nested
  path per provider, so key order is easy to predict.
  """
  @spec raw_objects([{String.t(), pos_integer()}]) :: [{String.t(), binary()}]
  def raw_objects(providers_counts) do
    for {provider, count} <- providers_counts, i <- 1..count do
      key = "raw/#{provider}/2026/11/23/part-#{String.pad_leading("#{i}", 3, "0")}.ndjson"
      {key, "#{provider} #{i} " <> String.duplicate("x", i)}
    end
  end

  @doc """
  The fixture of the crash tests (the archiver's and the archive command's): 12 raw
  objects (acme 7, opta 5) in the test's bucket, discovered as run `crash` into one
  manifest. For `setup`: adds `env`, `manifest`, `objects` (the manifest's) and `raw`.
  """
  @spec crash_fixture(map()) :: map()
  def crash_fixture(%{config: config, bucket: bucket, settings: settings}) do
    raw = raw_objects([{"acme", 7}, {"opta", 5}])
    _ = put_all!(config, bucket, raw)
    env = env(settings, bucket)
    run = cli(~w(discover --run-id crash --batch-size 100), env)
    assert run.code == 0, run.stderr
    [manifest] = run.result["outputs"]["manifests"]

    %{
      env: env,
      manifest: manifest,
      objects: manifest!(config, bucket, manifest).objects,
      raw: raw
    }
  end

  @doc """
  The end state of an interrupted-then-resumed archive (of `crash_fixture/1`) equals a
  clean run's, in a fresh bucket with the same raw objects: no raw object left, the same
  archive copies, one ledger marker per object with the same content (but the timestamp).
  """
  @spec assert_clean_final_state(map()) :: true
  def assert_clean_final_state(ctx) do
    %{config: config, bucket: bucket, settings: settings, raw: raw, objects: objects} = ctx
    clean_bucket = bucket!(config, "clean")
    _ = put_all!(config, clean_bucket, raw)
    clean_env = env(settings, clean_bucket)
    assert cli(~w(discover --run-id crash --batch-size 100), clean_env).code == 0

    run = cli(["archive", "--manifest", Ingest.manifest_key("crash", 1)], clean_env)

    assert run.code == 0

    strip = fn state ->
      Map.reject(state, fn {key, _} -> String.starts_with?(key, "manifests/") end)
    end

    resumed = snapshot(config, bucket)
    clean = snapshot(config, clean_bucket)
    assert keys_under(resumed, "raw/") == []
    assert Map.keys(strip.(resumed)) |> Enum.sort() == Map.keys(strip.(clean)) |> Enum.sort()

    for key <- keys_under(resumed, "archive/") do
      assert resumed[key] == clean[key]
    end

    normalise = fn markers ->
      Map.new(markers, fn {key, marker} ->
        {key, %{marker | ingested_at: nil, archive_bucket: nil}}
      end)
    end

    resumed_ledger = ledger!(config, bucket)
    assert map_size(resumed_ledger) == length(objects)
    assert normalise.(resumed_ledger) == normalise.(ledger!(config, clean_bucket))
  end
end
