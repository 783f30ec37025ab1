defmodule Extask.Ingest do
  @moduledoc """
  The key layout of the S3 ingest pipeline (dags/s3_ingest.py), in one bucket:

      raw/<provider>/…                      raw objects as providers deliver them
      manifests/<run>/batch-NNNN.json       discover's batches (`Extask.Ingest.Manifest`)
      ledger/ingested/<raw key>.json        one marker per ingested raw key (`Extask.Ingest.Ledger`)
      ledger/arrivals/<raw key>.json        when discover first saw that version (`Extask.Ingest.Arrival`)
      <archive prefix><raw key>             the verified cold copy (default prefix `archive/`)
      quarantine/_reasons/<rest>.json       why transform found the object poison (`Extask.Ingest.Quarantine`)
      quarantine/_objects/<rest>            where archive puts a poison object instead of the archive

  `<rest>` is the raw key without its leading `raw/`.

  Every function here is pure: the commands and their tests share one definition of where
  things live.
  """

  @raw_prefix "raw/"
  @ledger_prefix "ledger/ingested/"
  @ledger_suffix ".json"
  @arrival_prefix "ledger/arrivals/"
  @manifest_prefix "manifests/"
  @quarantine_prefix "quarantine/"
  @sidecar_prefix @quarantine_prefix <> "_reasons/"
  @quarantined_prefix @quarantine_prefix <> "_objects/"
  @reserved_prefixes [@raw_prefix, "ledger/", @manifest_prefix, @quarantine_prefix]

  @doc """
  The prefix of raw objects.

      iex> Extask.Ingest.raw_prefix()
      "raw/"
  """
  @spec raw_prefix() :: String.t()
  def raw_prefix, do: @raw_prefix

  @doc """
  The prefix of the ingest ledger's markers.

      iex> Extask.Ingest.ledger_prefix()
      "ledger/ingested/"
  """
  @spec ledger_prefix() :: String.t()
  def ledger_prefix, do: @ledger_prefix

  @doc """
  Tells whether a provider name is usable as one key segment.

      iex> Enum.map(["acme", "opta_v2", "a.b-c", "", "a/b", "..", ".x"], &Extask.Ingest.valid_provider?/1)
      [true, true, true, false, false, false, false]
  """
  @spec valid_provider?(String.t()) :: boolean()
  def valid_provider?(name), do: name =~ ~r/\A[A-Za-z0-9][A-Za-z0-9._-]*\z/

  @doc """
  The listing prefixes for `providers` (all of `raw/` when empty), in key order, so that
  listing them one after the other gives every key in order. A provider's prefix ends in
  `/`, so no prefix contains another and sorting the prefixes sorts the keys.

      iex> Extask.Ingest.raw_prefixes([])
      ["raw/"]
      iex> Extask.Ingest.raw_prefixes(["b", "a", "a-b", "a"])
      ["raw/a-b/", "raw/a/", "raw/b/"]
  """
  @spec raw_prefixes([String.t()]) :: [String.t(), ...]
  def raw_prefixes([]), do: [@raw_prefix]

  def raw_prefixes(providers) do
    providers |> Enum.uniq() |> Enum.map(&(@raw_prefix <> &1 <> "/")) |> Enum.sort()
  end

  @doc """
  The provider of a raw object key, or `nil` when the key is not a raw object
  (`raw/<provider>/<name>`, not a directory marker ending in `/`).

      iex> Extask.Ingest.provider("raw/acme/2026/11/23/events.ndjson.gz")
      "acme"
      iex> Enum.map(["raw/acme/", "raw/top.csv", "archive/raw/acme/a.csv", "raw//a"], &Extask.Ingest.provider/1)
      [nil, nil, nil, nil]
  """
  @spec provider(String.t()) :: String.t() | nil
  def provider(@raw_prefix <> rest) do
    with [provider, name] <- String.split(rest, "/", parts: 2),
         true <- valid_provider?(provider),
         true <- name != "" and not String.ends_with?(name, "/") do
      provider
    else
      _ -> nil
    end
  end

  def provider(_key), do: nil

  @doc """
  Tells whether `key` is a raw object (see `provider/1`).

      iex> Extask.Ingest.raw_object?("raw/acme/a.csv")
      true
  """
  @spec raw_object?(String.t()) :: boolean()
  def raw_object?(key), do: provider(key) != nil

  @doc """
  The ledger marker key of a raw key, and back. The `.json` suffix keeps a marker from
  ever being a "directory" of another marker (`raw/p/a` → `…/raw/p/a.json`, `raw/p/a/b`
  → `…/raw/p/a/b.json`), which file-backed S3 servers could not store together.

      iex> Extask.Ingest.ledger_key("raw/acme/2026/a.csv")
      "ledger/ingested/raw/acme/2026/a.csv.json"
      iex> Extask.Ingest.raw_key("ledger/ingested/raw/acme/2026/a.csv.json")
      {:ok, "raw/acme/2026/a.csv"}
      iex> Extask.Ingest.raw_key("ledger/ingested/raw/acme/notes.txt")
      :error
  """
  @spec ledger_key(String.t()) :: String.t()
  def ledger_key(raw_key), do: @ledger_prefix <> raw_key <> @ledger_suffix

  @doc """
  The arrival marker key of a raw key (`Extask.Ingest.Arrival`), suffixed as ledger keys are.

      iex> Extask.Ingest.arrival_key("raw/acme/2026/a.csv")
      "ledger/arrivals/raw/acme/2026/a.csv.json"
  """
  @spec arrival_key(String.t()) :: String.t()
  def arrival_key(raw_key), do: @arrival_prefix <> raw_key <> @ledger_suffix

  @doc """
  The quarantine keys of a raw key: the sidecar transform writes for a poison object (why),
  and where archive moves the object itself. Both drop the raw key's `raw/`.

      iex> Extask.Ingest.sidecar_key("raw/acme/2026/11/23/feed-0001.csv.gz")
      "quarantine/_reasons/acme/2026/11/23/feed-0001.csv.gz.json"
      iex> Extask.Ingest.quarantine_key("raw/acme/2026/11/23/feed-0001.csv.gz")
      "quarantine/_objects/acme/2026/11/23/feed-0001.csv.gz"
  """
  @spec sidecar_key(String.t()) :: String.t()
  def sidecar_key(@raw_prefix <> rest), do: @sidecar_prefix <> rest <> @ledger_suffix

  @doc "Where archive puts a poison raw object (see `sidecar_key/1`)."
  @spec quarantine_key(String.t()) :: String.t()
  def quarantine_key(@raw_prefix <> rest), do: @quarantined_prefix <> rest

  @doc "The raw key a ledger marker key stands for (see `ledger_key/1`)."
  @spec raw_key(String.t()) :: {:ok, String.t()} | :error
  def raw_key(@ledger_prefix <> rest) do
    if String.ends_with?(rest, @ledger_suffix) and byte_size(rest) > byte_size(@ledger_suffix),
      do: {:ok, binary_part(rest, 0, byte_size(rest) - byte_size(@ledger_suffix))},
      else: :error
  end

  def raw_key(_key), do: :error

  @doc """
  Where the cold copy of a raw key goes: the archive prefix, then the whole raw key (so the
  archive mirrors `raw/` and maps back without ambiguity).

      iex> Extask.Ingest.archive_key("archive/", "raw/acme/a.csv")
      "archive/raw/acme/a.csv"
  """
  @spec archive_key(String.t(), String.t()) :: String.t()
  def archive_key(prefix, raw_key), do: prefix <> raw_key

  @doc """
  Validates an archive prefix: `""` or text ending in `/` (one is added when missing), no
  leading `/`. In the bucket of the raw objects it must be non-empty and outside `raw/`,
  `ledger/`, `manifests/` and `quarantine/`, or archived copies would be discovered again
  or clobber the pipeline's own keys.

      iex> Extask.Ingest.archive_prefix("archive", true)
      {:ok, "archive/"}
      iex> Extask.Ingest.archive_prefix("", false)
      {:ok, ""}
      iex> Extask.Ingest.archive_prefix("raw/old/", true)
      {:error, "expected an archive prefix outside raw/, ledger/, manifests/ and quarantine/ (same bucket), got: \\"raw/old/\\""}
  """
  @spec archive_prefix(String.t(), boolean()) :: {:ok, String.t()} | {:error, String.t()}
  def archive_prefix(prefix, same_bucket?) do
    normalized =
      if prefix == "" or String.ends_with?(prefix, "/"), do: prefix, else: prefix <> "/"

    cond do
      String.starts_with?(prefix, "/") or String.contains?(prefix, "//") ->
        {:error,
         "expected an archive prefix without leading or double /, got: #{inspect(prefix)}"}

      same_bucket? and
          (normalized == "" or Enum.any?(@reserved_prefixes, &String.starts_with?(normalized, &1))) ->
        {:error,
         "expected an archive prefix outside raw/, ledger/, manifests/ and quarantine/ " <>
           "(same bucket), " <>
           "got: #{inspect(prefix)}"}

      true ->
        {:ok, normalized}
    end
  end

  @doc """
  A run id as one safe key segment. Ids made of `A-Z a-z 0-9 . _ -` (at most 100 bytes, not
  `.` or `..`) are kept as they are; any other id has the other characters replaced by `_`
  and a short hash of the original appended, so two different ids never share a segment
  and the same id always gives the same one (re-runs rewrite the same manifests).

      iex> Extask.Ingest.safe_run_id("scheduled-2026-11-23")
      "scheduled-2026-11-23"
      iex> Extask.Ingest.safe_run_id("manual__2026-11-23T06:37:30+00:00")
      "manual__2026-11-23T06_37_30_00_00-175bd414"
      iex> Extask.Ingest.safe_run_id("manual__2026-11-23T06_37_30_00_00") ==
      ...>   Extask.Ingest.safe_run_id("manual__2026-11-23T06:37:30+00:00")
      false
      iex> Extask.Ingest.safe_run_id("..")
      "__-5ec1f7e7"
  """
  @spec safe_run_id(String.t()) :: String.t()
  def safe_run_id(run_id) do
    if run_id =~ ~r/\A[A-Za-z0-9._-]{1,100}\z/ and run_id not in [".", ".."] do
      run_id
    else
      cleaned =
        run_id
        |> String.replace(~r/[^A-Za-z0-9._-]/u, "_")
        |> String.replace(~r/\A\.+/, &String.duplicate("_", byte_size(&1)))
        |> binary_slice_max(80)

      hash = :crypto.hash(:sha256, run_id) |> Base.encode16(case: :lower) |> binary_part(0, 8)
      cleaned <> "-" <> hash
    end
  end

  defp binary_slice_max(text, max) when byte_size(text) <= max, do: text
  defp binary_slice_max(text, max), do: binary_part(text, 0, max)

  @doc """
  The prefix of one run's manifests.

      iex> Extask.Ingest.manifest_prefix("r1")
      "manifests/r1/"
  """
  @spec manifest_prefix(String.t()) :: String.t()
  def manifest_prefix(run_id), do: @manifest_prefix <> safe_run_id(run_id) <> "/"

  @doc """
  The key of batch `n` (from 1) of a run.

      iex> Extask.Ingest.manifest_key("r1", 7)
      "manifests/r1/batch-0007.json"
  """
  @spec manifest_key(String.t(), pos_integer()) :: String.t()
  def manifest_key(run_id, n) when is_integer(n) and n >= 1 do
    manifest_prefix(run_id) <>
      "batch-" <> String.pad_leading(Integer.to_string(n), 4, "0") <> ".json"
  end

  @doc """
  Tells whether a key under a run's manifest prefix is a batch manifest.

      iex> Enum.map(["manifests/r1/batch-0001.json", "manifests/r1/notes.txt"], &Extask.Ingest.batch_manifest?/1)
      [true, false]
  """
  @spec batch_manifest?(String.t()) :: boolean()
  def batch_manifest?(key), do: key =~ ~r"\Amanifests/[^/]+/batch-\d{4,}\.json\z"
end
