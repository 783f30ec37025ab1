defmodule S3Client.HTTPTest do
  @moduledoc """
  The transport against a scripted local server (`S3ClientTest.StubServer`, plain :gen_tcp):
  retries with backoff on 503, bounded attempts, no retries on permanent errors,
  connection errors, truncated downloads. Loopback only, fast delays.
  """
  use ExUnit.Case, async: true
  doctest S3Client.HTTP

  import S3ClientTest.Tmp, only: [tmp_dir!: 1]

  alias S3Client.{Config, Credentials, Error}
  alias S3ClientTest.StubServer

  @secret "stub-secret-never-print-me"
  @list_ok {200, [{"content-type", "application/xml"}],
            ~s(<ListBucketResult><Name>b</Name><KeyCount>1</KeyCount><IsTruncated>false</IsTruncated>) <>
              "<Contents><Key>k</Key><Size>3</Size></Contents></ListBucketResult>"}

  defp config(port, extra \\ []) do
    [
      endpoint: "http://127.0.0.1:#{port}",
      credentials: Credentials.new("AKIDSTUB", @secret),
      max_attempts: 4,
      base_delay_ms: 20,
      max_delay_ms: 40,
      timeout_ms: 5_000,
      idle_timeout_ms: 2_000
    ]
    |> Keyword.merge(extra)
    |> Config.new!()
  end

  defp slow_down,
    do: {503, [], StubServer.error_body("SlowDown", "Please reduce your request rate.")}

  test "503 twice, then 200: retried with backoff, each attempt signed afresh" do
    port = StubServer.start!([slow_down(), slow_down(), @list_ok])
    test = self()
    config = config(port, on_retry: &send(test, {:retry, &1, &2}))

    {elapsed_us, result} = :timer.tc(fn -> S3Client.list_objects(config, "b") end)

    assert {:ok, %{objects: [%{key: "k", size: 3}]}} = result
    requests = StubServer.requests(port)
    assert length(requests) == 3
    assert Enum.all?(requests, &(&1.path == "/b?list-type=2"))
    assert Enum.all?(requests, &(&1.headers["authorization"] =~ "Credential=AKIDSTUB/"))
    # Backoff after attempt n is at least half of min(40, 20 * 2^(n-1)): 10 + 20 ms.
    assert elapsed_us >= 30_000

    # on_retry hears of each failed attempt before its retry (extask logs it as a warning:
    # Extask.S3FlagsTest), with the backoff it is about to sleep.
    retries =
      for _ <- 1..2 do
        assert_received {:retry, %Error{} = error, retry}
        {error, retry}
      end

    refute_received {:retry, _, _}

    assert Enum.map(retries, fn {error, retry} -> {retry.attempt, error.code} end) == [
             {1, "SlowDown"},
             {2, "SlowDown"}
           ]

    for {error, retry} <- retries do
      assert {retry.max_attempts, error.attempts} == {4, retry.attempt}
      assert retry.delay_ms in 10..40
    end

    refute inspect(retries) =~ @secret
  end

  test "a server that keeps failing: exactly max_attempts requests, then a transient error" do
    port = StubServer.start!([slow_down()])
    config = config(port, max_attempts: 3)

    assert {:error, %Error{} = error} = S3Client.head_object(config, "b", "in/k.json")
    assert length(StubServer.requests(port)) == 3
    assert {error.status, error.code, error.attempts} == {503, "ServiceUnavailable", 3}
    assert Error.transient?(error)
    assert Exception.message(error) =~ "HeadObject s3://b/in/k.json failed: HTTP 503"
    assert Exception.message(error) =~ "after 3 attempts"
  end

  test "a permanent error is not retried" do
    port =
      StubServer.start!([
        {404, [], StubServer.error_body("NoSuchKey", "The specified key does not exist.")}
      ])

    target = Path.join(tmp_dir!("s3-http"), "out")

    assert {:error, error} =
             S3Client.get_object(config(port), "b", "missing.json", {:file, target})

    assert length(StubServer.requests(port)) == 1

    assert {error.status, error.code, error.key, error.attempts} ==
             {404, "NoSuchKey", "missing.json", 1}

    refute Error.transient?(error)
    assert File.ls!(Path.dirname(target)) == []
  end

  test "connection refused is transient, retried, and reported with its cause" do
    port = S3ClientTest.S3Server.free_port()

    assert {:error, error} = S3Client.head_bucket(config(port, max_attempts: 2), "b")
    assert {error.code, error.attempts, error.cause} == {"ConnectionError", 2, :econnrefused}
    assert Error.transient?(error)
    assert Exception.message(error) =~ "HeadBucket s3://b failed: ConnectionError"
  end

  test "a truncated download to a file is retried from the start" do
    body = :crypto.strong_rand_bytes(10_000)

    port =
      StubServer.start!([
        {:truncated, 200, [], binary_part(body, 0, 4_000), byte_size(body)},
        {200, [{"etag", ~s("abc")}], body}
      ])

    dir = tmp_dir!("s3-http")
    target = Path.join(dir, "out.bin")

    assert {:ok, %{bytes: 10_000, etag: "abc", status: 200}} =
             S3Client.get_object(config(port), "b", "k", {:file, target})

    assert File.read!(target) == body
    assert File.ls!(dir) == ["out.bin"]
    assert length(StubServer.requests(port)) == 2
  end

  test "a download that stalls times out after idle_timeout_ms, and is retried" do
    body = :crypto.strong_rand_bytes(10_000)

    port =
      StubServer.start!([
        {:stall, 200, [], binary_part(body, 0, 4_000), byte_size(body)},
        {200, [], body}
      ])

    target = Path.join(tmp_dir!("s3-http"), "out.bin")
    config = config(port, idle_timeout_ms: 200)

    assert {:ok, %{bytes: 10_000}} = S3Client.get_object(config, "b", "k", {:file, target})
    assert File.read!(target) == body
    assert length(StubServer.requests(port)) == 2

    stalled_only = StubServer.start!([{:stall, 200, [], "", 10}])
    config = config(stalled_only, idle_timeout_ms: 100, max_attempts: 2)

    assert {:error, %Error{code: "Timeout", attempts: 2}} =
             S3Client.get_object(config, "b", "k", {:file, target})

    # A failed download never touches an existing target, nor leaves temporary files.
    assert File.read!(target) == body
    assert File.ls!(Path.dirname(target)) == ["out.bin"]
  end

  test "a truncated download into a function is not replayed once it has seen bytes" do
    body = :crypto.strong_rand_bytes(10_000)

    port =
      StubServer.start!([
        {:truncated, 200, [], binary_part(body, 0, 4_000), byte_size(body)},
        {200, [], body}
      ])

    sink = {:fun, 0, fn chunk, n -> n + byte_size(chunk) end}
    assert {:error, error} = S3Client.get_object(config(port), "b", "k", sink)
    assert Error.transient?(error)
    assert error.attempts == 1
    assert length(StubServer.requests(port)) == 1
  end

  test "a sink function that raises cancels the download and lets the exception through" do
    body = :crypto.strong_rand_bytes(200_000)
    port = StubServer.start!([{200, [], body}])
    sink = {:fun, nil, fn _chunk, _acc -> raise "sink full" end}

    assert_raise RuntimeError, "sink full", fn ->
      S3Client.get_object(config(port), "b", "k", sink)
    end

    # The transport is still usable, and nothing was left in the mailbox.
    assert {:ok, %{bytes: 200_000}} =
             S3Client.get_object(config(port), "b", "k", {:fun, nil, fn _chunk, acc -> acc end})

    refute_received {:http, _}
  end

  test "a 200 CopyObject answer with an Error body is an error, and retried" do
    port =
      StubServer.start!([
        {200, [], StubServer.error_body("InternalError", "We encountered an internal error.")},
        {200, [],
         "<CopyObjectResult><LastModified>2026-11-23T06:37:30.000Z</LastModified>" <>
           "<ETag>&quot;abc&quot;</ETag></CopyObjectResult>"}
      ])

    assert {:ok, %{etag: "abc"}} = S3Client.copy_object(config(port), "src", "a b", "dst", "c")
    [first, _second] = StubServer.requests(port)
    assert first.method == "PUT"
    assert first.path == "/dst/c"
    assert first.headers["x-amz-copy-source"] == "/src/a%20b"
    assert first.headers["x-amz-metadata-directive"] == "COPY"
  end

  test "DeleteObjects sends Content-MD5 of its XML body and reports per-key errors" do
    port =
      StubServer.start!([
        {200, [],
         "<DeleteResult><Deleted><Key>a</Key></Deleted><Error><Key>b</Key>" <>
           "<Code>AccessDenied</Code><Message>Access Denied</Message></Error></DeleteResult>"}
      ])

    assert {:ok, %{deleted: ["a"], errors: [%{key: "b", code: "AccessDenied"}]}} =
             S3Client.delete_objects(config(port), "bkt", ["a", "b"])

    [request] = StubServer.requests(port)
    assert {request.method, request.path} == {"POST", "/bkt?delete="}
    assert request.headers["content-md5"] == Base.encode64(:crypto.hash(:md5, request.body))
    assert request.body =~ "<Object><Key>a</Key></Object><Object><Key>b</Key></Object>"
  end
end
