defmodule Extask.Ingest.QuarantineTest do
  @moduledoc """
  `Extask.Ingest.Quarantine` against the project's real S3 server: a sidecar as the
  transform writes it, read back; none; a damaged one. How archive and requeue use it is
  tested in `Extask.Ingest.ArchiverTest`, `Extask.Ingest.RequeueTest` and with the commands.
  """
  use ExtaskTest.S3Case, async: true
  doctest Extask.Ingest.Quarantine

  alias Extask.{Ingest, PermanentError}
  alias Extask.Ingest.Quarantine

  test "a sidecar is read from quarantine/_reasons/<rest>.json; none is nil",
       %{config: config, bucket: bucket} do
    object = %{key: "raw/acme/2026/a b.csv.gz", size: 7, etag: "0123456789abcdef0123456789abcdef"}
    :ok = sidecar!(config, bucket, object, "corrupt_gzip", "manifests/r1/batch-0001.json")

    assert Map.keys(snapshot(config, bucket)) == ["quarantine/_reasons/acme/2026/a b.csv.gz.json"]

    assert {:ok, %Quarantine{} = sidecar} = Quarantine.read(config, bucket, object.key)

    assert sidecar == %Quarantine{
             key: object.key,
             etag: object.etag,
             size: 7,
             reason: "corrupt_gzip",
             detail: "corrupt_gzip (written by the test)",
             quarantine_key: "quarantine/_objects/acme/2026/a b.csv.gz",
             manifest: "manifests/r1/batch-0001.json",
             detected_at: "2026-12-06T14:00:00.123Z"
           }

    assert Quarantine.applies?(sidecar, object)
    refute Quarantine.applies?(sidecar, %{object | etag: "d41d8cd98f00b204e9800998ecf8427e"})
    assert Quarantine.read(config, bucket, "raw/acme/fine.csv") == {:ok, nil}
  end

  test "a sidecar that cannot be decoded is a permanent error naming it",
       %{config: config, bucket: bucket} do
    key = Ingest.sidecar_key("raw/acme/a.csv")
    _ = put_all!(config, bucket, [{key, ~S({"key":"raw/acme/a.csv"})}])

    assert {:error, %PermanentError{} = error} = Quarantine.read(config, bucket, "raw/acme/a.csv")
    assert error.message == "unreadable quarantine sidecar s3://#{bucket}/#{key}"
  end
end
