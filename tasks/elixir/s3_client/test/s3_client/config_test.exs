defmodule S3Client.ConfigTest do
  use ExUnit.Case, async: true
  doctest S3Client.Config

  alias S3Client.{Config, Credentials}

  @secret "wJalrXUtnFEMI/K7MDENG+never-print-me"

  test "bad options are argument errors naming the option, never the secret" do
    creds = Credentials.new("AKID", @secret)

    cases = [
      {[endpoint: "127.0.0.1:9000", credentials: creds], "expected endpoint"},
      {[endpoint: "http://x", credentials: %{secret: @secret}], "expected credentials"},
      {[endpoint: "http://x", credentials: creds, addressing: :dns], "expected addressing"},
      {[endpoint: "http://x", credentials: creds, region: "EU West"], "expected region"},
      {[endpoint: "http://x", credentials: creds, ca_file: "/nonexistent.pem"], "ca_file"},
      {[endpoint: "http://x", credentials: creds, timeout_ms: -1], "timeout_ms"},
      {[endpoint: "http://x", credentials: creds, max_attemps: 2], ":max_attemps"}
    ]

    for {opts, text} <- cases do
      assert {:error, %ArgumentError{message: message}} = Config.new(opts)
      assert message =~ text
      refute message =~ @secret
    end
  end

  test "https: peer verification and the HTTPS host-name check are on by default" do
    config =
      Config.new!(endpoint: "https://s3.example.com", credentials: Credentials.new("a", "b"))

    opts = Config.ssl_options(config)
    assert opts[:verify] == :verify_peer
    assert [_ | _] = opts[:cacerts]
    assert opts[:server_name_indication] == 's3.example.com'
    match_fun = opts[:customize_hostname_check][:match_fun]
    assert is_function(match_fun, 2)

    # The match fun is OTP's HTTPS one: it accepts a wildcard certificate name.
    assert match_fun.({:dns_id, 'bucket.s3.example.com'}, {:dNSName, '*.s3.example.com'})

    assert Config.ssl_options(%{config | scheme: :http}) == []
    assert Config.ssl_options(%{config | verify_tls: false})[:verify] == :verify_none
  end

  test "endpoints: default ports, base paths, IPv6" do
    creds = Credentials.new("a", "b")
    config = Config.new!(endpoint: "https://s3.example.com/base/", credentials: creds)
    assert {config.port, config.base_path} == {443, "/base"}
    assert Config.host_header(config, "s3.example.com") == "s3.example.com"

    v6 = Config.new!(endpoint: "http://[::1]:9000", credentials: creds)
    assert Config.host_header(v6, v6.host) == "[::1]:9000"
  end
end
