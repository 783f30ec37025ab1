defmodule S3Client.HTTP.ErrorBuilderTest do
  use ExUnit.Case, async: true
  doctest S3Client.HTTP.ErrorBuilder

  alias S3Client.{Config, Credentials, Error}
  alias S3Client.HTTP.ErrorBuilder

  @request %{operation: "GetObject", method: :get, bucket: "raw", key: "in/a.json"}

  defp config, do: Config.new!(endpoint: "https://127.0.0.1:9443", credentials: creds())
  defp creds, do: Credentials.new("AKID", "secret")

  test "a response's S3 Error body wins over the status and the headers" do
    body =
      "<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message>" <>
        "<RequestId>FROM-BODY</RequestId></Error>"

    error = ErrorBuilder.response_error(@request, 503, %{"x-amz-request-id" => "HDR"}, body)

    assert %Error{
             operation: "GetObject",
             bucket: "raw",
             key: "in/a.json",
             status: 503,
             code: "SlowDown",
             message: "Please reduce your request rate.",
             request_id: "FROM-BODY",
             attempts: 1
           } = error

    assert Error.transient?(error)
  end

  test "without an Error body, the status names the code; an unknown one is HTTP<status>" do
    html = "<html>Bad Gateway</html>"
    assert ErrorBuilder.response_error(@request, 502, %{}, html).code == "BadGateway"
    assert ErrorBuilder.response_error(@request, 412, %{}, "").code == "PreconditionFailed"

    teapot = ErrorBuilder.response_error(@request, 418, %{}, "")
    assert {teapot.code, teapot.message} == {"HTTP418", nil}
    refute Error.transient?(teapot)
  end

  test "no response: TLS alerts are permanent, timeouts and socket errors transient" do
    alert =
      {:tls_alert,
       {:unknown_ca, 'TLS client: In state certify received SERVER ALERT: Unknown CA\n'}}

    tls =
      ErrorBuilder.connection_error(
        config(),
        @request,
        {:failed_connect, [{:to_address, {'127.0.0.1', 9443}}, {:inet, [:inet], alert}]}
      )

    assert {tls.code, tls.message} == {"TLSError", "TLS handshake with 127.0.0.1:9443 failed"}
    assert tls.cause == "TLS client: In state certify received SERVER ALERT: Unknown CA"
    refute Error.transient?(tls)

    timeout = ErrorBuilder.connection_error(config(), @request, :timeout)

    assert {timeout.code, timeout.message} ==
             {"Timeout", "no response from 127.0.0.1:9443 in time"}

    assert Error.transient?(timeout)

    reset = ErrorBuilder.connection_error(config(), @request, {:error, :econnreset})
    assert {reset.code, reset.cause} == {"ConnectionError", :econnreset}
    assert Error.transient?(reset)
  end

  test "a download its sink cannot take is a permanent local error" do
    fun_sink = {:fun, nil, fn _chunk, acc -> acc end}
    error = ErrorBuilder.local_error(@request, fun_sink, :enospc)

    assert {error.code, error.message, error.cause} ==
             {"LocalFileError", "cannot write the download", :enospc}

    refute Error.transient?(error)
  end
end
