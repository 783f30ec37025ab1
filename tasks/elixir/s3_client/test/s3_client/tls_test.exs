defmodule S3Client.TLSTest do
  @moduledoc """
  TLS verification against a local HTTPS stub whose certificate is issued, for
  `localhost` only, by a throwaway CA made with the `openssl` CLI: refused by default
  (the CA is not in the system store), accepted with the CA file, refused again when the
  host name does not match, accepted without any check only when verification is turned
  off explicitly.
  """
  use ExUnit.Case, async: true

  alias S3Client.{Config, Credentials, Error}
  alias S3ClientTest.StubServer

  if System.find_executable("openssl") == nil do
    @moduletag skip: "openssl CLI not found (config_test.exs still checks the ssl options)"
  end

  @ok {200, [], ""}

  setup_all do
    dir = Path.join(System.tmp_dir!(), "s3client-tls-#{System.unique_integer([:positive])}")
    File.mkdir_p!(dir)
    on_exit(fn -> File.rm_rf!(dir) end)

    ext = Path.join(dir, "server.ext")

    File.write!(ext, """
    subjectAltName = DNS:localhost
    basicConstraints = critical, CA:FALSE
    keyUsage = critical, digitalSignature, keyEncipherment
    extendedKeyUsage = serverAuth
    """)

    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]

    openssl!(
      dir,
      ["req", "-x509"] ++
        ec ++ ["-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=extask test CA"]
    )

    openssl!(
      dir,
      ["req"] ++ ec ++ ["-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost"]
    )

    openssl!(dir, [
      "x509",
      "-req",
      "-in",
      "server.csr",
      "-CA",
      "ca.pem",
      "-CAkey",
      "ca.key",
      "-CAcreateserial",
      "-out",
      "server.pem",
      "-days",
      "2",
      "-extfile",
      "server.ext"
    ])

    tls = [
      certfile: String.to_charlist(Path.join(dir, "server.pem")),
      keyfile: String.to_charlist(Path.join(dir, "server.key")),
      log_level: :warning
    ]

    %{tls: tls, ca_file: Path.join(dir, "ca.pem")}
  end

  defp openssl!(dir, args) do
    {output, status} = System.cmd("openssl", args, cd: dir, stderr_to_stdout: true)
    if status != 0, do: raise("openssl #{Enum.join(args, " ")} failed:\n#{output}")
  end

  defp config(host, port, extra) do
    Config.new!(
      [
        endpoint: "https://#{host}:#{port}",
        credentials: Credentials.new("AKIDSTUB", "secret"),
        max_attempts: 3,
        base_delay_ms: 1,
        max_delay_ms: 2,
        connect_timeout_ms: 5_000,
        timeout_ms: 5_000
      ] ++ extra
    )
  end

  test "verification is on by default: a certificate from an unknown CA is refused", ctx do
    port = StubServer.start!([@ok], tls: ctx.tls)

    assert {:error, %Error{} = error} = S3Client.head_bucket(config("localhost", port, []), "b")
    assert error.code == "TLSError"
    assert error.cause =~ ~r/unknown ca/i
    # Permanent: no retries, exit 65.
    refute Error.transient?(error)
    assert error.attempts == 1
    assert StubServer.requests(port) == []
  end

  test "accepted when its CA file is given", ctx do
    port = StubServer.start!([@ok], tls: ctx.tls)

    assert S3Client.head_bucket(config("localhost", port, ca_file: ctx.ca_file), "b") == :ok
    assert [%{method: "HEAD", path: "/b"}] = StubServer.requests(port)
  end

  test "refused when the host name does not match the certificate", ctx do
    port = StubServer.start!([@ok], tls: ctx.tls)

    # Same server, same trusted CA, but reached as 127.0.0.1: not a name in the certificate.
    assert {:error, %Error{code: "TLSError"} = error} =
             S3Client.head_bucket(config("127.0.0.1", port, ca_file: ctx.ca_file), "b")

    assert error.cause =~ ~r/handshake|hostname|certificate/i
    assert StubServer.requests(port) == []
  end

  test "verify_tls: false is the only way to skip the checks", ctx do
    port = StubServer.start!([@ok], tls: ctx.tls)

    assert S3Client.head_bucket(config("127.0.0.1", port, verify_tls: false), "b") == :ok
  end
end
