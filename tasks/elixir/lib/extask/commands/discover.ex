defmodule Extask.Commands.Discover do
  @moduledoc """
  Finds the raw objects not yet ingested and writes them as batch manifests.

      extask discover --run-id RUN [--providers a,b] [--limit N] [--batch-size 50]
                      --bucket B --s3-endpoint-url URL [S3 flags]

  1. lists `raw/<provider>/` for the providers asked for (all of `raw/` when none), in key
     order, a page (1,000 keys) at a time; for the raw objects of a page, looks up each
     key's ingest marker (`Extask.Ingest.Ledger`, `ledger/ingested/<raw key>.json`: one GET,
     a 404 when not ingested), 16 at once, results taken in key order. So the cost
     follows the backlog under `raw/` — one GET per listed object — and never the size of
     the ledger (the markers of a year of ingested objects are never listed). Objects
     without a marker are new. One *with* a marker: if the marker records this very
     version, archive stopped between recording and deleting it (counted as
     `already_ingested` and logged with its manifest, whose archive re-run finishes it); if
     it records another version, the provider delivered new content under an ingested
     key, which is discovered again (`changed_since_ingest`). With `--limit N` the walk
     stops at the N-th new object: no page beyond it is fetched (a few lookups after it,
     within the page, may already be running and are dropped);
  2. records each new object's arrival (`Extask.Ingest.Arrival`,
     `ledger/arrivals/<raw key>.json`), again 16 at once: a marker with the object's ETag
     is reused; otherwise (none, or another ETag: a new delivery under the key) one is
     written with the listing's LastModified as `arrived_at`;
  3. writes the objects (`{"key","size","etag","arrived_at"}`), `--batch-size` per batch,
     to `manifests/<run>/batch-NNNN.json` (`Extask.Ingest.Manifest`; the run id made a safe
     key segment by `Extask.Ingest.safe_run_id/1`) and removes batch manifests of an
     earlier attempt of the same run that this one did not write. Same run id, same
     state: same manifests, byte for byte (the arrivals are reused).

  The result's `outputs.manifests` lists the manifest keys — what the DAG maps over;
  counts: `objects`, `bytes`, `batches`, `already_ingested`, `changed_since_ingest` and
  `skipped` (keys under `raw/` that are not `raw/<provider>/<name>`, e.g. `raw/notes.txt`
  or a provider name with spaces: never discovered, so counted and logged as a warning).
  No new object: status `nothing_to_do` (exit 99), manifests `[]`. The "discover done" log
  line adds `lookups` (markers looked up) and `arrivals_written`.

  Each lookup runs in a task bounded by a deadline (beyond the S3 client's own timeouts
  and retries): a lookup past it fails the run as transient (exit 75); a damaged ledger
  or arrival marker is permanent (65).
  """

  @behaviour Extask.Command

  alias Extask.{Flag, Ingest, Log, Result, S3Flags, TransientError, UsageError}
  alias Extask.Ingest.{Arrival, Ledger, Manifest}
  alias S3Client.Error

  # Marker lookups (and arrival records) in flight at once.
  @concurrency 16

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
    with {:ok, found} <- find_new(s3, bucket, opts),
         _ = report_leftovers(found.leftovers, log),
         _ = report_skipped(found.skipped, log),
         {:ok, objects, written} <- record_arrivals(s3, bucket, opts.run_id, found.objects),
         batches = Enum.chunk_every(objects, opts.batch_size),
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

      Log.info(
        log,
        "discover done",
        Map.merge(counts, %{lookups: found.lookups, arrivals_written: written})
      )

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

  # New raw objects in key order, up to the limit. Pages are walked one at a time and each
  # page's keys looked up concurrently (in order), so the listing stops paging as soon as
  # the limit is reached.
  defp find_new(s3, bucket, opts) do
    limit = opts.limit || :infinity
    initial = %{objects: [], count: 0, leftovers: [], changed: 0, skipped: [], lookups: 0}

    opts.providers
    |> Ingest.raw_prefixes()
    |> Stream.flat_map(&S3Client.stream_pages(s3, bucket, prefix: &1))
    |> Enum.reduce_while({:ok, initial}, fn page, {:ok, acc} ->
      case classify_page(s3, bucket, page, limit, acc) do
        # Halt as soon as the limit is reached (limit >= 1): no page beyond it is fetched.
        {:ok, acc} when acc.count >= limit -> {:halt, {:ok, acc}}
        {:ok, acc} -> {:cont, {:ok, acc}}
        {:error, _} = error -> {:halt, error}
      end
    end)
    |> case do
      {:ok, found} ->
        {:ok,
         %{
           found
           | objects: Enum.reverse(found.objects),
             leftovers: Enum.reverse(found.leftovers),
             skipped: Enum.reverse(found.skipped)
         }}

      {:error, _} = error ->
        error
    end
  rescue
    # A page that cannot be fetched (the listing stream raises).
    error in Error -> {:error, error}
  end

  defp classify_page(s3, bucket, page, limit, acc) do
    page
    |> in_tasks(s3, &lookup(s3, bucket, &1))
    |> Enum.reduce_while({:ok, acc}, fn
      {:ok, result}, {:ok, acc} ->
        case classify(result, acc) do
          {:ok, acc} when acc.count >= limit -> {:halt, {:ok, acc}}
          {:ok, acc} -> {:cont, {:ok, acc}}
          {:error, _} = error -> {:halt, error}
        end

      {:exit, {object, reason}}, _acc ->
        {:halt, {:error, task_exit("looking up the ingest marker of #{object.key}", reason)}}
    end)
  end

  # What one listed key is; only raw objects cost a request (their marker's GET).
  defp lookup(s3, bucket, object) do
    cond do
      # Directory markers (`raw/acme/`) are no data; other keys outside
      # raw/<provider>/<name> are reported, never silently passed over.
      String.ends_with?(object.key, "/") ->
        :ignore

      not Ingest.raw_object?(object.key) ->
        {:skipped, object.key}

      true ->
        case Ledger.read(s3, bucket, object.key) do
          {:ok, nil} -> {:new, object}
          {:ok, marker} -> {:ingested, object, marker}
          {:error, _} = error -> error
        end
    end
  end

  defp classify(:ignore, acc), do: {:ok, acc}
  defp classify({:skipped, key}, acc), do: {:ok, %{acc | skipped: [key | acc.skipped]}}
  defp classify({:new, object}, acc), do: {:ok, add(looked_up(acc), object)}

  defp classify({:ingested, object, %Ledger{etag: etag, size: size} = marker}, acc)
       when etag == object.etag and size == object.size do
    leftover = %{key: object.key, manifest: marker.manifest}
    {:ok, %{looked_up(acc) | leftovers: [leftover | acc.leftovers]}}
  end

  defp classify({:ingested, object, _other_version}, acc) do
    acc = acc |> looked_up() |> add(object)
    {:ok, %{acc | changed: acc.changed + 1}}
  end

  defp classify({:error, _} = error, _acc), do: error

  defp looked_up(acc), do: %{acc | lookups: acc.lookups + 1}
  defp add(acc, object), do: %{acc | objects: [object | acc.objects], count: acc.count + 1}

  # The arrival of each new object (reused or written), in order; the manifest's objects.
  defp record_arrivals(s3, bucket, run_id, objects) do
    objects
    |> in_tasks(s3, fn object -> Arrival.record(s3, bucket, object, run_id) end)
    |> Enum.zip(objects)
    |> Enum.reduce_while({:ok, [], 0}, fn
      {{:ok, {:ok, arrived_at, how}}, object}, {:ok, acc, written} ->
        entry = %{key: object.key, size: object.size, etag: object.etag, arrived_at: arrived_at}
        {:cont, {:ok, [entry | acc], written + if(how == :written, do: 1, else: 0)}}

      {{:ok, {:error, _} = error}, _object}, _acc ->
        {:halt, error}

      {{:exit, {object, reason}}, _object}, _acc ->
        {:halt, {:error, task_exit("recording the arrival of #{object.key}", reason)}}
    end)
    |> case do
      {:ok, entries, written} -> {:ok, Enum.reverse(entries), written}
      {:error, _} = error -> error
    end
  end

  # `fun` over the list `items`, as a lazy stream of results in order: `{:ok, result}`, or
  # `{:exit, {item, reason}}` for a task past its deadline. A window of @concurrency tasks
  # runs ahead of the consumer and no further — Task.async_stream bounds only the *running*
  # tasks, so behind one slow request it would run the whole page ahead, lookups the limit
  # never needed. Each task has a deadline well beyond the S3 client's own (two requests,
  # every attempt timing out), so a stuck one becomes an error instead of a hang; a task
  # that raises (a bug) comes back as its exception, re-raised here (the CLI reports it as
  # internal, exit 70) instead of taking the linked caller down. Halting the stream (the
  # limit, an error) kills the tasks still in the window.
  defp in_tasks(items, s3, fun) do
    deadline = deadline_ms(s3)

    guarded = fn item ->
      try do
        {:done, fun.(item)}
      rescue
        exception -> {:crashed, exception, __STACKTRACE__}
      catch
        kind, reason -> {:crashed, %ErlangError{original: {kind, reason}}, __STACKTRACE__}
      end
    end

    Stream.resource(
      fn -> fill(items, :queue.new(), guarded) end,
      fn {rest, window} ->
        case :queue.out(window) do
          {:empty, _} ->
            {:halt, {rest, window}}

          {{:value, {item, task}}, window} ->
            result =
              case Task.yield(task, deadline) || Task.shutdown(task, :brutal_kill) do
                {:ok, {:done, result}} -> {:ok, result}
                {:ok, {:crashed, exception, stacktrace}} -> reraise exception, stacktrace
                nil -> {:exit, {item, :timeout}}
                {:exit, reason} -> {:exit, {item, reason}}
              end

            {[result], fill(rest, window, guarded)}
        end
      end,
      fn {_rest, window} ->
        for {_item, task} <- :queue.to_list(window), do: Task.shutdown(task, :brutal_kill)
      end
    )
  end

  defp fill([item | rest], window, fun) do
    if :queue.len(window) < @concurrency,
      do: fill(rest, :queue.in({item, Task.async(fn -> fun.(item) end)}, window), fun),
      else: {[item | rest], window}
  end

  defp fill([], window, _fun), do: {[], window}

  defp deadline_ms(%S3Client.Config{} = s3) do
    per_request = s3.max_attempts * (s3.connect_timeout_ms + s3.timeout_ms + s3.max_delay_ms)
    2 * per_request
  end

  defp task_exit(what, :timeout),
    do: %TransientError{message: "#{what} took too long (past the S3 client's timeouts)"}

  # Tasks never exit but at their deadline (see in_tasks/3): anything else is a bug.
  defp task_exit(what, reason), do: raise("#{what} exited: #{inspect(reason)}")

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
