defmodule S3Client.ErrorTest do
  use ExUnit.Case, async: true
  doctest S3Client.Error

  alias S3Client.Error
  alias S3ClientTest.ErrorSamples

  test "transient vs permanent: 5xx, throttling, timeouts and dropped connections are transient" do
    %{transient: transient, permanent: permanent} = ErrorSamples.classified()
    for error <- transient, do: assert(Error.transient?(error), inspect(error))
    for error <- permanent, do: refute(Error.transient?(error), inspect(error))
  end

  test "the message names operation, location, code and attempts, but not the cause" do
    assert Exception.message(ErrorSamples.connection_refused()) ==
             "GetObject s3://raw/in/a.json failed: ConnectionError: request to 127.0.0.1:1 " <>
               "failed (after 4 attempts)"
  end
end
