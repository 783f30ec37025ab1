defmodule Extask.Ingest.Arrival do
  @moduledoc """
  When discover first saw a raw object version: one **arrival marker** per raw key, at
  `ledger/arrivals/<raw key>.json` (`Extask.Ingest.arrival_key/1`), so that later steps can
  tell which delivery is the latest (the contract's "latest delivery wins").

      {"key":"raw/acme/a.csv","etag":"9001…","size":3,"arrived_at":"2026-12-06T14:00:00.000Z",
       "run_id":"r1"}

  `arrived_at` is the object's LastModified in the `raw/` listing at first sight,
  normalised to RFC 3339 UTC with exactly three fractional digits and `Z`
  (`timestamp/1`). discover reuses a marker whose ETag is the listed object's, and writes
  a new one when there is none or it names another ETag (new content delivered under the
  same key); so re-running discover gives the same `arrived_at`, and the marker keeps the
  run that first saw the version. requeue never touches it: an object put back from
  quarantine keeps its original arrival.
  """

  alias Extask.{Ingest, JSON, PermanentError}
  alias Extask.Ingest.Store
  alias S3Client.Error

  @fields [:key, :etag, :size, :arrived_at, :run_id]

  @enforce_keys [:key, :etag, :size, :arrived_at]
  defstruct @fields

  @type t :: %__MODULE__{
          key: String.t(),
          etag: String.t(),
          size: non_neg_integer(),
          arrived_at: String.t(),
          run_id: String.t() | nil
        }

  @timestamp ~r/\A\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z\z/

  @doc """
  An arrival marker as JSON text, fields in a fixed order; and back.

      iex> marker = %Extask.Ingest.Arrival{key: "raw/a/b.csv", etag: "e1", size: 3,
      ...>   arrived_at: "2026-12-06T14:00:00.000Z", run_id: "r1"}
      iex> text = Extask.Ingest.Arrival.encode(marker)
      ~S({"key":"raw/a/b.csv","etag":"e1","size":3,"arrived_at":"2026-12-06T14:00:00.000Z","run_id":"r1"})
      iex> Extask.Ingest.Arrival.decode(text)
      {:ok, marker}
      iex> Extask.Ingest.Arrival.decode(~S({"key":"raw/a/b.csv","etag":"e1","size":3,"arrived_at":"yesterday"}))
      {:error, "expected an arrival marker with key, etag, size and arrived_at (YYYY-MM-DDTHH:MM:SS.mmmZ)"}
  """
  @spec encode(t()) :: String.t()
  def encode(%__MODULE__{} = marker) do
    JSON.encode_object(for field <- @fields, do: {field, Map.fetch!(marker, field)})
  end

  @doc "Decodes an arrival marker (see `encode/1`)."
  @spec decode(String.t()) :: {:ok, t()} | {:error, String.t()}
  def decode(text) do
    case JSON.decode(text) do
      {:ok, %{"key" => key, "etag" => etag, "size" => size, "arrived_at" => arrived_at} = json}
      when is_binary(key) and is_binary(etag) and is_integer(size) and size >= 0 and
             is_binary(arrived_at) ->
        if timestamp?(arrived_at) do
          run_id = if is_binary(json["run_id"]), do: json["run_id"]

          {:ok,
           %__MODULE__{key: key, etag: etag, size: size, arrived_at: arrived_at, run_id: run_id}}
        else
          {:error, shape_error()}
        end

      {:ok, _other} ->
        {:error, shape_error()}

      {:error, error} ->
        {:error, error.message}
    end
  end

  defp shape_error,
    do:
      "expected an arrival marker with key, etag, size and arrived_at (YYYY-MM-DDTHH:MM:SS.mmmZ)"

  @doc """
  Tells whether `text` is a timestamp as arrival markers and manifests hold them: RFC 3339
  UTC, exactly three fractional digits, `Z`, and a real date and time.

      iex> Enum.map(["2026-12-06T14:00:00.123Z", "2026-12-06T14:00:00Z", "2026-02-30T14:00:00.000Z",
      ...>   "2026-12-06T14:00:00.123+00:00"], &Extask.Ingest.Arrival.timestamp?/1)
      [true, false, false, false]
  """
  @spec timestamp?(term()) :: boolean()
  def timestamp?(text) when is_binary(text) do
    text =~ @timestamp and match?({:ok, _, 0}, DateTime.from_iso8601(text))
  end

  def timestamp?(_other), do: false

  @doc """
  A listing's LastModified as an arrival time: any RFC 3339 time (S3 servers write whole
  seconds or milliseconds, some more digits), in UTC, truncated to milliseconds, three
  fractional digits always. Anything else is `:error`.

      iex> Extask.Ingest.Arrival.timestamp("2026-12-06T14:46:47Z")
      {:ok, "2026-12-06T14:46:47.000Z"}
      iex> Extask.Ingest.Arrival.timestamp("2026-12-06T14:46:47.123456Z")
      {:ok, "2026-12-06T14:46:47.123Z"}
      iex> Extask.Ingest.Arrival.timestamp("2026-12-06T15:46:47.5+01:00")
      {:ok, "2026-12-06T14:46:47.500Z"}
      iex> Extask.Ingest.Arrival.timestamp("Sun, 06 Dec 2026 14:46:47 GMT")
      :error
  """
  @spec timestamp(String.t() | nil) :: {:ok, String.t()} | :error
  def timestamp(text) when is_binary(text) do
    case DateTime.from_iso8601(text) do
      {:ok, datetime, _offset} ->
        {:ok, datetime |> DateTime.to_unix(:millisecond) |> Extask.Log.format_ts()}

      {:error, _} ->
        :error
    end
  end

  def timestamp(_other), do: :error

  @doc """
  The arrival marker of `raw_key`, or `nil` when there is none. A marker that cannot be
  decoded is a permanent error (it needs a person, as a damaged ledger marker does).
  """
  @spec read(S3Client.Config.t(), String.t(), String.t()) ::
          {:ok, t() | nil} | {:error, Error.t() | PermanentError.t()}
  def read(s3, bucket, raw_key) do
    Store.get_json(s3, bucket, Ingest.arrival_key(raw_key), &decode/1, "arrival marker")
  end

  @doc "Writes (or overwrites) the arrival marker of `marker.key`."
  @spec write(S3Client.Config.t(), String.t(), t()) :: :ok | {:error, Error.t()}
  def write(s3, bucket, %__MODULE__{} = marker) do
    key = Ingest.arrival_key(marker.key)

    case S3Client.put_object(s3, bucket, key, encode(marker), content_type: "application/json") do
      {:ok, _} -> :ok
      {:error, _} = error -> error
    end
  end

  @doc """
  The arrival of a listed raw object: its marker's `arrived_at` when the marker names this
  ETag, else a new marker (written now) with the object's LastModified, or the current
  time when the listing gave none usable. Returns `{:ok, arrived_at, :reused | :written}`.
  """
  @spec record(S3Client.Config.t(), String.t(), map(), String.t()) ::
          {:ok, String.t(), :reused | :written} | {:error, Error.t() | PermanentError.t()}
  def record(s3, bucket, %{key: key, etag: etag, size: size} = object, run_id) do
    with {:ok, existing} <- read(s3, bucket, key) do
      case existing do
        %__MODULE__{etag: ^etag, arrived_at: arrived_at} ->
          {:ok, arrived_at, :reused}

        _none_or_other_etag ->
          arrived_at =
            case timestamp(Map.get(object, :last_modified)) do
              {:ok, arrived_at} -> arrived_at
              :error -> Extask.Log.format_ts(System.system_time(:millisecond))
            end

          marker = %__MODULE__{
            key: key,
            etag: etag,
            size: size,
            arrived_at: arrived_at,
            run_id: run_id
          }

          with :ok <- write(s3, bucket, marker), do: {:ok, arrived_at, :written}
      end
    end
  end
end
