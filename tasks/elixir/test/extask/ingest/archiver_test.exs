defmodule Extask.Ingest.ArchiverTest do
  use ExUnit.Case, async: true
  doctest Extask.Ingest.Archiver
end
