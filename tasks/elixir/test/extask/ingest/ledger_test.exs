defmodule Extask.Ingest.LedgerTest do
  @moduledoc """
  `Extask.Ingest.Ledger` against the project's real S3 server (the one `S3_ENDPOINT_URL`
  names, else a private one started for this module): markers written, read back and
  rewritten, the outcome of a quarantined object, deleted, and a damaged marker. Every test
  works in its own bucket. How discover and archive use the ledger is tested with the
  commands (`Extask.Commands.IngestS3Test`).
  """
  use ExtaskTest.S3Case, async: true
  doctest Extask.Ingest.Ledger

  alias Extask.{Ingest, PermanentError}
  alias Extask.Ingest.Ledger

  defp marker(bucket, key, etag \\ "900150983cd24fb0d6963f7d28e17f72") do
    %Ledger{
      key: key,
      size: 3,
      etag: etag,
      archive_bucket: bucket,
      archive_key: "archive/" <> key,
      archive_etag: etag,
      run_id: "r1",
      manifest: "manifests/r1/batch-0001.json",
      ingested_at: "2026-11-23T06:37:30.123Z"
    }
  end

  test "a marker is written at the key's ledger key and read back; no marker reads as nil",
       %{config: config, bucket: bucket} do
    marker = marker(bucket, "raw/acme/a b+c.csv")
    assert Ledger.write(config, bucket, marker) == :ok

    assert {:ok, ^marker} = Ledger.read(config, bucket, "raw/acme/a b+c.csv")
    assert read!(config, bucket, Ingest.ledger_key(marker.key)) == Ledger.encode(marker)
    assert Map.keys(snapshot(config, bucket)) == ["ledger/ingested/raw/acme/a b+c.csv.json"]

    assert Ledger.read(config, bucket, "raw/acme/never-ingested.csv") == {:ok, nil}
  end

  test "re-recording a key overwrites its marker: one marker per raw key, never two",
       %{config: config, bucket: bucket} do
    first = marker(bucket, "raw/acme/a.csv")
    second = %{marker(bucket, "raw/acme/a.csv", "d41d8cd98f00b204e9800998ecf8427e") | size: 0}

    :ok = Ledger.write(config, bucket, first)
    :ok = Ledger.write(config, bucket, second)

    assert Ledger.read(config, bucket, "raw/acme/a.csv") == {:ok, second}
    assert %{"raw/acme/a.csv" => ^second} = ledger!(config, bucket)
    assert map_size(ledger!(config, bucket)) == 1
  end

  test "a quarantined object's marker keeps its outcome and reason; delete removes a marker",
       %{config: config, bucket: bucket} do
    quarantined = %{
      marker(bucket, "raw/acme/poison.csv.gz")
      | archive_key: "quarantine/_objects/acme/poison.csv.gz",
        outcome: :quarantined,
        reason: "corrupt_gzip"
    }

    :ok = Ledger.write(config, bucket, quarantined)
    assert Ledger.read(config, bucket, quarantined.key) == {:ok, quarantined}

    assert read!(config, bucket, Ingest.ledger_key(quarantined.key)) =~
             ~S("outcome":"quarantined","reason":"corrupt_gzip"})

    # A marker written before outcome existed reads as archived.
    old =
      ~S({"key":"raw/acme/old.csv","size":3,"etag":"e","archive_bucket":"b","archive_key":"archive/raw/acme/old.csv"})

    _ = put_all!(config, bucket, [{Ingest.ledger_key("raw/acme/old.csv"), old}])

    assert {:ok, %Ledger{outcome: :archived, reason: nil}} =
             Ledger.read(config, bucket, "raw/acme/old.csv")

    assert Ledger.delete(config, bucket, quarantined.key) == :ok
    assert Ledger.read(config, bucket, quarantined.key) == {:ok, nil}
    assert Ledger.delete(config, bucket, quarantined.key) == :ok
  end

  test "a marker that cannot be decoded is a permanent error naming it",
       %{config: config, bucket: bucket} do
    key = Ingest.ledger_key("raw/stats/d.csv")
    _ = put_all!(config, bucket, [{key, ~S({"key":"raw/stats/d.csv"})}])

    assert {:error, %PermanentError{} = error} = Ledger.read(config, bucket, "raw/stats/d.csv")
    assert error.message == "unreadable ledger marker s3://#{bucket}/#{key}"
    assert error.cause =~ "expected a ledger marker"
    assert Extask.Errors.exit_code(error) == 65
  end

  test "S3 failures come back as the client's errors", %{config: config, bucket: bucket} do
    missing = bucket <> "-missing"

    assert {:error, %S3Client.Error{status: 404}} =
             Ledger.write(config, missing, marker(missing, "raw/acme/a.csv"))

    assert {:error, %S3Client.Error{status: 404}} = Ledger.read(config, missing, "raw/acme/a.csv")
  end
end
