defmodule S3Client.CredentialsTest do
  use ExUnit.Case, async: true
  doctest S3Client.Credentials

  alias S3Client.{Config, Credentials}

  @secret "wJalrXUtnFEMI/K7MDENG+never-print-me"
  @token "session-token-never-print-me"

  test "inspect never shows the secret or the session token, even nested in a config" do
    creds = Credentials.new("AKIDEXAMPLE", @secret, @token)
    config = Config.new!(endpoint: "http://127.0.0.1:9", credentials: creds)

    for text <- [inspect(creds), inspect(config), inspect(config, pretty: true, limit: :infinity)] do
      refute text =~ @secret
      refute text =~ @token
      assert text =~ "AKIDEXAMPLE"
      assert text =~ ~s(secret_access_key: "[redacted]")
    end

    assert inspect(creds) =~ ~s(session_token: "[redacted]")
  end

  test "new/3: the session token is optional; only strings are taken" do
    creds = Credentials.new("AKID", @secret)

    assert {creds.access_key_id, creds.secret_access_key, creds.session_token} ==
             {"AKID", @secret, nil}

    assert Credentials.new("AKID", @secret, @token).session_token == @token

    for args <- [[:akid, @secret], ["AKID", nil], ["AKID", @secret, 42], ['AKID', @secret]] do
      assert_raise FunctionClauseError, fn -> apply(Credentials, :new, args) end
    end

    # The struct cannot be built without a key id and a secret either.
    assert_raise ArgumentError, ~r/access_key_id|secret_access_key/, fn ->
      struct!(Credentials, session_token: @token)
    end
  end

  test "inspect without a session token shows nil, never a redaction of nothing" do
    text = inspect(Credentials.new("AKID", @secret))
    assert text =~ ~s(session_token: nil)
    refute text =~ @secret
  end

  test "the secret stays out of whatever holds the credentials, at any inspect options" do
    creds = Credentials.new("AKIDEXAMPLE", @secret, @token)

    texts = [
      inspect([creds]),
      inspect(%{nested: {creds}}),
      inspect(creds, limit: 1),
      inspect(creds, printable_limit: 8),
      inspect(creds, pretty: true, width: 10),
      inspect(creds, charlists: :as_lists, binaries: :as_strings)
    ]

    for text <- texts do
      refute text =~ @secret
      refute text =~ @token
    end

    # Not a string: interpolating it fails, and the error (which inspects it) is redacted.
    error = assert_raise Protocol.UndefinedError, fn -> "#{creds}" end
    assert Exception.message(error) =~ ~s(secret_access_key: "[redacted]")
    refute Exception.message(error) =~ @secret
  end
end
