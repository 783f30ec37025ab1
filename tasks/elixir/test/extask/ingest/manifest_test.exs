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
