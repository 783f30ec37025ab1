defmodule ExtaskTest.Ingest do
  @moduledoc """
  Helpers for the discover/archive tests against the real S3 server: buckets, objects
  put concurrently, the CLI run with the S3 settings as `EXTASK_*` env, and the invariant
  the archive must keep — every object exists as its original or as a verified copy.
  """

  import ExUnit.Assertions

  alias Extask.{Ingest, JSON, S3}
  alias Extask.Ingest.{Ledger, Manifest}

  @doc "A fresh bucket, emptied and deleted when the test ends."
  @spec bucket!(S3.Config.t(), String.t()) :: String.t()
  def bucket!(config, label \\ "ingest") do
    bucket = "extask-#{label}-#{System.unique_integer([:positive])}-#{:rand.uniform(1_000_000)}"
    :ok = S3.create_bucket(config, bucket)

    ExUnit.Callbacks.on_exit(fn ->
      {:ok, objects} = S3.list_all_objects(config, bucket)
      {:ok, %{errors: []}} = S3.delete_objects(config, bucket, Enum.map(objects, & &1.key))
      :ok = S3.delete_bucket(config, bucket)
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
  @spec put_all!(S3.Config.t(), String.t(), [{String.t(), binary()}], pos_integer()) :: map()
  def put_all!(config, bucket, objects, concurrency \\ 16) do
    objects
    |> Task.async_stream(
      fn {key, body} ->
        {:ok, %{etag: etag}} = S3.put_object(config, bucket, key, body)
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
  @spec snapshot(S3.Config.t(), String.t()) :: %{String.t() => map()}
  def snapshot(config, bucket) do
    {:ok, objects} = S3.list_all_objects(config, bucket)
    Map.new(objects, &{&1.key, %{size: &1.size, etag: &1.etag}})
  end

  @doc "A manifest read back from S3."
  @spec manifest!(S3.Config.t(), String.t(), String.t()) :: Manifest.t()
  def manifest!(config, bucket, key) do
    {:ok, manifest} = Manifest.decode(read!(config, bucket, key))
    manifest
  end

  @doc "An object's bytes."
  @spec read!(S3.Config.t(), String.t(), String.t()) :: binary()
  def read!(config, bucket, key) do
    sink = {:fun, [], fn chunk, acc -> [acc, chunk] end}
    {:ok, %{acc: iodata}} = S3.get_object(config, bucket, key, sink)
    IO.iodata_to_binary(iodata)
  end

  @doc """
  The archive's invariant: each object exists as its original (as in the manifest) or as
  an archive copy with the same size and ETag — never neither.
  """
  @spec assert_no_loss(S3.Config.t(), String.t(), [Manifest.object()], String.t()) :: :ok
  def assert_no_loss(config, bucket, objects, prefix \\ "archive/") do
    state = snapshot(config, bucket)

    for object <- objects do
      expected = %{size: object.size, etag: object.etag}
      original = state[object.key]
      copy = state[Ingest.archive_key(prefix, object.key)]

      assert original == expected or copy == expected,
             "#{object.key} lost: original #{inspect(original)}, copy #{inspect(copy)}"
    end

    :ok
  end

  @doc "The ledger markers of a bucket, decoded: raw key => marker."
  @spec ledger!(S3.Config.t(), String.t()) :: %{String.t() => Ledger.t()}
  def ledger!(config, bucket) do
    {:ok, objects} = S3.list_all_objects(config, bucket, prefix: Ingest.ledger_prefix())

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
end
