defmodule Extask.Ingest.StoreTest do
  @moduledoc """
  `Extask.Ingest.Store` against the project's real S3 server: an object decoded, a missing
  key as `nil`, a missing bucket as an error, an undecodable object as a permanent error.
  """
  use ExtaskTest.S3Case, async: true

  alias Extask.Ingest.Store
  alias Extask.PermanentError

  defp decode("ok:" <> rest), do: {:ok, rest}
  defp decode(_other), do: {:error, "expected ok:…"}

  test "a JSON object read and decoded; a missing key is nil", %{config: config, bucket: bucket} do
    _ = put_all!(config, bucket, [{"ledger/x.json", "ok:fine"}, {"ledger/bad.json", "nope"}])

    assert Store.get_json(config, bucket, "ledger/x.json", &decode/1, "thing") == {:ok, "fine"}
    assert Store.get_json(config, bucket, "ledger/none.json", &decode/1, "thing") == {:ok, nil}

    assert {:error, %PermanentError{} = error} =
             Store.get_json(config, bucket, "ledger/bad.json", &decode/1, "thing")

    assert error.message == "unreadable thing s3://#{bucket}/ledger/bad.json"
    assert error.cause == "expected ok:…"
  end

  test "a missing bucket is an error, never an empty state", %{config: config, bucket: bucket} do
    assert {:error, %S3Client.Error{status: 404, code: "NoSuchBucket"}} =
             Store.get_json(config, bucket <> "-missing", "ledger/x.json", &decode/1, "thing")
  end
end
