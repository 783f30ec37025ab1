defmodule Extask.Ingest.Manifest do
  @moduledoc """
  A batch manifest: what discover found for one mapped group of the DAG, and what
  transform, load and archive of that group work on.

      {"run_id": "manual__2026-11-23T06:37:30+00:00", "batch": 1,
       "objects": [{"key": "raw/acme/a.csv", "size": 12, "etag": "0cc1…",
                    "arrived_at": "2026-11-23T06:30:00.000Z"}, …]}

  Written to `manifests/<run>/batch-NNNN.json` (`Extask.Ingest.manifest_key/2`), so the
  xcom carries keys, not object lists. Keys are written in this order (stable bytes for the
  same content: re-running discover rewrites identical objects); ETags without quotes.

  `arrived_at` is when discover first saw that version of the object
  (`Extask.Ingest.Arrival`), RFC 3339 UTC with three fractional digits. discover always
  writes it; manifests written before it existed have none, so decoding accepts objects
  without it (and then the object has no `:arrived_at` key), and checks its format when
  it is there.
  """

  alias Extask.{JSON, PermanentError}
  alias Extask.Ingest.Arrival

  @enforce_keys [:run_id, :batch, :objects]
  defstruct [:run_id, :batch, :objects]

  @typedoc """
  One object of a manifest, as it was when discovered; `:arrived_at` in every manifest
  discover writes now, absent from older ones.
  """
  @type object :: %{
          required(:key) => String.t(),
          required(:size) => non_neg_integer(),
          required(:etag) => String.t(),
          optional(:arrived_at) => String.t()
        }
  @type t :: %__MODULE__{run_id: String.t(), batch: pos_integer(), objects: [object()]}

  @doc """
  The manifest as JSON text.

      iex> manifest = %Extask.Ingest.Manifest{run_id: "r1", batch: 1,
      ...>   objects: [%{key: "raw/acme/a.csv", size: 3, etag: "900150983cd24fb0d6963f7d28e17f72",
      ...>               arrived_at: "2026-12-06T14:00:00.123Z"}]}
      iex> Extask.Ingest.Manifest.encode(manifest)
      ~S({"run_id":"r1","batch":1,"objects":[{"key":"raw/acme/a.csv","size":3,"etag":"900150983cd24fb0d6963f7d28e17f72","arrived_at":"2026-12-06T14:00:00.123Z"}]})
  """
  @spec encode(t()) :: String.t()
  def encode(%__MODULE__{} = manifest) do
    # encode_object/1 keeps the order; maps would be written with sorted keys.
    objects =
      Enum.map_join(manifest.objects, ",", fn object ->
        arrived = if at = object[:arrived_at], do: [{"arrived_at", at}], else: []

        JSON.encode_object(
          [{"key", object.key}, {"size", object.size}, {"etag", object.etag}] ++ arrived
        )
      end)

    ~s({"run_id":#{JSON.encode!(manifest.run_id)},"batch":#{JSON.encode!(manifest.batch)},) <>
      ~s("objects":[#{objects}]})
  end

  @doc """
  Decodes and validates manifest text; anything else is a permanent error (retrying the
  same manifest cannot help).

      iex> {:ok, manifest} = Extask.Ingest.Manifest.decode(
      ...>   ~S({"run_id":"r1","batch":2,"objects":[{"key":"raw/a/b","size":0,"etag":"\\"d41d8cd98f00b204e9800998ecf8427e\\""},) <>
      ...>   ~S({"key":"raw/a/c","size":1,"etag":"e2","arrived_at":"2026-12-06T14:00:00.123Z"}]}))
      iex> manifest
      %Extask.Ingest.Manifest{run_id: "r1", batch: 2,
        objects: [%{key: "raw/a/b", size: 0, etag: "d41d8cd98f00b204e9800998ecf8427e"},
                  %{key: "raw/a/c", size: 1, etag: "e2", arrived_at: "2026-12-06T14:00:00.123Z"}]}
      iex> {:error, error} = Extask.Ingest.Manifest.decode(~S({"run_id":"r1","batch":1,"objects":[{"key":"raw/a/b"}]}))
      iex> Extask.Errors.chain(error)
      "expected a batch manifest: expected objects[0] to have key (string), size (integer >= 0) and etag (string)"
      iex> {:error, error} = Extask.Ingest.Manifest.decode(
      ...>   ~S({"run_id":"r1","batch":1,"objects":[{"key":"raw/a/b","size":1,"etag":"e","arrived_at":"2026-12-06"}]}))
      iex> Extask.Errors.chain(error)
      "expected a batch manifest: expected objects[0].arrived_at to be a time like 2026-12-06T14:00:00.123Z, got: \\"2026-12-06\\""
  """
  @spec decode(String.t()) :: {:ok, t()} | {:error, PermanentError.t()}
  def decode(text) do
    with {:ok, json} <- decode_json(text),
         {:ok, run_id, batch, raw_objects} <- shape(json),
         {:ok, objects} <- objects(raw_objects) do
      {:ok, %__MODULE__{run_id: run_id, batch: batch, objects: objects}}
    else
      {:error, reason} ->
        {:error, %PermanentError{message: "expected a batch manifest", cause: reason}}
    end
  end

  defp decode_json(text) do
    case JSON.decode(text) do
      {:ok, json} -> {:ok, json}
      {:error, error} -> {:error, error.message}
    end
  end

  defp shape(%{"run_id" => run_id, "batch" => batch, "objects" => objects})
       when is_binary(run_id) and is_integer(batch) and batch >= 1 and is_list(objects),
       do: {:ok, run_id, batch, objects}

  defp shape(_other),
    do:
      {:error, "expected an object with run_id (string), batch (integer >= 1) and objects (list)"}

  defp objects(raw_objects) do
    raw_objects
    |> Enum.with_index()
    |> Enum.reduce_while({:ok, []}, fn {raw, index}, {:ok, acc} ->
      case raw do
        %{"key" => key, "size" => size, "etag" => etag}
        when is_binary(key) and key != "" and is_integer(size) and size >= 0 and is_binary(etag) and
               etag != "" ->
          object = %{key: key, size: size, etag: S3Client.unquote_etag(etag)}

          case arrived_at(raw, index) do
            :none -> {:cont, {:ok, [object | acc]}}
            {:ok, at} -> {:cont, {:ok, [Map.put(object, :arrived_at, at) | acc]}}
            {:error, _} = error -> {:halt, error}
          end

        _ ->
          {:halt,
           {:error,
            "expected objects[#{index}] to have key (string), size (integer >= 0) and etag (string)"}}
      end
    end)
    |> case do
      {:ok, objects} -> {:ok, Enum.reverse(objects)}
      error -> error
    end
  end

  defp arrived_at(raw, index) do
    case Map.fetch(raw, "arrived_at") do
      :error ->
        :none

      {:ok, at} ->
        if Arrival.timestamp?(at),
          do: {:ok, at},
          else:
            {:error,
             "expected objects[#{index}].arrived_at to be a time like " <>
               "2026-12-06T14:00:00.123Z, got: #{inspect(at)}"}
    end
  end
end
