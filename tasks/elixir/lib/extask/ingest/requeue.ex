defmodule Extask.Ingest.Requeue do
  @moduledoc """
  Puts one quarantined raw object back under `raw/` for another try (`extask requeue`):
  the object archive moved to `quarantine/_objects/<rest>` because the transform found it
  poison (`Extask.Ingest.Quarantine`), once a person has fixed whatever made it poison
  (a mapping, a provider's format…).

  Steps, in this order:

  1. **restore**: copy `quarantine/_objects/<rest>` → the raw key, unless the raw key
     already holds that version; the copy is conditional on the quarantine copy's ETag,
     then the raw object is **verified**: its size is the ledger marker's and its ETag the
     quarantine copy's (the marker's ETag; for a multipart original, whose copies get the
     MD5 of their bytes, the marker's `archive_etag`);
  2. **unrecord**: delete the ledger marker — from now on discover sees a raw object
     without a marker, i.e. new;
  3. **sidecar**: delete the quarantine sidecar `quarantine/_reasons/<rest>.json`;
  4. **discard**: delete the quarantine copy (conditional on its ETag).

  The arrival marker is never touched: the next discover finds the same ETag there and
  reuses its `arrived_at` (the put-back keeps its original arrival).

  What a crash after each step leaves, and what a re-run does (M = ledger marker with
  outcome quarantined, S = sidecar, Q = quarantine copy, R = the raw key holding Q's
  version):

  | stopped after | M | S | Q | R | the re-run |
  | --- | --- | --- | --- | --- | --- |
  | (not started) | yes | yes | yes | no | every step |
  | restore | yes | yes | yes | yes | sees R holds the version: no copy; then 2–4 |
  | unrecord | no | yes | yes | yes | no marker, but Q and R hold the same version (the sidecar says why it was there): 3–4 |
  | sidecar | no | no | yes | yes | no marker, Q and R hold the same version: 4 |
  | discard | no | no | no | yes | done: nothing quarantined any more — refused as not quarantined |

  So a requeue stopped anywhere finishes on a re-run, and no step ever loses the bytes:
  the quarantine copy is deleted last, only once the raw key holds the same version
  (verified again by every run that gets that far).

  Refused, changing nothing (`{:refused, key, detail}`, the detail saying what the ledger
  says): a marker with outcome `archived` (the object was ingested normally); no marker
  and no quarantine copy (never quarantined, or the transform found it poison but archive
  has not moved it yet); a quarantine copy that is not the marker's version; the raw key
  holding another object (a new delivery: never overwritten); no marker and a quarantine
  copy the raw key does not hold (a person must look).

  `requeue/3` takes `stop_after: step` and `after_step: fun`, as `Extask.Ingest.Archiver`
  does, for tests that stop it between steps against a real server.
  """

  alias Extask.{Ingest, PermanentError}
  alias Extask.Ingest.{Ledger, Quarantine}
  alias S3Client.Error

  @enforce_keys [:s3, :bucket]
  defstruct [:s3, :bucket]

  @type t :: %__MODULE__{s3: S3Client.Config.t(), bucket: String.t()}
  @type step :: :restore | :unrecord | :sidecar | :discard
  @type option :: {:stop_after, step()} | {:after_step, (step(), String.t() -> any())}

  @typedoc """
  `:requeued` with the object's size and ETag under `raw/` and whether an earlier,
  interrupted requeue was finished (`resumed`).
  """
  @type outcome ::
          {:requeued, String.t(),
           %{
             size: non_neg_integer(),
             etag: String.t(),
             reason: String.t() | nil,
             resumed: boolean()
           }}
          | {:stopped, step(), String.t()}
          | {:refused, String.t(), String.t()}
          | {:failed, String.t(), Error.t() | PermanentError.t()}

  @doc "Requeues one raw key (see the module doc); never raises for S3 failures."
  @spec requeue(t(), String.t(), [option()]) :: outcome()
  def requeue(%__MODULE__{} = plan, raw_key, opts \\ []) do
    result =
      with {:ok, marker} <- Ledger.read(plan.s3, plan.bucket, raw_key),
           {:ok, copy} <- head(plan, Ingest.quarantine_key(raw_key)),
           {:ok, raw} <- head(plan, raw_key) do
        case marker do
          %Ledger{outcome: :quarantined} -> from_marker(plan, raw_key, marker, copy, raw, opts)
          %Ledger{} -> {:refused, raw_key, archived_detail(marker)}
          nil -> without_marker(plan, raw_key, copy, raw, opts)
        end
      end

    outcome(result, raw_key)
  end

  # ------------------------------------------------------------------------ marker there

  defp from_marker(plan, raw_key, marker, copy, raw, opts) do
    cond do
      copy != nil and not marker_version?(copy, marker) ->
        {:refused, raw_key,
         "#{Ingest.quarantine_key(raw_key)} is not the version the ledger records " <>
           "(size #{copy.size}, ETag #{copy.etag}; ledger: size #{marker.size}, ETag " <>
           "#{marker.etag}); nothing changed"}

      raw != nil and not marker_version?(raw, marker) ->
        {:refused, raw_key,
         "#{raw_key} holds another object (size #{raw.size}, ETag #{raw.etag}; a new " <>
           "delivery?): not overwritten; the ledger records it quarantined " <>
           "(#{marker.reason}); nothing changed"}

      raw == nil and copy == nil ->
        {:refused, raw_key,
         "the ledger records it quarantined (#{marker.reason}) at " <>
           "#{marker.archive_key}, but neither that copy nor #{raw_key} exists"}

      true ->
        with {:ok, version} <- restore(plan, raw_key, copy, raw, opts),
             :continue <- step_done(:restore, raw_key, opts),
             :ok <- Ledger.delete(plan.s3, plan.bucket, raw_key),
             :continue <- step_done(:unrecord, raw_key, opts),
             :continue <- finish(plan, raw_key, version, opts) do
          {:requeued, Map.merge(version, %{reason: marker.reason, resumed: raw != nil})}
        end
    end
  end

  defp restore(_plan, _raw_key, _copy, raw, _opts) when raw != nil,
    do: {:ok, %{size: raw.size, etag: raw.etag}}

  defp restore(plan, raw_key, copy, nil, _opts) do
    copied =
      S3Client.copy_object(
        plan.s3,
        plan.bucket,
        Ingest.quarantine_key(raw_key),
        plan.bucket,
        raw_key,
        source_if_match: copy.etag
      )

    with {:ok, _} <- precondition(copied, "#{Ingest.quarantine_key(raw_key)} changed"),
         {:ok, restored} <- head(plan, raw_key) do
      if restored != nil and restored.size == copy.size and restored.etag == copy.etag,
        do: {:ok, %{size: restored.size, etag: restored.etag}},
        else:
          {:error,
           %PermanentError{
             message:
               "#{raw_key}: the restored object is not the quarantine copy's version " <>
                 "(#{inspect(restored && Map.take(restored, [:size, :etag]))}, expected " <>
                 "size #{copy.size}, ETag #{copy.etag})"
           }}
    end
  end

  # The quarantine copy's version: the marker's ETag, or for a multipart original the
  # ETag its copy got (the marker's archive_etag).
  defp marker_version?(info, marker),
    do: info.size == marker.size and info.etag in [marker.etag, marker.archive_etag]

  # ------------------------------------------------------------------------- marker gone

  defp without_marker(plan, raw_key, copy, raw, opts) do
    cond do
      copy == nil ->
        {:refused, raw_key, not_quarantined_detail(plan, raw_key)}

      raw != nil and raw.size == copy.size and raw.etag == copy.etag ->
        # A requeue stopped after deleting the marker (or the sidecar): finish it.
        with :continue <- finish(plan, raw_key, %{size: raw.size, etag: raw.etag}, opts) do
          {:requeued, %{size: raw.size, etag: raw.etag, reason: nil, resumed: true}}
        end

      true ->
        {:refused, raw_key,
         "the ledger has no marker for it, and #{Ingest.quarantine_key(raw_key)} exists " <>
           "but #{raw_key} does not hold that version; nothing changed (a person must look)"}
    end
  end

  defp not_quarantined_detail(plan, raw_key) do
    case Quarantine.read(plan.s3, plan.bucket, raw_key) do
      {:ok, %Quarantine{reason: reason}} ->
        "not quarantined: the ledger has no marker for it; the transform found it poison " <>
          "(#{reason}) but archive has not moved it to quarantine yet"

      _none_or_unreadable ->
        "not quarantined: the ledger has no marker for it and there is no quarantine copy"
    end
  end

  # ------------------------------------------------------------------------ both paths

  # Steps 3 and 4: the sidecar, then the quarantine copy (conditional on the version the
  # raw key was just found to hold, so a copy replaced meanwhile is kept).
  defp finish(plan, raw_key, version, opts) do
    with :ok <- S3Client.delete_object(plan.s3, plan.bucket, Ingest.sidecar_key(raw_key)),
         :continue <- step_done(:sidecar, raw_key, opts),
         :ok <- delete_copy(plan, raw_key, version.etag) do
      step_done(:discard, raw_key, opts)
    end
  end

  defp delete_copy(plan, raw_key, etag) do
    key = Ingest.quarantine_key(raw_key)

    case S3Client.delete_object(plan.s3, plan.bucket, key, if_match: etag) do
      :ok -> :ok
      {:error, %Error{status: 404}} -> :ok
      other -> precondition(other, "#{key} changed while being requeued; kept")
    end
  end

  defp step_done(step, raw_key, opts) do
    if callback = opts[:after_step], do: callback.(step, raw_key)
    if opts[:stop_after] == step, do: {:stopped, step}, else: :continue
  end

  defp archived_detail(marker) do
    "not quarantined: the ledger records it archived to " <>
      "s3://#{marker.archive_bucket}/#{marker.archive_key}" <>
      if(marker.run_id, do: " by run #{marker.run_id}", else: "") <>
      if(marker.ingested_at, do: " at #{marker.ingested_at}", else: "")
  end

  defp head(plan, key) do
    case S3Client.head_object(plan.s3, plan.bucket, key) do
      {:ok, info} -> {:ok, info}
      {:error, %Error{status: 404}} -> {:ok, nil}
      {:error, _} = error -> error
    end
  end

  # A failed precondition (412) as a permanent error saying what changed.
  defp precondition({:error, %Error{status: 412} = error}, message),
    do: {:error, %PermanentError{message: message, cause: error}}

  defp precondition(other, _message), do: other

  defp outcome({:requeued, info}, key), do: {:requeued, key, info}
  defp outcome({:stopped, step}, key), do: {:stopped, step, key}
  defp outcome({:refused, _key, _detail} = refused, _key2), do: refused
  defp outcome({:error, error}, key), do: {:failed, key, error}
end
