defmodule Extask.Ingest.ManifestTest do
  use ExUnit.Case, async: true
  doctest Extask.Ingest.Manifest

  alias Extask.Ingest.Manifest

  test "encode then decode gives the manifest back" do
    manifest = %Manifest{
      run_id: "manual__2026-11-23T06:37:30+00:00",
      batch: 12,
      objects: [
        %{key: "raw/acme/ü \"q\".csv", size: 0, etag: "d41d8cd98f00b204e9800998ecf8427e"},
        %{
          key: "raw/opta/b.ndjson",
          size: 5_000_000_000,
          etag: "a1b2c3d4e5f60718293a4b5c6d7e8f90-3"
        }
      ]
    }

    assert {:ok, ^manifest} = manifest |> Manifest.encode() |> Manifest.decode()
  end

  test "arrived_at: written after the etag when there, decoded back; absent in older manifests" do
    objects = [
      %{key: "raw/acme/a.csv", size: 1, etag: "e1", arrived_at: "2026-12-06T14:00:00.000Z"},
      %{key: "raw/acme/b.csv", size: 2, etag: "e2", arrived_at: "2026-12-06T14:00:01.999Z"}
    ]

    manifest = %Manifest{run_id: "r1", batch: 1, objects: objects}
    text = Manifest.encode(manifest)

    assert text =~
             ~S({"key":"raw/acme/a.csv","size":1,"etag":"e1","arrived_at":"2026-12-06T14:00:00.000Z"})

    assert Manifest.decode(text) == {:ok, manifest}

    old = ~S({"run_id":"r1","batch":1,"objects":[{"key":"raw/acme/a.csv","size":1,"etag":"e1"}]})
    assert {:ok, %Manifest{objects: [object]}} = Manifest.decode(old)
    refute Map.has_key?(object, :arrived_at)
  end

  test "an arrived_at that is not a millisecond UTC time is refused, naming the object" do
    for bad <- [
          ~S("2026-12-06T14:00:00Z"),
          ~S("2026-12-06T14:00:00.000+00:00"),
          ~S("2026-13-06T14:00:00.000Z"),
          "null",
          "1765029600000"
        ] do
      text =
        ~S({"run_id":"r","batch":1,"objects":[{"key":"raw/a/b","size":1,"etag":"e"},) <>
          ~S({"key":"raw/a/c","size":1,"etag":"e","arrived_at":) <> bad <> "}]}"

      assert {:error, %Extask.PermanentError{} = error} = Manifest.decode(text), bad
      assert Extask.Errors.chain(error) =~ "expected objects[1].arrived_at to be a time like"
    end
  end

  test "anything but a manifest is a permanent error" do
    for text <- [
          "",
          "[]",
          ~S({"run_id":"r","batch":0,"objects":[]}),
          ~S({"run_id":"r"}),
          ~S({"run_id":"r","batch":1,"objects":[{"key":"","size":1,"etag":"e"}]}),
          ~S({"run_id":"r","batch":1,"objects":[{"key":"k","size":-1,"etag":"e"}]})
        ] do
      assert {:error, %Extask.PermanentError{}} = Manifest.decode(text), text
    end
  end
end
