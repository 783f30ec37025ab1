defmodule Extask.Ingest.ArrivalTest do
  @moduledoc """
  `Extask.Ingest.Arrival` against the project's real S3 server: an arrival recorded once
  from the listing's LastModified and reused, a new ETag under the same key as a new
  arrival, and a damaged marker. How discover uses it: `Extask.Commands.IngestS3Test`.
  """
  use ExtaskTest.S3Case, async: true
  doctest Extask.Ingest.Arrival

  alias Extask.{Ingest, PermanentError}
  alias Extask.Ingest.Arrival

  defp listed!(config, bucket, key) do
    {:ok, [object]} = S3Client.list_all_objects(config, bucket, prefix: key)
    object
  end

  test "recorded at first sight from LastModified, then reused; a new ETag is a new arrival",
       %{config: config, bucket: bucket} do
    _ = put_all!(config, bucket, [{"raw/acme/a.csv", "abc"}])
    object = listed!(config, bucket, "raw/acme/a.csv")
    {:ok, expected} = Arrival.timestamp(object.last_modified)
    assert Arrival.timestamp?(expected)

    assert {:ok, ^expected, :written} = Arrival.record(config, bucket, object, "r1")

    assert {:ok,
            %Arrival{key: "raw/acme/a.csv", etag: etag, size: 3, arrived_at: ^expected} = first} =
             Arrival.read(config, bucket, object.key)

    assert {etag, first.run_id} == {object.etag, "r1"}

    assert read!(config, bucket, Ingest.arrival_key(object.key)) == Arrival.encode(first)

    # Seen again (a later run, another LastModified in hand): the first arrival stays.
    later = %{object | last_modified: "2030-01-01T00:00:00Z"}
    assert {:ok, ^expected, :reused} = Arrival.record(config, bucket, later, "r2")
    assert Arrival.read(config, bucket, object.key) == {:ok, first}

    # New content under the key: a new delivery, a new arrival.
    _ = put_all!(config, bucket, [{"raw/acme/a.csv", "abcd"}])
    redelivered = listed!(config, bucket, "raw/acme/a.csv")
    {:ok, again} = Arrival.timestamp(redelivered.last_modified)
    assert {:ok, ^again, :written} = Arrival.record(config, bucket, redelivered, "r3")

    assert {:ok, %Arrival{etag: new_etag, size: 4, run_id: "r3", arrived_at: ^again}} =
             Arrival.read(config, bucket, object.key)

    assert new_etag == redelivered.etag and new_etag != etag
    assert again >= expected
  end

  test "no usable LastModified: the time of first sight", %{config: config, bucket: bucket} do
    object = %{key: "raw/acme/b.csv", size: 1, etag: "e", last_modified: nil}
    before = Extask.Log.format_ts(System.system_time(:millisecond))
    assert {:ok, arrived_at, :written} = Arrival.record(config, bucket, object, "r1")
    assert arrived_at >= before and Arrival.timestamp?(arrived_at)
  end

  test "a marker that cannot be decoded is a permanent error naming it",
       %{config: config, bucket: bucket} do
    key = Ingest.arrival_key("raw/acme/a.csv")
    _ = put_all!(config, bucket, [{key, "{}"}])
    object = %{key: "raw/acme/a.csv", size: 1, etag: "e", last_modified: nil}

    assert {:error, %PermanentError{} = error} = Arrival.record(config, bucket, object, "r1")
    assert error.message == "unreadable arrival marker s3://#{bucket}/#{key}"
  end
end
