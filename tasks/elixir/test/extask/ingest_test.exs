defmodule Extask.IngestTest do
  use ExUnit.Case, async: true
  doctest Extask.Ingest

  alias Extask.Ingest

  test "raw listing prefixes sort like the keys under them" do
    providers = ["b", "a", "a-b", "a.b", "a_b", "A"]
    prefixes = Ingest.raw_prefixes(providers)
    keys = for prefix <- prefixes, name <- ["x", "y/z"], do: prefix <> name
    assert keys == Enum.sort(keys)
    assert length(prefixes) == length(providers)
  end

  test "ledger keys map back to their raw keys; arrival and quarantine keys, for any raw key" do
    for key <- ["raw/a/b.csv", "raw/a/b/c/d.ndjson.gz", "raw/a/x.json", "raw/a/ü é+%.csv"] do
      assert Ingest.raw_key(Ingest.ledger_key(key)) == {:ok, key}
      assert String.starts_with?(Ingest.ledger_key(key), Ingest.ledger_prefix() <> key)
      assert Ingest.arrival_key(key) == "ledger/arrivals/" <> key <> ".json"
      "raw/" <> rest = key
      assert Ingest.sidecar_key(key) == "quarantine/_reasons/" <> rest <> ".json"
      assert Ingest.quarantine_key(key) == "quarantine/_objects/" <> rest
    end

    assert Ingest.raw_key("ledger/ingested/.json") == :error
    assert Ingest.raw_key("raw/a/b.json") == :error
  end

  test "safe run ids are one key segment, stable, and distinct for distinct ids" do
    ids = [
      "manual__2026-11-23T06:37:30.123456+00:00",
      "manual__2026-11-23T06_37_30.123456_00_00",
      "scheduled__2026-11-23T00:00:00+00:00",
      "a/b",
      "a?b",
      ".",
      "..",
      "é",
      String.duplicate("x", 300)
    ]

    safe = Enum.map(ids, &Ingest.safe_run_id/1)
    assert safe == Enum.map(ids, &Ingest.safe_run_id/1)
    assert Enum.uniq(safe) == safe

    for segment <- safe do
      assert segment =~ ~r/\A[A-Za-z0-9._-]+\z/
      refute segment in [".", ".."]
      refute String.starts_with?(segment, ".")
      assert byte_size(segment) <= 100
    end
  end

  test "archive prefixes: normalised, refused where they would collide with the pipeline" do
    assert Ingest.archive_prefix("cold/2026", true) == {:ok, "cold/2026/"}
    assert Ingest.archive_prefix("archive/", false) == {:ok, "archive/"}

    for bad <- ["", "raw", "raw/x/", "ledger/", "manifests", "quarantine/x", "/archive/", "a//b/"] do
      assert {:error, _} = Ingest.archive_prefix(bad, true), inspect(bad)
    end

    assert Ingest.archive_prefix("raw/", false) == {:ok, "raw/"}
  end
end
