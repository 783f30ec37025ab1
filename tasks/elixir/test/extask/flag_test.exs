defmodule Extask.FlagTest do
  use ExUnit.Case, async: true
  doctest Extask.Flag

  alias Extask.{Flag, UsageError}

  @path %Flag{name: :scratch_dir, type: :path, default: "/tmp", doc: "d", metavar: "DIR"}

  test "a flag wins over its env fallback, which wins over the default" do
    env = %{"EXTASK_SCRATCH_DIR" => "/from-env"}
    assert Flag.resolve(@path, "/from-flag", env) == {:ok, "/from-flag"}
    assert Flag.resolve(@path, nil, env) == {:ok, "/from-env"}
    assert Flag.resolve(@path, nil, %{}) == {:ok, "/tmp"}
  end

  test "an empty env value is a value, reported under the env var's name" do
    assert {:error, %UsageError{message: message}} =
             Flag.resolve(@path, nil, %{"EXTASK_SCRATCH_DIR" => ""})

    assert message == ~S(expected EXTASK_SCRATCH_DIR to be a path, got: "")
  end

  test "strings pass through untouched" do
    flag = %Flag{name: :bucket, doc: "d"}
    assert Flag.resolve(flag, " any thing ", %{}) == {:ok, " any thing "}
    assert Flag.resolve(flag, nil, %{}) == {:ok, nil}
  end
end
