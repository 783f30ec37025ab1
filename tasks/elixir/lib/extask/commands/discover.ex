defmodule Extask.Commands.Discover do
  @moduledoc """
  Finds the raw objects not yet ingested and writes them as batch manifests.

      extask discover --run-id RUN [--providers a,b] [--limit N] [--batch-size 50]
                      --bucket B --s3-endpoint-url URL [S3 flags]

  1. lists the ingest ledger (`Extask.Ingest.Ledger`) under `ledger/ingested/raw/<provider>/`
     for the providers asked for (all when none), without opening a marker;
  2. lists `raw/<provider>/` in key order (paged) and keeps the raw objects the ledger does
     not have, up to `--limit`. A raw object that *has* a marker is opened: if the marker
     records this very version, archive stopped between recording and deleting it (counted
     as `already_ingested` and logged with its manifest, whose archive re-run finishes it);
     if it records another version, the provider delivered new content under an ingested
     key, which is discovered again (`changed_since_ingest`);
  3. writes the objects, `--batch-size` per batch, to `manifests/<run>/batch-NNNN.json`
     (`Extask.Ingest.Manifest`; the run id made a safe key segment by
     `Extask.Ingest.safe_run_id/1`) and removes batch manifests of an earlier attempt of the
     same run that this one did not write. Same run id, same state: same manifests, byte
     for byte.

  The result's `outputs.manifests` lists the manifest keys — what the DAG maps over;
  counts: `objects`, `bytes`, `batches`, `already_ingested`, `changed_since_ingest` and
  `skipped` (keys under `raw/` that are not `raw/<provider>/<name>`, e.g. `raw/notes.txt`
  or a provider name with spaces: never discovered, so counted and logged as a warning).
  No new object: status `nothing_to_do` (exit 99), manifests `[]`.
  """

  @behaviour Extask.Command

  alias Extask.{Flag, Ingest, Log, Result, S3Flags, UsageError}
  alias Extask.Ingest.{Ledger, Manifest}
  alias S3Client.Error

  @impl true
  def name, do: "discover"

  @impl true
  def summary, do: "Write batch manifests of the raw objects not yet ingested."

  @impl true
  def flags do
    [
      %Flag{
        name: :run_id,
        type: :path,
        metavar: "RUN",
        required: true,
        doc: "the run's id; manifests go to manifests/<run>/"
      },
      %Flag{
        name: :providers,
        type: :list,
        metavar: "A,B",
        default: [],
        doc: "only these providers (raw/<provider>/); default all"
      },
      %Flag{
        name: :limit,
        type: {:integer, 1, :infinity},
        metavar: "N",
        doc: "at most N new objects this run, first by key; default no limit"
      },
      %Flag{
        name: :batch_size,
        type: {:integer, 1, 1000},
        metavar: "N",
        default: 50,
        doc: "objects per batch manifest, 1 to 1000; default 50"
      }
    ] ++ S3Flags.flags()
  end

  @impl true
  def notes, do: S3Flags.notes()

  @impl true
  def run(config, log) do
    opts = config.opts

    with :ok <- check_providers(opts.providers),
         {:ok, settings} <- S3Flags.from_config(config, log) do
      Log.info(
        log,
        "discover started",
        Map.merge(S3Flags.describe(settings), %{
          run_id: opts.run_id,
          providers: opts.providers,
          limit: opts.limit,
          batch_size: opts.batch_size,
          manifest_prefix: Ingest.manifest_prefix(opts.run_id)
        })
      )

      discover(settings, opts, log)
    end
  end

  defp discover(%S3Flags{s3: s3, bucket: bucket}, opts, log) do
    with {:ok, ledger} <- Ledger.ingested_keys(s3, bucket, opts.providers),
         _ = Log.debug(log, "ledger listed", ingested: MapSet.size(ledger)),
         {:ok, found} <- find_new(s3, bucket, opts, ledger),
         _ = report_leftovers(found.leftovers, log),
         _ = report_skipped(found.skipped, log),
         batches = Enum.chunk_every(found.objects, opts.batch_size),
         {:ok, keys} <- write_manifests(s3, bucket, opts.run_id, batches),
         {:ok, removed} <- remove_stale(s3, bucket, opts.run_id, keys) do
      counts = %{
        objects: length(found.objects),
        bytes: found.objects |> Enum.map(& &1.size) |> Enum.sum(),
        batches: length(keys),
        already_ingested: length(found.leftovers),
        changed_since_ingest: found.changed,
        skipped: length(found.skipped)
      }

      outputs = %{
        manifests: keys,
        run_id: opts.run_id,
        manifest_prefix: Ingest.manifest_prefix(opts.run_id),
        bucket: bucket
      }

      if removed != [], do: Log.info(log, "stale manifests removed", manifests: removed)
      Log.info(log, "discover done", counts)

      if counts.objects == 0 do
        Log.info(log, "nothing to do", command: name(), reason: "no new raw objects")
        {:ok, Result.new(name(), counts, outputs, :nothing_to_do)}
      else
        {:ok, Result.new(name(), counts, outputs)}
      end
    end
  end

  defp check_providers(providers) do
    case Enum.reject(providers, &Ingest.valid_provider?/1) do
      [] ->
        :ok

      [bad | _] ->
        {:error,
         %UsageError{
           message:
             "expected --providers to be names like acme or opta_v2 (comma-separated), " <>
               "got: #{inspect(bad)}"
         }}
    end
  end

  # New raw objects in key order, up to the limit; the listing stops paging once enough
  # are found.
  defp find_new(s3, bucket, opts, ledger) do
    limit = opts.limit || :infinity
    initial = %{objects: [], count: 0, leftovers: [], changed: 0, skipped: []}

    found =
      opts.providers
      |> Ingest.raw_prefixes()
      |> Stream.flat_map(&S3Client.stream_objects(s3, bucket, prefix: &1))
      |> Enum.reduce_while(initial, fn object, acc ->
        acc = classify(s3, bucket, ledger, object, acc)
        # Halt as soon as the limit is reached (limit >= 1): no page beyond it is fetched.
        if acc.count >= limit, do: {:halt, acc}, else: {:cont, acc}
      end)

    {:ok,
     %{
       found
       | objects: Enum.reverse(found.objects),
         leftovers: Enum.reverse(found.leftovers),
         skipped: Enum.reverse(found.skipped)
     }}
  rescue
    # A page that cannot be fetched, or a marker that cannot be read.
    error in [Error, Extask.PermanentError] -> {:error, error}
  end

  defp classify(s3, bucket, ledger, object, acc) do
    entry = %{key: object.key, size: object.size, etag: object.etag}

    cond do
      # Directory markers (`raw/acme/`) are no data; other keys outside
      # raw/<provider>/<name> are reported, never silently passed over.
      String.ends_with?(object.key, "/") ->
        acc

      not Ingest.raw_object?(object.key) ->
        %{acc | skipped: [object.key | acc.skipped]}

      MapSet.member?(ledger, object.key) ->
        case Ledger.read(s3, bucket, object.key) do
          {:ok, %Ledger{etag: etag, size: size} = marker}
          when etag == entry.etag and size == entry.size ->
            %{acc | leftovers: [%{key: entry.key, manifest: marker.manifest} | acc.leftovers]}

          {:ok, marker} ->
            acc = add(acc, entry)
            if marker, do: %{acc | changed: acc.changed + 1}, else: acc

          {:error, error} ->
            raise error
        end

      true ->
        add(acc, entry)
    end
  end

  defp add(acc, entry), do: %{acc | objects: [entry | acc.objects], count: acc.count + 1}

  defp report_leftovers([], _log), do: :ok

  defp report_leftovers(leftovers, log) do
    Log.warn(
      log,
      "ingested objects still under raw/: an archive stopped before deleting them; re-run archive on their manifests",
      count: length(leftovers),
      objects: Enum.take(leftovers, 20)
    )
  end

  defp report_skipped([], _log), do: :ok

  defp report_skipped(keys, log) do
    Log.warn(log, "keys under raw/ that are not raw/<provider>/<name> objects: not discovered",
      count: length(keys),
      keys: Enum.take(keys, 20)
    )
  end

  defp write_manifests(s3, bucket, run_id, batches) do
    batches
    |> Enum.with_index(1)
    |> Enum.reduce_while({:ok, []}, fn {objects, n}, {:ok, keys} ->
      key = Ingest.manifest_key(run_id, n)
      text = Manifest.encode(%Manifest{run_id: run_id, batch: n, objects: objects})

      case S3Client.put_object(s3, bucket, key, text, content_type: "application/json") do
        {:ok, _} -> {:cont, {:ok, [key | keys]}}
        {:error, _} = error -> {:halt, error}
      end
    end)
    |> case do
      {:ok, keys} -> {:ok, Enum.reverse(keys)}
      error -> error
    end
  end

  # Batch manifests of an earlier attempt of this run that this attempt did not rewrite.
  defp remove_stale(s3, bucket, run_id, keys) do
    with {:ok, existing} <-
           S3Client.list_all_objects(s3, bucket, prefix: Ingest.manifest_prefix(run_id)) do
      stale =
        for object <- existing,
            Ingest.batch_manifest?(object.key),
            object.key not in keys,
            do: object.key

      case stale do
        [] ->
          {:ok, []}

        _ ->
          case S3Client.delete_objects(s3, bucket, stale) do
            {:ok, %{errors: []}} ->
              {:ok, stale}

            {:ok, %{errors: [first | _]}} ->
              {:error,
               %Error{
                 operation: "DeleteObjects",
                 bucket: bucket,
                 key: first.key,
                 code: first.code,
                 message: first.message
               }}

            {:error, _} = error ->
              error
          end
      end
    end
  end
end
