defmodule Extask.Ingest.Ledger do
  @moduledoc """
  The ingest ledger: which raw objects have been ingested, kept in S3 itself as **one
  marker object per ingested raw key**, at `ledger/ingested/<raw key>.json`
  (`Extask.Ingest.ledger_key/1`).

  Why markers rather than one ledger file (or a file per run):

    * **no read-modify-write**: archive workers record objects concurrently, from any number
      of batches and runs, and S3 has no append; a marker is one idempotent PUT, and
      re-recording a key overwrites its own marker — there is never a duplicate entry;
    * **cheap to look up**: discover asks for the marker of each raw key it lists (one GET
      per key, a 404 when not ingested, many at once), so its cost follows the backlog
      under `raw/`, never the ledger's years of history (see `Extask.Commands.Discover`);
    * **crash-safe**: a marker exists only after the archive copy was verified, and it is
      written before the original is deleted, so every state a crash can leave is
      recognisable (`Extask.Ingest.Archiver`);
    * **auditable**: each marker says what was ingested (key, size, ETag), where the cold
      copy is (bucket, key, its ETag), when, and by which run and manifest.

  A marker:

      {"key":"raw/acme/a.csv","size":3,"etag":"9001…","archive_bucket":"polyetl",
       "archive_key":"archive/raw/acme/a.csv","archive_etag":"9001…","run_id":"r1",
       "manifest":"manifests/r1/batch-0001.json","ingested_at":"2026-11-23T06:37:30.123Z",
       "outcome":"archived","reason":null}

  `outcome` says where the object went: `archived` (to the archive) or `quarantined` (a
  poison object, moved to `quarantine/_objects/<rest>` in the same bucket, then
  `archive_bucket`/`archive_key` name that copy), with the transform's `reason` for a
  quarantined one (`nil` otherwise). Markers written before these fields existed decode
  as archived with no reason. `extask requeue` deletes the marker of a quarantined object
  it puts back under `raw/`.
  """

  alias Extask.{Ingest, JSON, PermanentError}
  alias Extask.Ingest.Store
  alias S3Client.Error

  # Every field of a marker, in the order they are written.
  @fields [
    :key,
    :size,
    :etag,
    :archive_bucket,
    :archive_key,
    :archive_etag,
    :run_id,
    :manifest,
    :ingested_at,
    :outcome,
    :reason
  ]

  @enforce_keys [:key, :size, :etag, :archive_bucket, :archive_key]
  defstruct Enum.map(@fields, fn
              :outcome -> {:outcome, :archived}
              field -> {field, nil}
            end)

  @type outcome :: :archived | :quarantined
  @type t :: %__MODULE__{
          key: String.t(),
          size: non_neg_integer(),
          etag: String.t(),
          archive_bucket: String.t(),
          archive_key: String.t(),
          archive_etag: String.t() | nil,
          run_id: String.t() | nil,
          manifest: String.t() | nil,
          ingested_at: String.t() | nil,
          outcome: outcome(),
          reason: String.t() | nil
        }

  @doc """
  A marker as JSON text, fields in a fixed order.

      iex> marker = %Extask.Ingest.Ledger{key: "raw/a/b.csv", size: 3, etag: "e1",
      ...>   archive_bucket: "polyetl", archive_key: "archive/raw/a/b.csv", archive_etag: "e1",
      ...>   run_id: "r1", manifest: "manifests/r1/batch-0001.json", ingested_at: "2026-11-23T06:37:30.123Z"}
      iex> text = Extask.Ingest.Ledger.encode(marker)
      iex> String.slice(text, 0, 47)
      ~S({"key":"raw/a/b.csv","size":3,"etag":"e1","arch)
      iex> Extask.Ingest.Ledger.decode(text)
      {:ok, marker}
      iex> String.slice(text, -35, 35)
      ~S("outcome":"archived","reason":null})
      iex> Extask.Ingest.Ledger.decode(~S({"key":"raw/a/b.csv"}))
      {:error, "expected a ledger marker with key, size, etag, archive_bucket and archive_key"}

  A quarantined object's marker, and one from before `outcome` existed:

      iex> {:ok, marker} = Extask.Ingest.Ledger.decode(~S({"key":"raw/a/b.csv","size":3,"etag":"e1",) <>
      ...>   ~S("archive_bucket":"polyetl","archive_key":"quarantine/_objects/a/b.csv","outcome":"quarantined","reason":"corrupt_gzip"}))
      iex> {marker.outcome, marker.reason}
      {:quarantined, "corrupt_gzip"}
      iex> {:ok, old} = Extask.Ingest.Ledger.decode(~S({"key":"raw/a/b.csv","size":3,"etag":"e1",) <>
      ...>   ~S("archive_bucket":"polyetl","archive_key":"archive/raw/a/b.csv"}))
      iex> {old.outcome, old.reason}
      {:archived, nil}
      iex> Extask.Ingest.Ledger.decode(~S({"key":"raw/a/b.csv","size":3,"etag":"e1",) <>
      ...>   ~S("archive_bucket":"polyetl","archive_key":"archive/raw/a/b.csv","outcome":"lost"}))
      {:error, ~S(expected the ledger marker's outcome to be "archived" or "quarantined", got: "lost")}
  """
  @spec encode(t()) :: String.t()
  def encode(%__MODULE__{} = marker) do
    JSON.encode_object(
      for field <- @fields do
        case {field, Map.fetch!(marker, field)} do
          {:outcome, outcome} -> {:outcome, Atom.to_string(outcome)}
          pair -> pair
        end
      end
    )
  end

  @doc "Decodes a marker (see `encode/1`)."
  @spec decode(String.t()) :: {:ok, t()} | {:error, String.t()}
  def decode(text) do
    case JSON.decode(text) do
      {:ok,
       %{
         "key" => key,
         "size" => size,
         "etag" => etag,
         "archive_bucket" => archive_bucket,
         "archive_key" => archive_key
       } = json}
      when is_binary(key) and is_integer(size) and size >= 0 and is_binary(etag) and
             is_binary(archive_bucket) and is_binary(archive_key) ->
        with {:ok, outcome} <- outcome(json["outcome"]) do
          {:ok,
           %__MODULE__{
             key: key,
             size: size,
             etag: etag,
             archive_bucket: archive_bucket,
             archive_key: archive_key,
             archive_etag: string_or_nil(json["archive_etag"]),
             run_id: string_or_nil(json["run_id"]),
             manifest: string_or_nil(json["manifest"]),
             ingested_at: string_or_nil(json["ingested_at"]),
             outcome: outcome,
             reason: string_or_nil(json["reason"])
           }}
        end

      {:ok, _other} ->
        {:error, "expected a ledger marker with key, size, etag, archive_bucket and archive_key"}

      {:error, error} ->
        {:error, error.message}
    end
  end

  defp string_or_nil(value) when is_binary(value), do: value
  defp string_or_nil(_other), do: nil

  defp outcome(nil), do: {:ok, :archived}
  defp outcome("archived"), do: {:ok, :archived}
  defp outcome("quarantined"), do: {:ok, :quarantined}

  defp outcome(other),
    do:
      {:error,
       ~s(expected the ledger marker's outcome to be "archived" or "quarantined", got: ) <>
         JSON.encode!(other)}

  @doc """
  The marker of `raw_key`, or `nil` when the ledger has none. A marker that cannot be
  decoded is a permanent error: the ledger is damaged and needs a person.
  """
  @spec read(S3Client.Config.t(), String.t(), String.t()) ::
          {:ok, t() | nil} | {:error, Error.t() | PermanentError.t()}
  def read(s3, bucket, raw_key) do
    Store.get_json(s3, bucket, Ingest.ledger_key(raw_key), &decode/1, "ledger marker")
  end

  @doc """
  Deletes the marker of `raw_key` (`extask requeue`: the object goes back to `raw/` to be
  ingested again); deleting a marker that is not there succeeds.
  """
  @spec delete(S3Client.Config.t(), String.t(), String.t()) :: :ok | {:error, Error.t()}
  def delete(s3, bucket, raw_key),
    do: S3Client.delete_object(s3, bucket, Ingest.ledger_key(raw_key))

  @doc "Writes (or rewrites: one marker per raw key, never two) the marker of `marker.key`."
  @spec write(S3Client.Config.t(), String.t(), t()) :: :ok | {:error, Error.t()}
  def write(s3, bucket, %__MODULE__{} = marker) do
    key = Ingest.ledger_key(marker.key)

    case S3Client.put_object(s3, bucket, key, encode(marker), content_type: "application/json") do
      {:ok, _} -> :ok
      {:error, _} = error -> error
    end
  end
end
