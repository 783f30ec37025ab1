defmodule Extask.Commands.Requeue do
  @moduledoc """
  Puts quarantined raw objects back under `raw/` for another try.

      extask requeue --object RAW_KEY [--object RAW_KEY …] --bucket B --s3-endpoint-url URL [S3 flags]

  A poison object (one the transform could not read) is moved by archive to
  `quarantine/_objects/<rest>`, with a ledger marker of outcome quarantined and the
  transform's sidecar `quarantine/_reasons/<rest>.json` saying why. Once the cause is fixed,
  requeue puts it back: for each `--object` (one at a time, in the order given, duplicates
  once) it copies the quarantine copy back to the raw key and verifies it, deletes the
  ledger marker, then the sidecar, then the quarantine copy — `Extask.Ingest.Requeue`,
  whose module doc has the steps and what a crash after each leaves: a re-run with the
  same keys finishes the job. The next discover finds the object new, with its original
  arrival (the arrival marker is left alone).

  A key must be a raw object key (`raw/<provider>/<name>`), else bad usage (exit 64,
  before anything is touched). A key that is not quarantined — the ledger records it
  archived, or has no marker for it — or whose state requeue cannot safely change (the
  raw key holds another object, the quarantine copy is not the ledger's version) is
  **refused**: left as it is, one warn line each (`key`, `detail`: what the ledger says),
  after every other key was requeued; the command then exits 65 (permanent). S3
  failures: exit 75 when any was transient (a re-run continues), else 65.

  Result (exit 0): counts `keys`, `requeued`, `resumed` (of them, interrupted requeues
  finished), `bytes`; outputs `requeued` (`[{"key","size","etag","reason"}…]`), `bucket`.
  """

  @behaviour Extask.Command

  alias Extask.{Errors, Flag, Ingest, Log, PermanentError, Result, S3Flags, TransientError}
  alias Extask.UsageError
  alias Extask.Ingest.Requeue

  @max_reported 20

  @impl true
  def name, do: "requeue"

  @impl true
  def summary, do: "Put quarantined raw objects back under raw/ for another try."

  @impl true
  def flags do
    [
      %Flag{
        name: :object,
        type: :path,
        metavar: "RAW_KEY",
        required: true,
        repeatable: true,
        doc: "a quarantined raw object's key (raw/<provider>/…)"
      }
    ] ++ S3Flags.flags()
  end

  @impl true
  def notes, do: S3Flags.notes()

  @impl true
  def run(config, log) do
    keys = Enum.uniq(config.opts.object)

    with :ok <- check_keys(keys),
         {:ok, %S3Flags{s3: s3, bucket: bucket} = settings} <- S3Flags.from_config(config, log) do
      Log.info(log, "requeue started", Map.merge(S3Flags.describe(settings), %{keys: keys}))
      plan = %Requeue{s3: s3, bucket: bucket}

      outcomes =
        Enum.map(keys, fn key ->
          outcome = Requeue.requeue(plan, key)
          log_outcome(outcome, log)
          outcome
        end)

      finish(bucket, keys, outcomes, log)
    end
  end

  defp check_keys(keys) do
    case Enum.reject(keys, &Ingest.raw_object?/1) do
      [] ->
        :ok

      [bad | _] ->
        {:error,
         %UsageError{
           message:
             "expected --object to be a raw object key (raw/<provider>/…), got: #{inspect(bad)}"
         }}
    end
  end

  defp log_outcome({:requeued, key, info}, log),
    do: Log.info(log, "object requeued", Map.put(info, :key, key))

  defp log_outcome({:refused, key, detail}, log),
    do: Log.warn(log, "object refused", key: key, detail: detail)

  defp log_outcome({:failed, key, error}, log),
    do: Log.warn(log, "object failed", key: key, error: Errors.chain(error))

  defp log_outcome({:stopped, _step, _key}, _log), do: :ok

  defp finish(bucket, keys, outcomes, log) do
    requeued = for {:requeued, key, info} <- outcomes, do: Map.put(info, :key, key)
    refused = for {:refused, key, detail} <- outcomes, do: %{key: key, detail: detail}
    failed = for {:failed, key, error} <- outcomes, do: {key, error}

    counts = %{
      keys: length(keys),
      requeued: length(requeued),
      resumed: Enum.count(requeued, & &1.resumed),
      bytes: requeued |> Enum.map(& &1.size) |> Enum.sum()
    }

    Log.info(
      log,
      "requeue done",
      Map.merge(counts, %{refused: length(refused), failed: length(failed)})
    )

    cond do
      failed != [] ->
        {:error, failure(failed, refused, counts)}

      refused != [] ->
        {:error,
         %PermanentError{
           message:
             "refused #{length(refused)} of #{counts.keys} keys (left as they are; " <>
               "requeued #{counts.requeued})",
           cause: describe(refused)
         }}

      true ->
        outputs = %{
          requeued: Enum.map(requeued, &Map.take(&1, [:key, :size, :etag, :reason])),
          bucket: bucket
        }

        {:ok, Result.new(name(), counts, outputs)}
    end
  end

  defp failure(failed, refused, counts) do
    [{first_key, first_error} | _] = failed
    transient? = Enum.any?(failed, fn {_key, error} -> Errors.kind(error) == :transient end)
    refused_text = if refused == [], do: "", else: "; refused: #{describe(refused)}"

    message =
      "#{length(failed)} of #{counts.keys} keys failed (requeued #{counts.requeued}; " <>
        "a re-run continues)#{refused_text}; first: #{first_key}"

    if transient?,
      do: %TransientError{message: message, cause: first_error},
      else: %PermanentError{message: message, cause: first_error}
  end

  defp describe(refused) do
    Errors.listing(refused, @max_reported, fn item -> "#{item.key}: #{item.detail}" end)
  end
end
