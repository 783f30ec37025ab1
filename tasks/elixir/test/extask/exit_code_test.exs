defmodule Extask.ExitCodeTest do
  use ExUnit.Case, async: true
  doctest Extask.ExitCode

  alias Extask.ExitCode

  test "the table is the contract's (sysexits values where one exists)" do
    assert ExitCode.all() == %{
             ok: 0,
             usage: 64,
             permanent: 65,
             internal: 70,
             transient: 75,
             nothing_to_do: 99,
             terminated: 143
           }
  end

  test "an unknown name is a bug, not a silent default" do
    assert_raise KeyError, fn -> ExitCode.code(:oops) end
  end
end
