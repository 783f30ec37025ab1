defmodule Extask.Ingest.LedgerTest do
  use ExUnit.Case, async: true
  doctest Extask.Ingest.Ledger
end
