defmodule Extask.SignalsTest do
  # SIGTERM itself halts the VM: test/release_test.exs sends it to the real release.
  use ExUnit.Case, async: true
  doctest Extask.Signals

  alias Extask.Signals

  test "the handler keeps its device and leaves other signals alone" do
    assert Signals.init({:standard_error, :ok}) == {:ok, :standard_error}
    assert Signals.handle_event(:sighup, :standard_error) == {:ok, :standard_error}
  end
end
