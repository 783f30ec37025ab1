defmodule S3ClientTest.ErrorSamples do
  @moduledoc """
  `S3Client.Error`s as the client returns them, for the tests that classify them: the
  client's own (`transient?/1`, the message) and extask's (exit codes, the error chain).
  """

  alias S3Client.Error

  @doc """
  Errors by what a retry can do: `transient` ones (5xx, throttling and timeout codes, no
  response at all) and `permanent` ones (other 4xx, TLS, a local file).
  """
  @spec classified() :: %{transient: [Error.t(), ...], permanent: [Error.t(), ...]}
  def classified do
    %{
      transient: [
        %Error{operation: "PutObject", status: 500, code: "InternalError"},
        %Error{operation: "PutObject", status: 503, code: "SlowDown"},
        %Error{operation: "PutObject", status: 429, code: "TooManyRequests"},
        %Error{operation: "PutObject", status: 400, code: "RequestTimeout"},
        %Error{operation: "PutObject", status: 200, code: "InternalError"},
        %Error{operation: "GetObject", code: "Timeout"},
        %Error{operation: "GetObject", code: "IncompleteBody"},
        %Error{operation: "GetObject", code: "ConnectionError", cause: :econnreset}
      ],
      permanent: [
        %Error{operation: "GetObject", status: 404, code: "NoSuchKey"},
        %Error{operation: "PutObject", status: 403, code: "SignatureDoesNotMatch"},
        %Error{operation: "CreateBucket", status: 409, code: "BucketAlreadyOwnedByYou"},
        %Error{operation: "GetObject", code: "TLSError"},
        %Error{operation: "GetObject", code: "LocalFileError", cause: :enospc}
      ]
    }
  end

  @doc "A GetObject that found no server after 4 attempts, its socket's reason as cause."
  @spec connection_refused() :: Error.t()
  def connection_refused do
    %Error{
      operation: "GetObject",
      bucket: "raw",
      key: "in/a.json",
      code: "ConnectionError",
      message: "request to 127.0.0.1:1 failed",
      cause: :econnrefused,
      attempts: 4
    }
  end
end
