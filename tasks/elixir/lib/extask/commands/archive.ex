defmodule Extask.Commands.Archive do
  @moduledoc """
  Moves the raw objects of one batch manifest to cold storage.

      extask archive --manifest manifests/<run>/batch-0001.json
                     [--archive-prefix archive/] [--archive-bucket B] [--storage-class GLACIER]
                     [--concurrency 8] [--object-timeout 900]
                     --bucket B --s3-endpoint-url URL [S3 flags]

  For each object of the manifest, concurrently (`--concurrency` at once, in no particular
  order, each bounded by `--object-timeout` seconds): copy to `<archive prefix><raw key>`
  (in `--archive-bucket`, default the same bucket; with `--storage-class` when set), verify
  the copy, write the ledger marker, delete the original — `Extask.Ingest.Archiver`, whose
  module doc has the table of every state a crash can leave and how a re-run finishes it.

  A *poison* object — one the transform could not read, for which it wrote a quarantine
  sidecar (`quarantine/_reasons/<rest>.json`) with the manifest's ETag — goes through the
  same steps to `quarantine/_objects/<rest>` in `--bucket` instead (no storage class), and
  its ledger marker records `"outcome":"quarantined"` and the sidecar's `reason`; the
  sidecar stays. `extask requeue --key` puts such an object back under `raw/`.

  Outcomes: exit 0 when every object is archived or already was; an object that changed
  since discover (or can't be proven archived) is **refused**: left where it is, logged as
  one warn line each (key, reason, detail), and the command exits 65 (permanent: a person
  must look), after archiving every other object. The contract writes a result only on
  exit 0 and 99, so the refused list is in the logs and in the error line's `error`. An S3
  failure on some objects (after the client's retries) exits 75 if any was transient, so
  Airflow retries; a re-run continues where this one stopped.

  Result counts: `objects` (in the manifest), `archived` (finished by this run),
  `quarantined` (poison objects moved to quarantine by this run), `already_archived` (found
  done, either way), `refused` (0 on success), `bytes` (of the objects archived by this
  run; quarantined ones not included). Outputs: `manifest`, `archive_bucket`,
  `archive_prefix`, `refused: []`, `quarantined: [{"key","reason"}…]` (this run's, by key).
  """

  @behaviour Extask.Command

  alias Extask.{Errors, Flag, Ingest, Log, PermanentError, Result, S3Flags, TransientError}
  alias Extask.UsageError
  alias Extask.Ingest.{Archiver, Manifest}

  @max_reported 20

  @impl true
  def name, do: "archive"

  @impl true
  def summary, do: "Copy a manifest's raw objects to the archive, verify, record, delete."

  @impl true
  def flags do
    [
      %Flag{
        name: :manifest,
        type: :path,
        metavar: "KEY",
        required: true,
        doc: "the batch manifest's key in --bucket (from discover's outputs.manifests)"
      },
      %Flag{
        name: :archive_prefix,
        type: :string,
        metavar: "PREFIX",
        default: "archive/",
        doc: "where copies go: <prefix><raw key>; default archive/"
      },
      %Flag{
        name: :archive_bucket,
        type: :string,
        metavar: "NAME",
        doc: "the archive's bucket; default --bucket"
      },
      %Flag{
        name: :storage_class,
        type: {:format, ~r/\A[A-Z_]*\z/, "a storage class like GLACIER (or empty)"},
        metavar: "CLASS",
        doc: "storage class of the copies, e.g. GLACIER; default the bucket's"
      },
      %Flag{
        name: :concurrency,
        type: {:integer, 1, 64},
        metavar: "N",
        default: 8,
        doc: "objects archived at once, 1 to 64; default 8"
      },
      %Flag{
        name: :object_timeout,
        type: {:integer, 1, 86_400},
        metavar: "SECONDS",
        default: 900,
        doc: "longest time for one object (copy included); default 900"
      }
    ] ++ S3Flags.flags()
  end

  @impl true
  def notes, do: S3Flags.notes()

  @impl true
  def run(config, log) do
    with {:ok, settings} <- S3Flags.from_config(config, log),
         {:ok, plan} <- plan(settings, config.opts),
         {:ok, manifest} <- read_manifest(settings, config.opts.manifest) do
      plan = %{plan | run_id: manifest.run_id}

      Log.info(
        log,
        "archive started",
        Map.merge(S3Flags.describe(settings), %{
          manifest: config.opts.manifest,
          objects: length(manifest.objects),
          archive_bucket: plan.archive_bucket,
          archive_prefix: plan.archive_prefix,
          storage_class: plan.storage_class,
          concurrency: config.opts.concurrency
        })
      )

      outcomes = archive_all(plan, manifest.objects, config.opts, log, crash_after(config.env))

      finish(plan, manifest, outcomes, log)
    end
  end

  defp plan(%S3Flags{s3: s3, bucket: bucket}, opts) do
    archive_bucket = blank_to_nil(opts.archive_bucket) || bucket

    with :ok <- check_bucket(archive_bucket),
         {:ok, prefix} <- archive_prefix(opts.archive_prefix, archive_bucket == bucket) do
      {:ok,
       %Archiver{
         s3: s3,
         bucket: bucket,
         archive_bucket: archive_bucket,
         archive_prefix: prefix,
         storage_class: blank_to_nil(opts.storage_class),
         manifest_key: opts.manifest
       }}
    end
  end

  defp check_bucket(bucket) do
    if bucket =~ ~r/\A[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]\z/,
      do: :ok,
      else: usage("expected --archive-bucket to be an S3 bucket name, got: #{inspect(bucket)}")
  end

  defp archive_prefix(prefix, same_bucket?) do
    case Ingest.archive_prefix(prefix, same_bucket?) do
      {:ok, prefix} -> {:ok, prefix}
      {:error, message} -> usage(String.replace(message, "an archive prefix", "--archive-prefix"))
    end
  end

  defp read_manifest(%S3Flags{s3: s3, bucket: bucket}, key) do
    sink = {:fun, [], fn chunk, acc -> [acc, chunk] end}

    with {:ok, %{acc: iodata}} <- S3Client.get_object(s3, bucket, key, sink),
         {:ok, manifest} <- decode_manifest(IO.iodata_to_binary(iodata), bucket, key),
         :ok <- check_raw_keys(manifest, bucket, key) do
      {:ok, manifest}
    end
  end

  defp decode_manifest(text, bucket, key) do
    case Manifest.decode(text) do
      {:ok, manifest} -> {:ok, manifest}
      {:error, error} -> {:error, %{error | message: "s3://#{bucket}/#{key}: " <> error.message}}
    end
  end

  # archive deletes originals: a manifest naming anything but raw objects is refused whole.
  defp check_raw_keys(manifest, bucket, key) do
    case Enum.find(manifest.objects, &(not Ingest.raw_object?(&1.key))) do
      nil ->
        :ok

      object ->
        {:error,
         %PermanentError{
           message:
             "s3://#{bucket}/#{key}: expected only raw objects (raw/<provider>/…) in the " <>
               "manifest, got: #{inspect(object.key)}"
         }}
    end
  end

  # ------------------------------------------------------------------------ the work

  # Objects run in tasks of a private Task.Supervisor, at most `concurrency` at once. Each
  # task runs its object in an inner task it can kill at the deadline: a timed-out object
  # is a (transient) failure of that object only, and nothing is ever killed under a
  # supervisor, which would add OTP crash reports to the one error line of the contract.
  defp archive_all(plan, objects, opts, log, crash_after) do
    {:ok, supervisor} = Task.Supervisor.start_link()
    first = List.first(objects)

    work = fn object ->
      within_deadline(object, opts.object_timeout, log, fn ->
        archive_one(plan, object, log, crash_after, object == first)
      end)
    end

    try do
      supervisor
      |> Task.Supervisor.async_stream_nolink(objects, work,
        max_concurrency: opts.concurrency,
        ordered: false,
        timeout: :infinity,
        zip_input_on_exit: true
      )
      |> Enum.reduce_while([], fn
        # A bug (or the test hook): stop everything now, as a crash would (before the
        # stream's own clean-up kills the other tasks), and let the CLI report it once
        # (internal, exit 70). Unfinished objects are resumed by a re-run.
        {:ok, {:crashed, exception, stacktrace}}, _acc ->
          stop_all(supervisor)
          {:halt, {:crashed, exception, stacktrace}}

        {:ok, outcome}, acc ->
          {:cont, [outcome | acc]}

        {:exit, {object, reason}}, _acc ->
          stop_all(supervisor)
          message = "archiving #{object.key} exited: #{inspect(reason)}"
          {:halt, {:crashed, %RuntimeError{message: message}, []}}
      end)
      |> case do
        {:crashed, exception, stacktrace} ->
          reraise exception, stacktrace

        outcomes ->
          outcomes
      end
    after
      :ok = Supervisor.stop(supervisor)
    end
  end

  defp within_deadline(object, seconds, log, fun) do
    task = Task.async(fun)

    case Task.yield(task, seconds * 1000) || Task.shutdown(task, :brutal_kill) do
      {:ok, outcome} ->
        outcome

      nil ->
        error = %TransientError{message: "archiving #{object.key} took longer than #{seconds} s"}
        outcome = {:failed, object, error}
        log_outcome(outcome, log)
        outcome

      {:exit, reason} ->
        {:crashed, %RuntimeError{message: "archiving #{object.key} exited: #{inspect(reason)}"},
         []}
    end
  end

  # Ends the objects still running with reason :shutdown, which supervisors do not report.
  defp stop_all(supervisor) do
    for pid <- Task.Supervisor.children(supervisor) do
      _ = Task.Supervisor.terminate_child(supervisor, pid)
    end

    :ok
  end

  defp archive_one(plan, object, log, crash_after, first?) do
    after_step = fn step, object ->
      Log.debug(log, "object step done", step: step, key: object.key)
      if first? and step == crash_after, do: raise("crash injected after #{step} (test hook)")
    end

    outcome = Archiver.archive(plan, object, after_step: after_step)
    log_outcome(outcome, log)
    outcome
  rescue
    # Returned, not raised: a crashing task would also get an OTP crash report.
    exception -> {:crashed, exception, __STACKTRACE__}
  catch
    kind, reason -> {:crashed, %ErlangError{original: {kind, reason}}, __STACKTRACE__}
  end

  defp log_outcome({:archived, object}, log),
    do: Log.debug(log, "object archived", key: object.key, bytes: object.size)

  defp log_outcome({:quarantined, object, reason}, log),
    do: Log.info(log, "object quarantined", key: object.key, reason: reason, bytes: object.size)

  defp log_outcome({:already_archived, object}, log),
    do: Log.debug(log, "object already archived", key: object.key)

  defp log_outcome({:refused, object, reason, detail}, log),
    do: Log.warn(log, "object refused", key: object.key, reason: reason, detail: detail)

  defp log_outcome({:failed, object, error}, log),
    do: Log.warn(log, "object failed", key: object.key, error: Errors.chain(error))

  defp log_outcome({:stopped, _step, _object}, _log), do: :ok

  # ---------------------------------------------------------------------- the outcome

  defp finish(plan, manifest, outcomes, log) do
    by_kind = Enum.group_by(outcomes, &elem(&1, 0))
    archived = Map.get(by_kind, :archived, [])
    quarantined = Map.get(by_kind, :quarantined, [])
    refused = Map.get(by_kind, :refused, [])
    failed = Map.get(by_kind, :failed, [])

    counts = %{
      objects: length(manifest.objects),
      archived: length(archived),
      quarantined: length(quarantined),
      already_archived: length(Map.get(by_kind, :already_archived, [])),
      refused: length(refused),
      failed: length(failed),
      bytes: archived |> Enum.map(fn {:archived, object} -> object.size end) |> Enum.sum()
    }

    refused_list =
      refused
      |> Enum.map(fn {:refused, object, reason, detail} ->
        %{key: object.key, reason: reason, detail: detail}
      end)
      |> Enum.sort_by(& &1.key)

    Log.info(log, "archive done", counts)

    cond do
      failed != [] ->
        {:error, failure(failed, refused_list, counts)}

      refused != [] ->
        {:error,
         %PermanentError{
           message:
             "refused #{counts.refused} of #{counts.objects} objects (left in place; " <>
               "archived #{counts.archived}, quarantined #{counts.quarantined}, " <>
               "already archived #{counts.already_archived})",
           cause: describe_refused(refused_list)
         }}

      true ->
        quarantined_list =
          quarantined
          |> Enum.map(fn {:quarantined, object, reason} -> %{key: object.key, reason: reason} end)
          |> Enum.sort_by(& &1.key)

        outputs = %{
          manifest: plan.manifest_key,
          archive_bucket: plan.archive_bucket,
          archive_prefix: plan.archive_prefix,
          refused: [],
          quarantined: quarantined_list
        }

        {:ok, Result.new(name(), Map.delete(counts, :failed), outputs)}
    end
  end

  defp failure(failed, refused_list, counts) do
    failed = Enum.sort_by(failed, fn {:failed, object, _} -> object.key end)
    {:failed, first_object, first_error} = hd(failed)
    transient? = Enum.any?(failed, fn {:failed, _, error} -> Errors.kind(error) == :transient end)

    refused_text =
      if refused_list == [],
        do: "",
        else: "; refused #{length(refused_list)}: #{describe_refused(refused_list)}"

    message =
      "#{counts.failed} of #{counts.objects} objects failed (archived #{counts.archived}, " <>
        "quarantined #{counts.quarantined}, already archived #{counts.already_archived}; " <>
        "a re-run continues)#{refused_text}; " <>
        "first: #{first_object.key}"

    if transient?,
      do: %TransientError{message: message, cause: first_error},
      else: %PermanentError{message: message, cause: first_error}
  end

  defp describe_refused(refused_list) do
    Errors.listing(refused_list, @max_reported, fn item ->
      "#{item.key} (#{item.reason}: #{item.detail})"
    end)
  end

  # The crash hook for tests: EXTASK_ARCHIVE_CRASH_AFTER=copy|record makes the task of the
  # manifest's first object raise after that step, which stops the whole run as a crash
  # would. It is compiled into MIX_ENV=test builds only: the release cannot be made to
  # crash on purpose, whatever its environment.
  if Mix.env() == :test do
    defp crash_after(env) do
      case Map.get(env, "EXTASK_ARCHIVE_CRASH_AFTER") do
        "copy" -> :copy
        "record" -> :record
        _ -> nil
      end
    end
  else
    defp crash_after(_env), do: nil
  end

  defp blank_to_nil(nil), do: nil
  defp blank_to_nil(""), do: nil
  defp blank_to_nil(value), do: value

  defp usage(message), do: {:error, %UsageError{message: message}}
end
