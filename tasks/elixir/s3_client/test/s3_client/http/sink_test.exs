defmodule S3Client.HTTP.SinkTest do
  use ExUnit.Case, async: true
  doctest S3Client.HTTP.Sink

  import S3ClientTest.Tmp, only: [tmp_dir!: 1]

  alias S3Client.HTTP.Sink

  test "a file sink writes beside the target and renames onto it only when closed" do
    dir = tmp_dir!("sink")
    target = Path.join(dir, "out.bin")
    File.write!(target, "old content")

    assert {:ok, open} = Sink.open({:file, target})
    assert {:ok, open} = Sink.write(open, "new ")
    assert {:ok, open} = Sink.write(open, ["con", "tent"])

    # Until closed, the target is untouched and the bytes sit in one temporary file.
    assert File.read!(target) == "old content"
    assert [tmp] = File.ls!(dir) -- ["out.bin"]
    assert tmp =~ ~r/\Aout\.bin\.part-\d+\z/

    assert Sink.close(open) == {:ok, nil}
    assert File.read!(target) == "new content"
    assert File.ls!(dir) == ["out.bin"]
  end

  test "an aborted file sink leaves the target as it was and no temporary file" do
    dir = tmp_dir!("sink")
    target = Path.join(dir, "out.bin")
    File.write!(target, "kept")

    {:ok, open} = Sink.open({:file, target})
    {:ok, open} = Sink.write(open, :binary.copy("x", 100_000))
    assert Sink.abort(open) == :ok

    assert File.read!(target) == "kept"
    assert File.ls!(dir) == ["out.bin"]
  end

  test "a file sink reports what the file system refuses, and cleans up after itself" do
    dir = tmp_dir!("sink")
    assert Sink.open({:file, Path.join([dir, "missing", "out.bin"])}) == {:error, :enoent}

    # The target is a non-empty directory: the final rename fails, the part file goes.
    target = Path.join(dir, "taken")
    File.mkdir_p!(Path.join(target, "inside"))
    {:ok, open} = Sink.open({:file, target})
    {:ok, open} = Sink.write(open, "bytes")

    assert {:error, reason} = Sink.close(open)
    assert is_atom(reason)
    assert File.ls!(dir) == ["taken"]
  end

  test "a function sink folds the chunks in order; abort and nil are no-ops" do
    {:ok, open} = Sink.open({:fun, [], fn chunk, acc -> [chunk | acc] end})

    open =
      Enum.reduce(["a", "b", "c"], open, fn chunk, open ->
        {:ok, open} = Sink.write(open, chunk)
        open
      end)

    assert Sink.close(open) == {:ok, ["c", "b", "a"]}
    assert Sink.abort(open) == :ok
    assert Sink.abort(nil) == :ok
  end

  test "a function sink's exception passes through write" do
    {:ok, open} = Sink.open({:fun, nil, fn _chunk, _acc -> raise "sink full" end})
    assert_raise RuntimeError, "sink full", fn -> Sink.write(open, "x") end
  end
end
