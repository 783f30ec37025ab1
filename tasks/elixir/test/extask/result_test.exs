defmodule Extask.ResultTest do
  use ExUnit.Case, async: true
  doctest Extask.Result

  alias Extask.{JSON, PermanentError, Result}
  import ExtaskTest.Run, only: [tmp_dir!: 1]

  @result Result.new("selfcheck", %{checks: 1, failed: 0}, %{"uid" => 10_001})

  test "counts must be non-negative integers" do
    for bad <- [1.0, "1", nil, -1] do
      assert_raise ArgumentError, fn -> Result.new("c", %{rows: bad}, %{}) end
    end

    assert_raise FunctionClauseError, fn -> Result.new("c", %{}, %{}, :failed) end
  end

  test "the shape is the contract's" do
    assert JSON.decode!(Result.to_json(Result.new("c", %{}, %{}, :nothing_to_do))) == %{
             "status" => "nothing_to_do",
             "tool" => "extask",
             "version" => "0.1.0",
             "command" => "c",
             "counts" => %{},
             "outputs" => %{}
           }
  end

  test "without a path the result is one line on stdout" do
    {:ok, out} = StringIO.open("")
    assert Result.write(@result, nil, out) == :ok
    assert {"", text} = StringIO.contents(out)
    assert [line] = String.split(text, "\n", trim: true)
    assert String.ends_with?(text, "\n")
    assert JSON.decode!(line)["counts"] == %{"checks" => 1, "failed" => 0}
  end

  test "writes atomically, creating the parent directory, and replaces an old result" do
    dir = tmp_dir!("result")
    path = Path.join([dir, "airflow", "xcom", "return.json"])

    assert Result.write(@result, path, :unused) == :ok
    assert JSON.decode!(File.read!(path))["outputs"] == %{"uid" => 10_001}

    assert Result.write(Result.new("again", %{}, %{}), path, :unused) == :ok
    assert JSON.decode!(File.read!(path))["command"] == "again"
    assert File.ls!(Path.dirname(path)) == ["return.json"]
  end

  test "a result that cannot be written is a permanent error naming the path" do
    dir = tmp_dir!("result")
    blocker = Path.join(dir, "file")
    File.write!(blocker, "")
    path = Path.join([blocker, "xcom", "return.json"])

    assert {:error, %PermanentError{} = error} = Result.write(@result, path, :unused)

    assert Extask.Errors.chain(error) ==
             "cannot write result file #{inspect(path)}: not a directory"
  end

  test "a failed rename leaves no temp file behind" do
    dir = tmp_dir!("result")
    path = Path.join(dir, "return.json")
    # A non-empty directory where the file should go makes the rename fail.
    File.mkdir_p!(Path.join(path, "occupied"))

    assert {:error, %PermanentError{}} = Result.write(@result, path, :unused)
    assert File.ls!(dir) == ["return.json"]
  end
end
