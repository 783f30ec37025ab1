defmodule Extask.Ingest.Store do
  @moduledoc """
  Reading the pipeline's small JSON objects — ledger and arrival markers, quarantine
  sidecars — the one way: GET the whole object, decode it, a missing key is `nil`.

  Only a missing *key* is `nil`: a missing bucket (404 `NoSuchBucket`) stays an error, so
  a typo in `--bucket` never reads as "nothing ingested". An object that cannot be decoded
  is a permanent error naming it: the state is damaged and needs a person.
  """

  alias Extask.PermanentError
  alias S3Client.Error

  @doc """
  The decoded object at `key`, or `nil` when there is none. `decode` turns the text into
  `{:ok, value}` or `{:error, reason}`; `what` names the object in errors
  (`"unreadable <what> s3://bucket/key"`).
  """
  @spec get_json(
          S3Client.Config.t(),
          String.t(),
          String.t(),
          (String.t() -> {:ok, value} | {:error, String.t()}),
          String.t()
        ) :: {:ok, value | nil} | {:error, Error.t() | PermanentError.t()}
        when value: term()
  def get_json(s3, bucket, key, decode, what) do
    sink = {:fun, [], fn chunk, acc -> [acc, chunk] end}

    case S3Client.get_object(s3, bucket, key, sink) do
      {:ok, %{acc: iodata}} ->
        case decode.(IO.iodata_to_binary(iodata)) do
          {:ok, value} ->
            {:ok, value}

          {:error, reason} ->
            {:error,
             %PermanentError{message: "unreadable #{what} s3://#{bucket}/#{key}", cause: reason}}
        end

      {:error, %Error{status: 404, code: code}} when code != "NoSuchBucket" ->
        {:ok, nil}

      {:error, _} = error ->
        error
    end
  end
end
