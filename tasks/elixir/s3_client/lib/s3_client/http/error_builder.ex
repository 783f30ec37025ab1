defmodule S3Client.HTTP.ErrorBuilder do
  @moduledoc """
  Internal to the library: how the transport (`S3Client.HTTP`) turns what went wrong into
  an `S3Client.Error` — a non-2xx response, a 2xx body that is not the expected document,
  a request without a response (connection, TLS, timeout), a download that stalled or came
  short, a local file that could not be written.

  The `code` it sets decides whether the error is retried (`S3Client.Error.transient?/1`):
  codes from the S3 `Error` body or the status, and the client's own `ConnectionError`,
  `Timeout`, `MalformedResponse`, `IncompleteBody` (transient), `TLSError` and
  `LocalFileError` (permanent).
  """

  alias S3Client.{Config, Error, HTTP, XML}

  @doc """
  The error for a non-2xx response: code, message and request id from the S3 `Error`
  body when there is one (HEAD responses have none), else from the status.

      iex> error = S3Client.HTTP.ErrorBuilder.response_error(%{operation: "HeadObject",
      ...>   method: :head, bucket: "raw", key: "a.json"}, 404, %{"x-amz-request-id" => "R1"}, "")
      iex> {error.status, error.code, error.request_id, S3Client.Error.transient?(error)}
      {404, "NotFound", "R1", false}
  """
  @spec response_error(HTTP.request(), non_neg_integer(), HTTP.headers(), binary()) ::
          Error.t()
  def response_error(request, status, headers, body) do
    doc =
      case XML.error(body) do
        {:ok, doc} -> doc
        {:error, _} -> %{code: nil, message: nil, request_id: nil, key: nil}
      end

    %{
      base(request)
      | status: status,
        code: doc.code || status_code(status),
        message: doc.message,
        request_id: doc.request_id || Map.get(headers, "x-amz-request-id")
    }
  end

  @status_codes %{
    301 => "PermanentRedirect",
    307 => "TemporaryRedirect",
    400 => "BadRequest",
    401 => "Unauthorized",
    403 => "Forbidden",
    404 => "NotFound",
    405 => "MethodNotAllowed",
    409 => "Conflict",
    411 => "MissingContentLength",
    412 => "PreconditionFailed",
    416 => "InvalidRange",
    429 => "TooManyRequests",
    500 => "InternalError",
    502 => "BadGateway",
    503 => "ServiceUnavailable",
    504 => "GatewayTimeout"
  }

  defp status_code(status), do: Map.get(@status_codes, status, "HTTP#{status}")

  @doc """
  The error for a 2xx response whose body is not what the operation expects: the S3
  error inside it when there is one, else a transient `MalformedResponse` (most likely a
  truncated body).

      iex> request = %{operation: "CopyObject", method: :put, bucket: "dst", key: "c"}
      iex> body = "<Error><Code>InternalError</Code><Message>retry</Message></Error>"
      iex> error = S3Client.HTTP.ErrorBuilder.body_error(request,
      ...>   %{status: 200, headers: %{}, body: body, parsed: nil}, :unexpected_document)
      iex> {error.status, error.code, error.message}
      {200, "InternalError", "retry"}
      iex> error = S3Client.HTTP.ErrorBuilder.body_error(request,
      ...>   %{status: 200, headers: %{}, body: "<CopyObjectRes", parsed: nil}, :malformed_xml)
      iex> {error.code, error.message, S3Client.Error.transient?(error)}
      {"MalformedResponse", "unexpected response body (:malformed_xml)", true}
  """
  @spec body_error(HTTP.request(), HTTP.response(), term()) :: Error.t()
  def body_error(request, response, reason) do
    case XML.error(response.body) do
      {:ok, _doc} ->
        response_error(request, response.status, response.headers, response.body)

      {:error, _} ->
        %{
          base(request)
          | status: response.status,
            code: "MalformedResponse",
            message: "unexpected response body (#{inspect(reason)})",
            request_id: Map.get(response.headers, "x-amz-request-id")
        }
    end
  end

  @doc """
  The error for a request that got no response: `TLSError` (permanent: an untrusted
  certificate or a wrong host name will not fix itself) with the alert's text as cause,
  `Timeout`, or `ConnectionError` with the socket's reason (e.g. `:econnrefused`) as cause.

      iex> creds = S3Client.Credentials.new("AKID", "secret")
      iex> config = S3Client.Config.new!(endpoint: "http://127.0.0.1:1", credentials: creds)
      iex> request = %{operation: "HeadBucket", method: :head, bucket: "raw"}
      iex> error = S3Client.HTTP.ErrorBuilder.connection_error(config, request,
      ...>   {:failed_connect, [{:to_address, {'127.0.0.1', 1}}, {:inet, [:inet], :econnrefused}]})
      iex> {error.code, error.cause, S3Client.Error.transient?(error)}
      {"ConnectionError", :econnrefused, true}
  """
  @spec connection_error(Config.t(), HTTP.request(), term()) :: Error.t()
  def connection_error(config, request, reason) do
    base = base(request)
    where = "#{config.host}:#{config.port}"

    case root_reason(reason) do
      {:tls_alert, {_alert, description}} ->
        %{
          base
          | code: "TLSError",
            message: "TLS handshake with #{where} failed",
            cause: text(description)
        }

      :timeout ->
        %{base | code: "Timeout", message: "no response from #{where} in time"}

      other ->
        %{base | code: "ConnectionError", message: "request to #{where} failed", cause: other}
    end
  end

  defp root_reason({:failed_connect, details}) when is_list(details) do
    case List.keyfind(details, :inet, 0) do
      {:inet, _families, reason} -> root_reason(reason)
      nil -> {:failed_connect, details}
    end
  end

  defp root_reason({:error, reason}), do: root_reason(reason)
  defp root_reason({:tls_alert, _} = alert), do: alert
  defp root_reason(reason), do: reason

  defp text(description) when is_list(description),
    do: description |> List.to_string() |> String.trim()

  defp text(description), do: inspect(description)

  @doc """
  The error for a streamed download that went silent for `idle_timeout_ms` (transient).

      iex> request = %{operation: "GetObject", method: :get, bucket: "raw", key: "k"}
      iex> error = S3Client.HTTP.ErrorBuilder.idle_timeout_error(request, 200)
      iex> {error.code, error.message, S3Client.Error.transient?(error)}
      {"Timeout", "no data for 200 ms", true}
  """
  @spec idle_timeout_error(HTTP.request(), pos_integer()) :: Error.t()
  def idle_timeout_error(request, idle_timeout_ms) do
    %{base(request) | code: "Timeout", message: "no data for #{idle_timeout_ms} ms"}
  end

  @doc """
  The error for a body shorter than its `content-length` (transient).

      iex> request = %{operation: "GetObject", method: :get, bucket: "raw", key: "k"}
      iex> error = S3Client.HTTP.ErrorBuilder.incomplete_body_error(request, 4_000, 10_000)
      iex> {error.code, error.message, S3Client.Error.transient?(error)}
      {"IncompleteBody", "got 4000 of 10000 bytes", true}
  """
  @spec incomplete_body_error(HTTP.request(), non_neg_integer(), non_neg_integer()) ::
          Error.t()
  def incomplete_body_error(request, bytes, expected) do
    %{base(request) | code: "IncompleteBody", message: "got #{bytes} of #{expected} bytes"}
  end

  @doc """
  The error for a download its sink could not take (permanent `LocalFileError`, the POSIX
  reason as cause), naming the target file of a file sink.

      iex> request = %{operation: "GetObject", method: :get, bucket: "raw", key: "k"}
      iex> error = S3Client.HTTP.ErrorBuilder.local_error(request, {:file, "/data/k"}, :enospc)
      iex> {error.code, error.message, error.cause, S3Client.Error.transient?(error)}
      {"LocalFileError", "cannot write /data/k", :enospc, false}
  """
  @spec local_error(HTTP.request(), S3Client.HTTP.Sink.t(), term()) :: Error.t()
  def local_error(request, {:file, path}, reason) do
    %{base(request) | code: "LocalFileError", message: "cannot write #{path}", cause: reason}
  end

  def local_error(request, _sink, reason) do
    %{
      base(request)
      | code: "LocalFileError",
        message: "cannot write the download",
        cause: reason
    }
  end

  defp base(request) do
    %Error{operation: request.operation, bucket: request.bucket, key: Map.get(request, :key)}
  end
end
