defmodule S3Client.Error do
  @moduledoc """
  A failed S3 request: which operation on which bucket and key, the HTTP status, the S3
  error code and message from the response body, the request id, and — for failures
  without a response (connection refused, timeout, TLS) — the `cause`.

  `transient?/1` says whether retrying can help (5xx, throttling, timeouts, connection
  errors), for callers to choose between a later retry and giving up (extask maps it onto
  its exit codes: 75 for transient, 65 for permanent). The client has already retried
  transient errors, within its bounded attempts, by the time one is returned (`attempts`).

      iex> error = %S3Client.Error{operation: "GetObject", bucket: "raw", key: "a/b.json",
      ...>   status: 404, code: "NoSuchKey", message: "The specified key does not exist.",
      ...>   request_id: "17A2"}
      iex> Exception.message(error)
      "GetObject s3://raw/a/b.json failed: HTTP 404 NoSuchKey: The specified key does not exist. (request id 17A2)"
      iex> S3Client.Error.transient?(error)
      false
  """

  defexception [
    :operation,
    :bucket,
    :key,
    :status,
    :code,
    :message,
    :request_id,
    :cause,
    attempts: 1
  ]

  @type t :: %__MODULE__{
          operation: String.t(),
          bucket: String.t() | nil,
          key: String.t() | nil,
          status: non_neg_integer() | nil,
          code: String.t() | nil,
          message: String.t() | nil,
          request_id: String.t() | nil,
          cause: term(),
          attempts: pos_integer()
        }

  # S3 and AWS error codes that mean "busy, try again later", whatever the status.
  @throttling_codes ~w(
    SlowDown Throttling ThrottlingException ThrottledException RequestThrottled
    RequestThrottledException TooManyRequestsException RequestLimitExceeded
    BandwidthLimitExceeded ProvisionedThroughputExceededException
    RequestTimeout RequestTimeoutException InternalError ServiceUnavailable
    OperationAborted IDPCommunicationError
  )

  # Codes set by the client itself for failures without an S3 error body.
  @transient_client_codes ~w(ConnectionError Timeout MalformedResponse IncompleteBody)

  @doc """
  Tells whether a retry may succeed: a 5xx status, 408 or 429, an S3 throttling or
  timeout code (`SlowDown`, `RequestTimeout`, …), or a failure with no response at all
  (connection refused or reset, timeout, truncated body). TLS failures (untrusted
  certificate, wrong host name) and other 4xx are permanent.

      iex> S3Client.Error.transient?(%S3Client.Error{operation: "PutObject", status: 503, code: "SlowDown"})
      true
      iex> S3Client.Error.transient?(%S3Client.Error{operation: "PutObject", status: 400, code: "RequestTimeout"})
      true
      iex> S3Client.Error.transient?(%S3Client.Error{operation: "HeadObject", status: 403, code: "Forbidden"})
      false
      iex> S3Client.Error.transient?(%S3Client.Error{operation: "HeadBucket", code: "ConnectionError", cause: :econnrefused})
      true
      iex> S3Client.Error.transient?(%S3Client.Error{operation: "HeadBucket", code: "TLSError"})
      false
  """
  @spec transient?(t()) :: boolean()
  def transient?(%__MODULE__{status: status}) when is_integer(status) and status >= 500, do: true
  def transient?(%__MODULE__{status: status}) when status in [408, 429], do: true
  def transient?(%__MODULE__{code: code}) when code in @throttling_codes, do: true
  def transient?(%__MODULE__{code: code}) when code in @transient_client_codes, do: true
  def transient?(%__MODULE__{}), do: false

  @doc """
  The message: operation, `s3://bucket/key`, status, S3 code and message, request id; the
  attempt count when the request was retried. The `cause` is not repeated here: a caller
  that reports cause chains appends it.

      iex> Exception.message(%S3Client.Error{operation: "HeadBucket", bucket: "raw",
      ...>   code: "ConnectionError", message: "connection failed", attempts: 4})
      "HeadBucket s3://raw failed: ConnectionError: connection failed (after 4 attempts)"
  """
  @impl Exception
  @spec message(t()) :: String.t()
  def message(%__MODULE__{} = error) do
    status = if error.status, do: "HTTP #{error.status} ", else: ""
    code = error.code || "UnknownError"
    text = if error.message in [nil, ""], do: "", else: ": " <> error.message

    details =
      [
        error.request_id && "request id #{error.request_id}",
        error.attempts > 1 && "after #{error.attempts} attempts"
      ]
      |> Enum.filter(& &1)

    suffix = if details == [], do: "", else: " (" <> Enum.join(details, ", ") <> ")"
    "#{error.operation} #{location(error)} failed: #{status}#{code}#{text}#{suffix}"
  end

  @doc """
  Where the failed request pointed, as an `s3://` URL.

      iex> S3Client.Error.location(%S3Client.Error{operation: "ListObjectsV2", bucket: "raw"})
      "s3://raw"
      iex> S3Client.Error.location(%S3Client.Error{operation: "ListBuckets"})
      "s3://"
  """
  @spec location(t()) :: String.t()
  def location(%__MODULE__{bucket: nil}), do: "s3://"
  def location(%__MODULE__{bucket: bucket, key: nil}), do: "s3://#{bucket}"
  def location(%__MODULE__{bucket: bucket, key: key}), do: "s3://#{bucket}/#{key}"
end
