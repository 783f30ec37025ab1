defmodule Extask.UsageTest do
  use ExUnit.Case, async: true
  doctest Extask.Usage

  alias Extask.Usage

  test "the tool's help lists every command and every common flag with its env var" do
    text = Usage.text(nil)

    for command <- Extask.Commands.all(), do: assert(text =~ command.name())

    for env <- ~w(EXTASK_RESULT_FILE EXTASK_LOG_LEVEL EXTASK_SCRATCH_DIR) do
      assert text =~ env
    end

    assert text =~ "--version"
  end

  test "a command's help shows its own flags, then the common ones" do
    text = Usage.text(Extask.Commands.Selfcheck)
    assert text =~ "Usage: extask selfcheck [flags]"
    assert text =~ "EXTASK_FAIL_WITH"
    assert text =~ "--scratch-dir DIR"
    assert String.ends_with?(text, "show this help\n")
  end
end
