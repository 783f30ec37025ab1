defmodule Extask.Ingest.Quarantine do
  @moduledoc """
  Poison objects: raw objects the transform cannot read as a whole (corrupt gzip, a bad
  header, an unknown provider…). The transform does not fail its batch for them; it writes
  a **sidecar** at `quarantine/_reasons/<rest>.json` (`Extask.Ingest.sidecar_key/1`):

      {"key":"raw/acme/a.csv.gz","etag":"9001…","size":3,"reason":"corrupt_gzip","detail":"…",
       "quarantine_key":"quarantine/_objects/acme/a.csv.gz","manifest":"manifests/…",
       "detected_at":"2026-12-06T14:00:00.123Z"}

  The ETag is the manifest's (the version found poison). A sidecar speaks for that version
  only: load skips, and archive moves to `quarantine/_objects/<rest>`
  (`Extask.Ingest.quarantine_key/1`), an object whose manifest ETag equals the sidecar's
  (`applies?/2`); any other version under the key is handled normally. Archive keeps the
  sidecar (it says why the object is in quarantine); `extask requeue` deletes it with the
  quarantine copy when it puts the object back under `raw/`.
  """

  alias Extask.{Ingest, JSON, PermanentError}
  alias Extask.Ingest.Store
  alias S3Client.Error

  @enforce_keys [:key, :etag, :reason]
  defstruct [:key, :etag, :size, :reason, :detail, :quarantine_key, :manifest, :detected_at]

  @type t :: %__MODULE__{
          key: String.t(),
          etag: String.t(),
          size: non_neg_integer() | nil,
          reason: String.t(),
          detail: String.t() | nil,
          quarantine_key: String.t() | nil,
          manifest: String.t() | nil,
          detected_at: String.t() | nil
        }

  @doc """
  Decodes a sidecar; `key`, `etag` and `reason` are required (ETags compared unquoted).

      iex> {:ok, sidecar} = Extask.Ingest.Quarantine.decode(~S({"key":"raw/acme/a.gz","etag":"\\"e1\\"","size":3,) <>
      ...>   ~S("reason":"corrupt_gzip","detail":"invalid header","quarantine_key":"quarantine/_objects/acme/a.gz",) <>
      ...>   ~S("manifest":null,"detected_at":"2026-12-06T14:00:00.123Z"}))
      iex> {sidecar.key, sidecar.etag, sidecar.size, sidecar.reason, sidecar.manifest}
      {"raw/acme/a.gz", "e1", 3, "corrupt_gzip", nil}
      iex> Extask.Ingest.Quarantine.decode(~S({"key":"raw/acme/a.gz","etag":"e1"}))
      {:error, "expected a quarantine sidecar with key, etag and reason (strings)"}
  """
  @spec decode(String.t()) :: {:ok, t()} | {:error, String.t()}
  def decode(text) do
    case JSON.decode(text) do
      {:ok, %{"key" => key, "etag" => etag, "reason" => reason} = json}
      when is_binary(key) and is_binary(etag) and etag != "" and is_binary(reason) ->
        {:ok,
         %__MODULE__{
           key: key,
           etag: S3Client.unquote_etag(etag),
           size: if(is_integer(json["size"]) and json["size"] >= 0, do: json["size"]),
           reason: reason,
           detail: string_or_nil(json["detail"]),
           quarantine_key: string_or_nil(json["quarantine_key"]),
           manifest: string_or_nil(json["manifest"]),
           detected_at: string_or_nil(json["detected_at"])
         }}

      {:ok, _other} ->
        {:error, "expected a quarantine sidecar with key, etag and reason (strings)"}

      {:error, error} ->
        {:error, error.message}
    end
  end

  defp string_or_nil(value) when is_binary(value), do: value
  defp string_or_nil(_other), do: nil

  @doc """
  Tells whether a sidecar (or `nil`) is about this very version of the object.

      iex> sidecar = %Extask.Ingest.Quarantine{key: "raw/a/b", etag: "e1", reason: "bad_header"}
      iex> {Extask.Ingest.Quarantine.applies?(sidecar, %{key: "raw/a/b", etag: "e1"}),
      ...>  Extask.Ingest.Quarantine.applies?(sidecar, %{key: "raw/a/b", etag: "e2"}),
      ...>  Extask.Ingest.Quarantine.applies?(nil, %{key: "raw/a/b", etag: "e1"})}
      {true, false, false}
  """
  @spec applies?(t() | nil, %{required(:key) => String.t(), required(:etag) => String.t()}) ::
          boolean()
  def applies?(nil, _object), do: false

  def applies?(%__MODULE__{key: key, etag: etag}, object),
    do: key == object.key and etag == object.etag

  @doc """
  The sidecar of `raw_key`, or `nil` when there is none. One that cannot be decoded is a
  permanent error: whether the object is poison cannot be told, so a person must look.
  """
  @spec read(S3Client.Config.t(), String.t(), String.t()) ::
          {:ok, t() | nil} | {:error, Error.t() | PermanentError.t()}
  def read(s3, bucket, raw_key) do
    Store.get_json(s3, bucket, Ingest.sidecar_key(raw_key), &decode/1, "quarantine sidecar")
  end
end
