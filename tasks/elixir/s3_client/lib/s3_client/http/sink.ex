defmodule S3Client.HTTP.Sink do
  @moduledoc """
  Internal to the library: where a streamed download (`S3Client.HTTP.stream/3`) writes its
  body, chunk by chunk.

    * `{:file, path}` — written to a temporary file beside `path` (`<path>.part-<n>`,
      buffered), renamed onto `path` only when the whole body arrived (`close/1`); `abort/1`
      removes the temporary file, so a failed download never touches an existing `path`
      nor leaves files behind.
    * `{:fun, acc, fun}` — a fold: `fun.(chunk, acc)` for every chunk, in order; `close/1`
      returns the final accumulator.

  The life of a sink: `open/1`, `write/2` per chunk, then `close/1` or `abort/1`.

      iex> {:ok, open} = S3Client.HTTP.Sink.open({:fun, 0, fn chunk, n -> n + byte_size(chunk) end})
      iex> {:ok, open} = S3Client.HTTP.Sink.write(open, "abc")
      iex> {:ok, open} = S3Client.HTTP.Sink.write(open, "de")
      iex> S3Client.HTTP.Sink.close(open)
      {:ok, 5}
  """

  @typedoc "Where a body goes: a file path, or a fold over its chunks."
  @type t :: {:file, Path.t()} | {:fun, term(), (binary(), term() -> term())}

  @typedoc "An open sink: a file sink's temporary file, or a fold's current accumulator."
  @type open :: {:file, Path.t(), Path.t(), :file.io_device()} | {:fun, term(), fun()}

  @doc "Opens a sink: a file sink creates its temporary file (a POSIX reason if it cannot)."
  @spec open(t()) :: {:ok, open()} | {:error, term()}
  def open({:file, path}) do
    tmp = "#{path}.part-#{System.unique_integer([:positive])}"

    case :file.open(tmp, [:write, :raw, :binary, {:delayed_write, 1_048_576, 1_000}]) do
      {:ok, fd} -> {:ok, {:file, path, tmp, fd}}
      {:error, reason} -> {:error, reason}
    end
  end

  def open({:fun, acc, fun}) when is_function(fun, 2), do: {:ok, {:fun, acc, fun}}

  @doc """
  Writes a chunk. A file sink that fails to write closes and removes its temporary file
  before returning the reason; a fold's exceptions pass through.
  """
  @spec write(open(), iodata()) :: {:ok, open()} | {:error, term()}
  def write({:file, _path, tmp, fd} = open, chunk) do
    case :file.write(fd, chunk) do
      :ok ->
        {:ok, open}

      {:error, reason} ->
        _ = :file.close(fd)
        _ = File.rm(tmp)
        {:error, reason}
    end
  end

  def write({:fun, acc, fun}, chunk), do: {:ok, {:fun, fun.(chunk, acc), fun}}

  @doc """
  Completes a sink: a file sink is flushed and renamed onto its path (`{:ok, nil}`); a fold
  returns its accumulator.
  """
  @spec close(open()) :: {:ok, term()} | {:error, term()}
  def close({:file, path, tmp, fd}) do
    with :ok <- :file.close(fd),
         :ok <- File.rename(tmp, path) do
      {:ok, nil}
    else
      {:error, reason} ->
        _ = File.rm(tmp)
        {:error, reason}
    end
  end

  def close({:fun, acc, _fun}), do: {:ok, acc}

  @doc """
  Gives a sink up: a file sink's temporary file is closed and removed. Anything else
  (`nil`: not opened yet) is left alone.
  """
  @spec abort(open() | nil) :: :ok
  def abort({:file, _path, tmp, fd}) do
    _ = :file.close(fd)
    _ = File.rm(tmp)
    :ok
  end

  def abort(_other), do: :ok
end
