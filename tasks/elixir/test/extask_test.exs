defmodule ExtaskTest do
  use ExUnit.Case, async: true
  doctest Extask

  test "the version is the one in mix.exs" do
    assert Extask.version() == Mix.Project.config()[:version]
  end
end
