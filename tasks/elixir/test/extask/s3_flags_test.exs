defmodule Extask.S3FlagsTest do
  use ExUnit.Case, async: true
  doctest Extask.S3Flags

  import ExtaskTest.Run, only: [tmp_dir!: 1]

  alias Extask.{Config, S3Flags}
  alias S3ClientTest.StubServer

  @secret "s3-secret-4b1d-never-print-me"

  defp parse(argv, env) do
    {:ok, {:run, config}} = Config.parse(["discover", "--run-id", "r" | argv], env)
    config
  end

  test "flags win over env; path style and region and CA file reach the client config" do
    ca = Path.join(tmp_dir!("ca"), "ca.pem")
    File.write!(ca, "not checked until a TLS connection")

    env = %{
      "EXTASK_BUCKET" => "from-env",
      "EXTASK_S3_ENDPOINT_URL" => "https://s3.example.com",
      "EXTASK_S3_REGION" => "eu-west-1",
      "EXTASK_S3_PATH_STYLE" => "false",
      "EXTASK_S3_CA_FILE" => ca,
      "EXTASK_S3_ACCESS_KEY_ID" => "AKID",
      "EXTASK_S3_SECRET_ACCESS_KEY" => @secret
    }

    {:ok, settings} = S3Flags.from_config(parse(["--bucket", "from-flag"], env))
    assert settings.bucket == "from-flag"
    assert settings.s3.region == "eu-west-1"
    assert settings.s3.addressing == :virtual_host
    assert settings.s3.ca_file == ca
    assert settings.s3.credentials.secret_access_key == @secret
    refute inspect(settings) =~ @secret
    refute inspect(S3Flags.describe(settings)) =~ @secret
  end

  test "credentials may come from *_FILE variables; both forms at once are refused" do
    dir = tmp_dir!("creds")
    File.write!(Path.join(dir, "id"), "AKID\n")
    File.write!(Path.join(dir, "secret"), @secret <> "\n")

    base = %{"EXTASK_BUCKET" => "raw", "EXTASK_S3_ENDPOINT_URL" => "http://127.0.0.1:1"}

    env =
      Map.merge(base, %{
        "EXTASK_S3_ACCESS_KEY_ID_FILE" => Path.join(dir, "id"),
        "EXTASK_S3_SECRET_ACCESS_KEY_FILE" => Path.join(dir, "secret")
      })

    {:ok, settings} = S3Flags.from_config(parse([], env))
    assert settings.s3.credentials.access_key_id == "AKID"
    assert settings.s3.credentials.secret_access_key == @secret

    both = Map.put(env, "EXTASK_S3_SECRET_ACCESS_KEY", @secret)
    assert {:error, error} = S3Flags.from_config(parse([], both))
    assert error.message =~ "expected only one of EXTASK_S3_SECRET_ACCESS_KEY"
    refute error.message =~ @secret
  end

  test "bad values are usage errors naming the flag or variable" do
    env = %{"EXTASK_S3_ACCESS_KEY_ID" => "AKID", "EXTASK_S3_SECRET_ACCESS_KEY" => @secret}

    cases = [
      {[], "expected --bucket or EXTASK_BUCKET to be set, got: none"},
      {["--bucket", "Bad_Bucket"],
       ~S(expected --bucket to be an S3 bucket name, got: "Bad_Bucket")},
      {["--bucket", "raw"], "expected --s3-endpoint-url or EXTASK_S3_ENDPOINT_URL to be set"},
      {["--bucket", "raw", "--s3-endpoint-url", "ftp://x"], "expected --s3-endpoint-url to be"},
      {["--bucket", "raw", "--s3-endpoint-url", "http://x", "--s3-path-style", "maybe"],
       ~S(expected --s3-path-style to be true or false, got: "maybe")}
    ]

    for {argv, expected} <- cases do
      assert {:error, error} = Config.parse(["discover", "--run-id", "r" | argv], env)
      assert error.message =~ expected
    end
  end

  test "the client's retries are logged as warnings, never with the secret" do
    slow_down = {503, [], StubServer.error_body("SlowDown", "Please reduce your request rate.")}

    list_ok =
      {200, [],
       "<ListBucketResult><Name>raw</Name><IsTruncated>false</IsTruncated></ListBucketResult>"}

    port = StubServer.start!([slow_down, slow_down, list_ok])

    env = %{
      "EXTASK_S3_ENDPOINT_URL" => "http://127.0.0.1:#{port}",
      "EXTASK_S3_ACCESS_KEY_ID" => "AKIDSTUB",
      "EXTASK_S3_SECRET_ACCESS_KEY" => @secret
    }

    {:ok, log_device} = StringIO.open("")
    log = Extask.Log.new(:info, log_device)
    {:ok, settings} = S3Flags.from_config(parse(["--bucket", "raw"], env), log)

    assert {:ok, %{objects: []}} = S3Client.list_objects(settings.s3, settings.bucket)

    {_, logged} = StringIO.contents(log_device)
    lines = logged |> String.split("\n", trim: true) |> Enum.map(&Extask.JSON.decode!/1)

    assert Enum.map(lines, &{&1["msg"], &1["attempt"], &1["code"]}) == [
             {"S3 request failed, retrying", 1, "SlowDown"},
             {"S3 request failed, retrying", 2, "SlowDown"}
           ]

    for line <- lines do
      assert %{"level" => "warn", "operation" => "ListObjectsV2", "bucket" => "raw"} = line
      assert {line["status"], line["max_attempts"]} == {503, 4}
      assert line["delay_ms"] > 0
      assert line["error"] =~ "ListObjectsV2 s3://raw failed: HTTP 503 SlowDown"
    end

    refute logged =~ @secret
  end
end
