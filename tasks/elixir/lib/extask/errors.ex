# The exceptions come first: Extask.Errors below pattern-matches on their structs.

defmodule Extask.UsageError do
  @moduledoc "A flag, command or config value is missing or invalid (exit 64)."
  defexception [:message, cause: nil]
  @type t :: %__MODULE__{message: String.t(), cause: term()}
end

defmodule Extask.PermanentError do
  @moduledoc "Input or state that retrying cannot fix (exit 65)."
  defexception [:message, cause: nil]
  @type t :: %__MODULE__{message: String.t(), cause: term()}
end

defmodule Extask.TransientError do
  @moduledoc "A failure that may pass on retry: network, timeouts, a busy server (exit 75)."
  defexception [:message, cause: nil]
  @type t :: %__MODULE__{message: String.t(), cause: term()}
end

defmodule Extask.JSONError do
  @moduledoc "JSON text that cannot be decoded, or a term that cannot be encoded."
  defexception [:message, position: nil]
  @type t :: %__MODULE__{message: String.t(), position: non_neg_integer() | nil}
end

defmodule Extask.Errors do
  @moduledoc """
  The failures a command can foresee, and how each maps onto the exit-code table.

  Operators retry or fail fast from the exit code alone, so every foreseen failure is one of
  these exceptions, turned into a code and a single error line in exactly one place
  (`Extask.CLI.run/3`):

      Extask.UsageError      bad flag or config value           -> 64, no retries
      Extask.PermanentError  bad input, refused operation       -> 65, no retries
      Extask.TransientError  network, busy server, timeout      -> 75, retried
      Extask.JSONError       malformed JSON or a term JSON cannot hold (a bug or bad data)
      S3Client.Error         a failed S3 request (the S3 client's error): transient (5xx,
                             throttling, network) -> 75, permanent (other 4xx, TLS, local
                             file) -> 65

  Any other exception is a bug: `internal`, exit 70, retried like a transient failure.
  "Nothing to do" is not an error: a command returns a result with status `:nothing_to_do`.

  Each error carries a constant-ish `message` and an optional `cause` (another exception, a
  POSIX reason atom or a string), so the error line can show the whole chain.
  """

  @type kind :: :usage | :permanent | :transient | :internal
  @type task_error ::
          Extask.UsageError.t()
          | Extask.PermanentError.t()
          | Extask.TransientError.t()
          | S3Client.Error.t()

  @doc """
  The `error_kind` of an exception; anything not foreseen is `:internal`.

      iex> Extask.Errors.kind(%Extask.TransientError{message: "timeout"})
      :transient
      iex> Extask.Errors.kind(%RuntimeError{message: "boom"})
      :internal
      iex> Extask.Errors.kind(%S3Client.Error{operation: "GetObject", status: 503, code: "SlowDown"})
      :transient
      iex> Extask.Errors.kind(%S3Client.Error{operation: "GetObject", status: 404, code: "NoSuchKey"})
      :permanent
  """
  @spec kind(Exception.t()) :: kind()
  def kind(%Extask.UsageError{}), do: :usage
  def kind(%Extask.PermanentError{}), do: :permanent
  def kind(%Extask.TransientError{}), do: :transient

  def kind(%S3Client.Error{} = error),
    do: if(S3Client.Error.transient?(error), do: :transient, else: :permanent)

  def kind(_other), do: :internal

  @doc """
  The exit code the contract gives an exception.

      iex> Extask.Errors.exit_code(%Extask.UsageError{message: "bad flag"})
      64
      iex> Extask.Errors.exit_code(%ArgumentError{message: "bug"})
      70
  """
  @spec exit_code(Exception.t()) :: Extask.ExitCode.t()
  def exit_code(exception), do: exception |> kind() |> Extask.ExitCode.code()

  @doc """
  The first `max` of `items`, each as `fun` renders it, joined by "; ", and how many more
  there are: the one-line listing an error message can carry (the log has every item).

      iex> Extask.Errors.listing(["a", "b", "c"], 2, &String.upcase/1)
      "A; B; and 1 more (see the warn lines)"
      iex> Extask.Errors.listing(["a"], 2, &String.upcase/1)
      "A"
  """
  @spec listing([term()], pos_integer(), (term() -> String.t())) :: String.t()
  def listing(items, max, fun) do
    shown = items |> Enum.take(max) |> Enum.map_join("; ", fun)

    case length(items) - max do
      more when more > 0 -> shown <> "; and #{more} more (see the warn lines)"
      _ -> shown
    end
  end

  @doc """
  The cause chain of an error, joined with `": "`, for the `error` field of the error line.

      iex> cause = %Extask.TransientError{message: "connect failed", cause: :econnrefused}
      iex> Extask.Errors.chain(%Extask.TransientError{message: "listing bucket", cause: cause})
      "listing bucket: connect failed: connection refused"
      iex> Extask.Errors.chain(%RuntimeError{message: "boom"})
      "boom"
  """
  @spec chain(Exception.t() | term()) :: String.t()
  def chain(error), do: error |> links() |> Enum.join(": ")

  defp links(nil), do: []
  defp links(text) when is_binary(text), do: [text]
  defp links(reason) when is_atom(reason), do: [posix_text(reason)]
  defp links(%{__exception__: true, cause: cause} = error), do: [message(error) | links(cause)]
  defp links(%{__exception__: true} = error), do: [message(error)]
  defp links(other), do: [inspect(other)]

  defp message(error), do: Exception.message(error)

  defp posix_text(reason) do
    text = to_string(:file.format_error(reason))
    if String.starts_with?(text, "unknown POSIX error"), do: Atom.to_string(reason), else: text
  end
end
