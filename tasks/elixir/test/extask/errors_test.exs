defmodule Extask.ErrorsTest do
  use ExUnit.Case, async: true
  doctest Extask.Errors

  alias Extask.{Errors, PermanentError, TransientError, UsageError}
  alias S3Client.Error
  alias S3ClientTest.ErrorSamples

  test "each error maps to its kind and exit code" do
    assert {Errors.kind(%UsageError{message: "m"}), Errors.exit_code(%UsageError{message: "m"})} ==
             {:usage, 64}

    assert {Errors.kind(%PermanentError{message: "m"}),
            Errors.exit_code(%PermanentError{message: "m"})} == {:permanent, 65}

    assert {Errors.kind(%TransientError{message: "m"}),
            Errors.exit_code(%TransientError{message: "m"})} == {:transient, 75}

    assert Errors.exit_code(%Extask.JSONError{message: "m"}) == 70
  end

  test "the chain follows causes of any depth and kind" do
    root = %File.Error{reason: :eacces, action: "read file", path: "/x"}
    middle = %PermanentError{message: "loading manifest", cause: root}
    top = %PermanentError{message: "archive failed", cause: middle}

    assert Errors.chain(top) ==
             ~S(archive failed: loading manifest: could not read file "/x": permission denied)

    assert Errors.chain(%PermanentError{message: "a", cause: "plain text"}) == "a: plain text"
    assert Errors.chain(%PermanentError{message: "a", cause: :weird_reason}) == "a: weird_reason"
    assert Errors.chain(%PermanentError{message: "a", cause: {:closed, 1}}) == "a: {:closed, 1}"
  end

  test "S3 client errors: transient vs permanent maps onto exit codes 75 and 65" do
    %{transient: transient, permanent: permanent} = ErrorSamples.classified()

    for error <- transient do
      assert Error.transient?(error), inspect(error)
      assert Extask.Errors.exit_code(error) == 75
    end

    for error <- permanent do
      refute Error.transient?(error), inspect(error)
      assert Extask.Errors.exit_code(error) == 65
    end
  end

  test "the error chain of an S3 client error names operation, location, code and cause" do
    assert Extask.Errors.chain(ErrorSamples.connection_refused()) ==
             "GetObject s3://raw/in/a.json failed: ConnectionError: request to 127.0.0.1:1 " <>
               "failed (after 4 attempts): connection refused"
  end
end
