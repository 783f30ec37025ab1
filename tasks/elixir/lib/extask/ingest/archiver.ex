defmodule Extask.Ingest.Archiver do
  @moduledoc """
  Archives one raw object of a manifest: **copy** it to its destination, **verify** the
  copy, **record** it in the ledger, then **delete** the original — in that order, so that
  at every point each object exists as its original or as a verified copy (or both).

  The destination: `<archive prefix><raw key>` in the archive bucket (with the plan's
  storage class) — unless the object is *poison*: a quarantine sidecar
  (`Extask.Ingest.Quarantine`, written by the transform) exists with the manifest's ETag.
  Then it goes to `quarantine/_objects/<rest>` in the pipeline's own bucket, without a
  storage class, and its ledger marker says `outcome` quarantined with the sidecar's
  `reason` (outcome `:quarantined`). The sidecar is looked up first on every run and archive
  never deletes it, so a re-run picks the same destination; a sidecar naming another ETag
  is about another version and is ignored. Below, "archive copy" is the copy at the
  object's destination, whichever it is: the table holds for both.

  Every run starts by looking at what is there, so re-running after a crash at any point
  finishes the job and never repeats harm:

  | original | archive copy | ledger marker | what `archive/3` does | outcome |
  | --- | --- | --- | --- | --- |
  | as in the manifest | none | – | copy (only if the source still has the manifest's ETag), verify, record, delete | `:archived` (`:quarantined`) |
  | as in the manifest | verified | any | record, delete | `:archived` (`:quarantined`) |
  | as in the manifest | a different object | – | nothing: never overwrite an archive copy | refused `:archive_conflict` |
  | changed (size or ETag) | – | – | nothing: the new content was never ingested | refused `:changed` |
  | gone | – | this version | nothing left to do | `:already_archived` |
  | gone | verified | none | record | `:archived` (`:quarantined`) |
  | gone | not verified | none | nothing: cannot prove it is archived | refused `:missing` |
  | gone | – | another version | nothing | refused `:ledger_mismatch` |

  The delete is conditional (`If-Match` with the manifest's ETag, where the server supports
  conditional deletes, as AWS and Versity do), so an original overwritten after its copy
  was verified is left in place (refused `:changed`) instead of deleted unarchived.

  **Verification**: the copy's size and ETag equal the manifest's. A server-side copy of a
  single-part object keeps its MD5 ETag (checked against the project's server); a
  multipart-uploaded original has an ETag like `…-3`, which a copy does not keep (the copy
  gets the MD5 of its content), so then the original is streamed and its MD5 compared to
  the copy's ETag instead. CopyObject copies at most 5 GiB, so larger objects are refused
  (`:too_large`) rather than half-handled.

  `archive/3` takes `stop_after: :copy | :record` (stop after that step, as a crash would)
  and `after_step: fun` (called with the step and the object after each step) — what
  tests use to crash the pipeline between steps against a real server, without mocks.
  """

  alias Extask.{Ingest, PermanentError}
  alias Extask.Ingest.{Ledger, Manifest, Quarantine}
  alias S3Client.Error

  @enforce_keys [:s3, :bucket, :archive_bucket, :archive_prefix]
  defstruct [
    :s3,
    :bucket,
    :archive_bucket,
    :archive_prefix,
    :storage_class,
    :run_id,
    :manifest_key
  ]

  @max_copy_bytes 5 * 1024 * 1024 * 1024

  @type t :: %__MODULE__{
          s3: S3Client.Config.t(),
          bucket: String.t(),
          archive_bucket: String.t(),
          archive_prefix: String.t(),
          storage_class: String.t() | nil,
          run_id: String.t() | nil,
          manifest_key: String.t() | nil
        }

  @type step :: :copy | :record | :delete
  @type reason ::
          :changed
          | :missing
          | :archive_conflict
          | :copy_unverified
          | :ledger_mismatch
          | :too_large

  @type outcome ::
          {:archived, Manifest.object()}
          | {:quarantined, Manifest.object(), String.t()}
          | {:already_archived, Manifest.object()}
          | {:stopped, step(), Manifest.object()}
          | {:refused, Manifest.object(), reason(), String.t()}
          | {:failed, Manifest.object(), Error.t() | PermanentError.t()}

  @type option ::
          {:stop_after, :copy | :record} | {:after_step, (step(), Manifest.object() -> any())}

  @typedoc "What HeadObject tells about a copy; `verify/2` needs only its size and ETag."
  @type copy_info :: %{
          required(:size) => non_neg_integer() | nil,
          required(:etag) => String.t() | nil,
          optional(atom()) => term()
        }

  @typedoc """
  Where one object goes: the archive (`:archived`), or quarantine (`:quarantined`, with the
  sidecar's reason).
  """
  @type destination :: %{
          bucket: String.t(),
          key: String.t(),
          storage_class: String.t() | nil,
          outcome: Ledger.outcome(),
          reason: String.t() | nil
        }

  @typedoc "What a copy looks like next to the manifest's object (see `verify/2`)."
  @type verdict :: :verified | :absent | :needs_content_check | {:mismatch, String.t()}

  @doc """
  Archives one object (see the module doc); never raises for S3 failures, which come back
  as `{:failed, object, error}` (the object is then in one of the states of the table, and
  a re-run continues from there). A poison object moved to quarantine by this call is
  `{:quarantined, object, reason}`.
  """
  @spec archive(t(), Manifest.object(), [option()]) :: outcome()
  def archive(%__MODULE__{} = plan, object, opts \\ []) do
    case destination(plan, object) do
      {:ok, dest} -> plan |> archive_to(dest, object, opts) |> outcome(object, dest)
      {:error, error} -> {:failed, object, error}
    end
  end

  @doc """
  The destination of `object` (see the module doc): one GET of its quarantine sidecar.
  """
  @spec destination(t(), Manifest.object()) ::
          {:ok, destination()} | {:error, Error.t() | PermanentError.t()}
  def destination(%__MODULE__{} = plan, object) do
    with {:ok, sidecar} <- Quarantine.read(plan.s3, plan.bucket, object.key) do
      if Quarantine.applies?(sidecar, object) do
        {:ok,
         %{
           bucket: plan.bucket,
           key: Ingest.quarantine_key(object.key),
           storage_class: nil,
           outcome: :quarantined,
           reason: sidecar.reason
         }}
      else
        {:ok,
         %{
           bucket: plan.archive_bucket,
           key: archive_key(plan, object.key),
           storage_class: plan.storage_class,
           outcome: :archived,
           reason: nil
         }}
      end
    end
  end

  defp archive_to(plan, dest, object, opts) do
    with {:ok, original} <- head(plan.s3, plan.bucket, object.key) do
      cond do
        original == nil ->
          without_original(plan, dest, object, opts)

        not same_version?(original, object) ->
          {:refused, :changed,
           "the original changed since discover (now size #{original.size}, ETag " <>
             "#{original.etag}; manifest: size #{object.size}, ETag #{object.etag}); left in place"}

        object.size > @max_copy_bytes ->
          {:refused, :too_large,
           "#{object.size} bytes: CopyObject copies at most 5 GiB; left in place"}

        true ->
          with_original(plan, dest, object, opts)
      end
    end
  end

  @doc "Where `archive/3` puts the copy of `key` (not poison)."
  @spec archive_key(t(), String.t()) :: String.t()
  def archive_key(%__MODULE__{archive_prefix: prefix}, key), do: Ingest.archive_key(prefix, key)

  @doc """
  Judges a copy (`nil` when there is none) against the manifest's object: size, then ETag;
  a multipart ETag (`…-N`) against a plain MD5 ETag needs the content compared.

      iex> object = %{key: "raw/a/b", size: 3, etag: "900150983cd24fb0d6963f7d28e17f72"}
      iex> Extask.Ingest.Archiver.verify(object, nil)
      :absent
      iex> Extask.Ingest.Archiver.verify(object, %{size: 3, etag: "900150983cd24fb0d6963f7d28e17f72"})
      :verified
      iex> Extask.Ingest.Archiver.verify(object, %{size: 4, etag: "900150983cd24fb0d6963f7d28e17f72"})
      {:mismatch, "size 4, expected 3"}
      iex> Extask.Ingest.Archiver.verify(object, %{size: 3, etag: "d41d8cd98f00b204e9800998ecf8427e"})
      {:mismatch, "ETag d41d8cd98f00b204e9800998ecf8427e, expected 900150983cd24fb0d6963f7d28e17f72"}
      iex> Extask.Ingest.Archiver.verify(%{object | etag: "a1b2c3d4e5f60718293a4b5c6d7e8f90-2"},
      ...>   %{size: 3, etag: "900150983cd24fb0d6963f7d28e17f72"})
      :needs_content_check
  """
  @spec verify(Manifest.object(), copy_info() | nil) :: verdict()
  def verify(_object, nil), do: :absent

  def verify(object, copy) do
    cond do
      copy.size != object.size ->
        {:mismatch, "size #{inspect(copy.size)}, expected #{object.size}"}

      copy.etag == object.etag ->
        :verified

      multipart_etag?(object.etag) and md5_etag?(copy.etag) ->
        :needs_content_check

      true ->
        {:mismatch, "ETag #{copy.etag}, expected #{object.etag}"}
    end
  end

  @doc """
  Tells whether an ETag is a multipart upload's (`<hex>-<parts>`).

      iex> Extask.Ingest.Archiver.multipart_etag?("a1b2c3d4e5f60718293a4b5c6d7e8f90-12")
      true
      iex> Extask.Ingest.Archiver.multipart_etag?("900150983cd24fb0d6963f7d28e17f72")
      false
  """
  @spec multipart_etag?(String.t() | nil) :: boolean()
  def multipart_etag?(etag), do: is_binary(etag) and etag =~ ~r/\A[0-9a-f]{32}-\d+\z/

  defp md5_etag?(etag), do: is_binary(etag) and etag =~ ~r/\A[0-9a-f]{32}\z/

  # ------------------------------------------------------------------ original present

  defp with_original(plan, dest, object, opts) do
    with {:ok, copy} <- ensure_copy(plan, dest, object),
         :continue <- step_done(:copy, object, opts),
         :ok <- record(plan, dest, object, copy),
         :continue <- step_done(:record, object, opts),
         :ok <- delete_original(plan, object),
         :continue <- step_done(:delete, object, opts) do
      :archived
    end
  end

  defp step_done(step, object, opts) do
    if callback = opts[:after_step], do: callback.(step, object)
    if opts[:stop_after] == step, do: {:stopped, step}, else: :continue
  end

  defp ensure_copy(plan, dest, object) do
    with {:ok, copy} <- head(plan.s3, dest.bucket, dest.key) do
      case judge(plan, object, copy) do
        :verified ->
          {:ok, copy}

        :absent ->
          make_copy(plan, dest, object)

        {:mismatch, detail} ->
          {:refused, :archive_conflict,
           "#{dest.key} holds a different object (#{detail}); not overwritten, original left in place"}

        {:error, _} = error ->
          error
      end
    end
  end

  defp make_copy(plan, dest, object) do
    copied =
      S3Client.copy_object(plan.s3, plan.bucket, object.key, dest.bucket, dest.key,
        storage_class: dest.storage_class,
        source_if_match: object.etag
      )

    case copied do
      {:ok, _} ->
        with {:ok, copy} <- head(plan.s3, dest.bucket, dest.key) do
          case judge(plan, object, copy) do
            :verified -> {:ok, copy}
            :absent -> {:refused, :copy_unverified, "no copy found after CopyObject"}
            {:mismatch, detail} -> {:refused, :copy_unverified, "the copy differs: #{detail}"}
            {:error, _} = error -> error
          end
        end

      {:error, %Error{status: 412}} ->
        {:refused, :changed,
         "the original changed since discover (the conditional copy was refused); left in place"}

      {:error, %Error{status: 404, code: "NoSuchKey"}} ->
        # Gone between our HEAD and the copy: another run may have finished it.
        without_original(plan, dest, object, [])

      {:error, _} = error ->
        error
    end
  end

  # verify/2, plus the content comparison a multipart original needs.
  defp judge(plan, object, copy) do
    case verify(object, copy) do
      :needs_content_check -> compare_content(plan, object, copy)
      verdict -> verdict
    end
  end

  defp compare_content(plan, object, copy) do
    sink = {:fun, :crypto.hash_init(:md5), fn chunk, md5 -> :crypto.hash_update(md5, chunk) end}

    case S3Client.get_object(plan.s3, plan.bucket, object.key, sink) do
      {:ok, %{etag: etag, acc: md5}} when etag == object.etag ->
        content_md5 = md5 |> :crypto.hash_final() |> Base.encode16(case: :lower)

        if content_md5 == copy.etag,
          do: :verified,
          else: {:mismatch, "content MD5 of the original #{content_md5}, copy ETag #{copy.etag}"}

      {:ok, %{etag: etag}} ->
        {:mismatch, "the original changed while being compared (ETag #{etag})"}

      {:error, %Error{status: 404}} ->
        {:mismatch, "the original is gone: cannot compare a multipart object's content"}

      {:error, _} = error ->
        error
    end
  end

  defp record(plan, dest, object, copy) do
    marker = %Ledger{
      key: object.key,
      size: object.size,
      etag: object.etag,
      archive_bucket: dest.bucket,
      archive_key: dest.key,
      archive_etag: copy.etag,
      run_id: plan.run_id,
      manifest: plan.manifest_key,
      ingested_at: now(),
      outcome: dest.outcome,
      reason: dest.reason
    }

    Ledger.write(plan.s3, plan.bucket, marker)
  end

  defp delete_original(plan, object) do
    case S3Client.delete_object(plan.s3, plan.bucket, object.key, if_match: object.etag) do
      :ok ->
        :ok

      {:error, %Error{status: 404}} ->
        :ok

      {:error, %Error{status: 412}} ->
        {:refused, :changed,
         "the original changed after its copy was verified (the conditional delete was " <>
           "refused); left in place, the ledger records the archived version"}

      {:error, _} = error ->
        error
    end
  end

  # ------------------------------------------------------------------- original gone

  defp without_original(plan, dest, object, opts) do
    with {:ok, marker} <- Ledger.read(plan.s3, plan.bucket, object.key) do
      cond do
        marker != nil and marker.etag == object.etag and marker.size == object.size ->
          :already_archived

        marker != nil ->
          {:refused, :ledger_mismatch,
           "the original is gone and the ledger records another version (ETag #{marker.etag})"}

        true ->
          complete_from_copy(plan, dest, object, opts)
      end
    end
  end

  # Gone, no marker: archived only if a verified copy proves it; then finish the ledger.
  defp complete_from_copy(plan, dest, object, opts) do
    with {:ok, copy} <- head(plan.s3, dest.bucket, dest.key) do
      case verify(object, copy) do
        :verified ->
          with :ok <- record(plan, dest, object, copy),
               :continue <- step_done(:record, object, opts) do
            :archived
          end

        _other ->
          {:refused, :missing,
           "the original is gone and no verified archive copy exists (nothing in the ledger)"}
      end
    end
  end

  # ---------------------------------------------------------------------------- helpers

  defp head(s3, bucket, key) do
    case S3Client.head_object(s3, bucket, key) do
      {:ok, info} -> {:ok, info}
      {:error, %Error{status: 404}} -> {:ok, nil}
      {:error, _} = error -> error
    end
  end

  defp same_version?(info, object), do: info.size == object.size and info.etag == object.etag

  defp outcome(:archived, object, %{outcome: :quarantined, reason: reason}),
    do: {:quarantined, object, reason}

  defp outcome(:archived, object, _dest), do: {:archived, object}
  defp outcome(:already_archived, object, _dest), do: {:already_archived, object}
  defp outcome({:stopped, step}, object, _dest), do: {:stopped, step, object}
  defp outcome({:refused, reason, detail}, object, _dest), do: {:refused, object, reason, detail}
  defp outcome({:error, error}, object, _dest), do: {:failed, object, error}

  defp now, do: Extask.Log.format_ts(System.system_time(:millisecond))
end
