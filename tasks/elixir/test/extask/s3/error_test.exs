defmodule Extask.S3.ErrorTest do
  use ExUnit.Case, async: true
  doctest Extask.S3.Error

  alias Extask.S3.Error

  test "transient vs permanent maps onto exit codes 75 and 65" do
    transient = [
      %Error{operation: "PutObject", status: 500, code: "InternalError"},
      %Error{operation: "PutObject", status: 503, code: "SlowDown"},
      %Error{operation: "PutObject", status: 429, code: "TooManyRequests"},
      %Error{operation: "PutObject", status: 400, code: "RequestTimeout"},
      %Error{operation: "PutObject", status: 200, code: "InternalError"},
      %Error{operation: "GetObject", code: "Timeout"},
      %Error{operation: "GetObject", code: "IncompleteBody"},
      %Error{operation: "GetObject", code: "ConnectionError", cause: :econnreset}
    ]

    permanent = [
      %Error{operation: "GetObject", status: 404, code: "NoSuchKey"},
      %Error{operation: "PutObject", status: 403, code: "SignatureDoesNotMatch"},
      %Error{operation: "CreateBucket", status: 409, code: "BucketAlreadyOwnedByYou"},
      %Error{operation: "GetObject", code: "TLSError"},
      %Error{operation: "GetObject", code: "LocalFileError", cause: :enospc}
    ]

    for error <- transient do
      assert Error.transient?(error), inspect(error)
      assert Extask.Errors.exit_code(error) == 75
    end

    for error <- permanent do
      refute Error.transient?(error), inspect(error)
      assert Extask.Errors.exit_code(error) == 65
    end
  end

  test "the error chain names operation, location, code and cause" do
    error = %Error{
      operation: "GetObject",
      bucket: "raw",
      key: "in/a.json",
      code: "ConnectionError",
      message: "request to 127.0.0.1:1 failed",
      cause: :econnrefused,
      attempts: 4
    }

    assert Extask.Errors.chain(error) ==
             "GetObject s3://raw/in/a.json failed: ConnectionError: request to 127.0.0.1:1 " <>
               "failed (after 4 attempts): connection refused"
  end
end
