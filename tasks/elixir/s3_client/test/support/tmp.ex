defmodule S3ClientTest.Tmp do
  @moduledoc "Temporary directories for tests (shared with extask's tests, like the servers)."

  @doc """
  A fresh directory under the system temp dir, `<prefix>-<label>-<n>`, removed when the
  test ends.
  """
  @spec tmp_dir!(String.t(), String.t()) :: Path.t()
  def tmp_dir!(label, prefix \\ "s3client") do
    name = "#{prefix}-#{label}-#{System.unique_integer([:positive])}"
    dir = Path.join(System.tmp_dir!(), name)
    File.mkdir_p!(dir)
    ExUnit.Callbacks.on_exit(fn -> File.rm_rf!(dir) end)
    dir
  end
end
