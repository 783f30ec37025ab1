defmodule S3ClientTest do
  @moduledoc """
  `S3Client` against the project's real S3 server (Versity Gateway, docs/s3-server.md).

  Uses the server named by `S3_ENDPOINT_URL` and the `AWS_*` credentials when set
  (`set -a; . "$(hack/s3-server.sh env)"; set +a`), otherwise starts a private one for
  this module (free port, temp state dir) and stops it at the end. Every test works in
  its own bucket, emptied and deleted afterwards. Tagged `:s3`.
  """
  use ExUnit.Case, async: true
  doctest S3Client

  import S3ClientTest.Tmp, only: [tmp_dir!: 1]

  alias S3Client.Error
  alias S3ClientTest.S3Server

  @moduletag :s3
  @moduletag timeout: 180_000

  setup_all do
    S3Server.start_for_tests!()
  end

  setup %{config: config} do
    bucket = "s3client-#{System.unique_integer([:positive])}-#{:rand.uniform(1_000_000)}"
    assert S3Client.create_bucket(config, bucket) == :ok

    on_exit(fn ->
      {:ok, objects} = S3Client.list_all_objects(config, bucket)
      keys = Enum.map(objects, & &1.key)
      {:ok, %{errors: []}} = S3Client.delete_objects(config, bucket, keys)
      :ok = S3Client.delete_bucket(config, bucket)
    end)

    %{bucket: bucket}
  end

  test "buckets: create, head, re-create, head a missing one", %{config: config, bucket: bucket} do
    assert S3Client.head_bucket(config, bucket) == :ok

    assert {:error, %Error{status: 409, code: "BucketAlreadyOwnedByYou"} = error} =
             S3Client.create_bucket(config, bucket)

    refute Error.transient?(error)

    assert {:error, %Error{status: 404} = missing} =
             S3Client.head_bucket(config, bucket <> "-missing")

    refute Error.transient?(missing)
  end

  test "put and get a multi-MB object, streamed to a file and into a function", ctx do
    %{config: config, bucket: bucket} = ctx
    dir = tmp_dir!("s3-big")
    source = Path.join(dir, "source.bin")
    size = 6 * 1024 * 1024 + 123
    File.write!(source, :crypto.strong_rand_bytes(size))
    sha256 = :crypto.hash(:sha256, File.read!(source))
    md5 = :crypto.hash(:md5, File.read!(source)) |> Base.encode16(case: :lower)

    assert {:ok, %{etag: ^md5, size: ^size}} =
             S3Client.put_object(config, bucket, "big/object.bin", {:file, source},
               content_type: "application/x-test",
               metadata: %{"origin" => "extask-test"}
             )

    assert {:ok, head} = S3Client.head_object(config, bucket, "big/object.bin")

    assert Map.take(head, [:size, :etag, :content_type, :metadata, :storage_class]) == %{
             size: size,
             etag: md5,
             content_type: "application/x-test",
             metadata: %{"origin" => "extask-test"},
             storage_class: "STANDARD"
           }

    target = Path.join(dir, "copy.bin")
    assert {:ok, got} = S3Client.get_object(config, bucket, "big/object.bin", {:file, target})
    assert {got.bytes, got.etag, got.status} == {size, md5, 200}
    assert File.stat!(target).size == size
    assert :crypto.hash(:sha256, File.read!(target)) == sha256
    assert File.read!(target) == File.read!(source)
    # The temporary file was renamed into place: nothing else is left in the directory.
    assert Enum.sort(File.ls!(dir)) == ["copy.bin", "source.bin"]

    hash_sink = {:fun, {:crypto.hash_init(:sha256), 0}, &hash_chunk/2}

    assert {:ok, %{acc: {state, chunks}}} =
             S3Client.get_object(config, bucket, "big/object.bin", hash_sink)

    assert :crypto.hash_final(state) == sha256
    assert chunks > 1

    # From a binary, and a ranged read.
    assert {:ok, %{etag: etag}} = S3Client.put_object(config, bucket, "small.txt", "hello, world")
    assert etag == :crypto.hash(:md5, "hello, world") |> Base.encode16(case: :lower)

    assert {:ok, %{acc: acc, status: 206, bytes: 5}} =
             S3Client.get_object(config, bucket, "small.txt", {:fun, [], &[&1 | &2]},
               range: "bytes=7-11"
             )

    assert acc |> Enum.reverse() |> IO.iodata_to_binary() == "world"
  end

  defp hash_chunk(chunk, {state, n}), do: {:crypto.hash_update(state, chunk), n + 1}

  test "lists 2,600 keys in pages of 1,000 with continuation tokens", ctx do
    %{config: config, bucket: bucket} = ctx

    keys =
      for i <- 1..2_600, do: "logs/part-#{String.pad_leading(Integer.to_string(i), 5, "0")}.json"

    others = ["other/a", "other/b"]
    put_all!(config, bucket, keys ++ others)

    assert {:ok, page1} = S3Client.list_objects(config, bucket, prefix: "logs/", max_keys: 1000)
    assert {length(page1.objects), page1.truncated?, page1.key_count} == {1000, true, 1000}

    assert {:ok, page2} =
             S3Client.list_objects(config, bucket,
               prefix: "logs/",
               max_keys: 1000,
               continuation_token: page1.next_continuation_token
             )

    assert {:ok, page3} =
             S3Client.list_objects(config, bucket,
               prefix: "logs/",
               max_keys: 1000,
               continuation_token: page2.next_continuation_token
             )

    assert Enum.map([page1, page2, page3], &length(&1.objects)) == [1000, 1000, 600]
    assert {page3.truncated?, page3.next_continuation_token} == {false, nil}

    listed = Enum.flat_map([page1, page2, page3], fn page -> Enum.map(page.objects, & &1.key) end)
    assert listed == keys

    # The stream follows the tokens itself, lazily, with the same result.
    streamed = S3Client.stream_objects(config, bucket, prefix: "logs/", max_keys: 1000)
    assert Enum.map(streamed, & &1.key) == keys
    assert streamed |> Stream.take(3) |> Enum.map(& &1.key) == Enum.take(keys, 3)

    # Page by page: one element per page, fetched when reached.
    pages = S3Client.stream_pages(config, bucket, prefix: "logs/", max_keys: 1000)
    assert pages |> Enum.map(&length/1) == [1000, 1000, 600]
    assert pages |> Enum.take(1) |> hd() |> Enum.map(& &1.key) == Enum.take(keys, 1000)
    assert S3Client.stream_pages(config, bucket, prefix: "none/") |> Enum.to_list() == [[]]

    # Everything, start-after, delimiter.
    assert {:ok, all} = S3Client.list_all_objects(config, bucket, max_keys: 1000)
    assert length(all) == 2_602

    assert {:ok, after_} =
             S3Client.list_all_objects(config, bucket,
               prefix: "logs/",
               start_after: Enum.at(keys, 2_497)
             )

    assert Enum.map(after_, & &1.key) == Enum.drop(keys, 2_498)

    assert {:ok, %{common_prefixes: ["logs/", "other/"], objects: []}} =
             S3Client.list_objects(config, bucket, delimiter: "/")
  end

  test "listings give each object's LastModified, an RFC 3339 UTC time", ctx do
    %{config: config, bucket: bucket} = ctx
    before = DateTime.utc_now() |> DateTime.add(-2, :second)
    {:ok, _} = S3Client.put_object(config, bucket, "t/a.csv", "abc")

    assert {:ok, %{objects: [object]}} = S3Client.list_objects(config, bucket, prefix: "t/")
    assert %{key: "t/a.csv", size: 3, last_modified: listed} = object
    assert {:ok, listed_at, 0} = DateTime.from_iso8601(listed)
    assert DateTime.compare(listed_at, before) == :gt
    assert DateTime.diff(DateTime.utc_now(), listed_at) < 60
  end

  test "copy with a storage class and REPLACE metadata; COPY keeps metadata", ctx do
    %{config: config, bucket: bucket} = ctx

    {:ok, _} =
      S3Client.put_object(config, bucket, "src.json", ~s({"a":1}),
        content_type: "text/plain",
        metadata: %{"a" => "1"}
      )

    assert {:ok, %{etag: etag}} =
             S3Client.copy_object(config, bucket, "src.json", bucket, "dst/replaced.json",
               storage_class: "STANDARD_IA",
               metadata_directive: :replace,
               metadata: %{"b" => "2"},
               content_type: "application/json"
             )

    assert etag == :crypto.hash(:md5, ~s({"a":1})) |> Base.encode16(case: :lower)
    assert {:ok, replaced} = S3Client.head_object(config, bucket, "dst/replaced.json")
    assert {replaced.metadata, replaced.content_type} == {%{"b" => "2"}, "application/json"}
    # Known gap 1 of the server: the class is accepted but not stored.
    assert replaced.storage_class == "STANDARD"

    assert {:ok, _} = S3Client.copy_object(config, bucket, "src.json", bucket, "dst/copied.json")
    assert {:ok, copied} = S3Client.head_object(config, bucket, "dst/copied.json")
    assert {copied.metadata, copied.content_type} == {%{"a" => "1"}, "text/plain"}

    # In place, changing the class: needs REPLACE (known gap 2), which works.
    assert {:ok, _} =
             S3Client.copy_object(config, bucket, "src.json", bucket, "src.json",
               storage_class: "STANDARD_IA",
               metadata_directive: :replace,
               metadata: %{"a" => "1"},
               content_type: "text/plain"
             )

    assert {:ok, %{acc: body}} =
             S3Client.get_object(config, bucket, "dst/copied.json", {:fun, "", &(&2 <> &1)})

    assert body == ~s({"a":1})
  end

  test "conditional copy and delete: only while the source still has the given ETag", ctx do
    %{config: config, bucket: bucket} = ctx
    {:ok, %{etag: etag}} = S3Client.put_object(config, bucket, "cond/src.json", ~s({"v":1}))
    stale = "0123456789abcdef0123456789abcdef"

    assert {:error, %Error{status: 412, code: "PreconditionFailed"} = error} =
             S3Client.copy_object(config, bucket, "cond/src.json", bucket, "cond/dst.json",
               source_if_match: stale
             )

    refute Error.transient?(error)
    assert {:error, %Error{status: 404}} = S3Client.head_object(config, bucket, "cond/dst.json")

    assert {:ok, %{etag: ^etag}} =
             S3Client.copy_object(config, bucket, "cond/src.json", bucket, "cond/dst.json",
               source_if_match: etag
             )

    assert {:error, %Error{status: 412}} =
             S3Client.delete_object(config, bucket, "cond/src.json", if_match: stale)

    assert {:ok, %{etag: ^etag}} = S3Client.head_object(config, bucket, "cond/src.json")
    assert :ok = S3Client.delete_object(config, bucket, "cond/src.json", if_match: etag)
    assert {:error, %Error{status: 404}} = S3Client.head_object(config, bucket, "cond/src.json")

    # A missing key with If-Match: success here; AWS answers 404 NoSuchKey (callers should
    # accept both, as extask's archiver does).
    assert :ok = S3Client.delete_object(config, bucket, "cond/src.json", if_match: etag)
  end

  test "delete_objects in batches of 1,000; the keys are gone afterwards", ctx do
    %{config: config, bucket: bucket} = ctx
    keys = for i <- 1..2_001, do: "del/#{i}"
    put_all!(config, bucket, keys ++ ["keep/me"])

    assert {:ok, %{errors: [], deleted: deleted}} =
             S3Client.delete_objects(config, bucket, keys ++ ["del/never-existed"])

    # Known gap 4: Versity lists deleted keys even in quiet mode (AWS lists only errors);
    # a missing key counts as deleted, as on AWS.
    assert Enum.sort(deleted) == Enum.sort(keys ++ ["del/never-existed"])

    assert {:ok, []} = S3Client.list_all_objects(config, bucket, prefix: "del/")
    assert {:ok, [%{key: "keep/me"}]} = S3Client.list_all_objects(config, bucket)
    assert {:error, %Error{status: 404}} = S3Client.head_object(config, bucket, "del/1000")
  end

  test "a missing key is a clear, permanent error naming the key", ctx do
    %{config: config, bucket: bucket} = ctx
    target = Path.join(tmp_dir!("s3-missing"), "out.json")

    assert {:error, %Error{} = error} =
             S3Client.get_object(config, bucket, "in/missing.json", {:file, target})

    assert {error.status, error.code, error.bucket, error.key, error.attempts} ==
             {404, "NoSuchKey", bucket, "in/missing.json", 1}

    refute Error.transient?(error)

    assert Exception.message(error) =~
             "GetObject s3://#{bucket}/in/missing.json failed: HTTP 404 NoSuchKey"

    refute File.exists?(target)
    assert File.ls!(Path.dirname(target)) == []

    assert {:error, %Error{status: 404, code: "NotFound", key: "in/missing.json"}} =
             S3Client.head_object(config, bucket, "in/missing.json")
  end

  test "a wrong secret is refused and never shown", ctx do
    %{settings: settings, bucket: bucket} = ctx
    wrong = "wrong-secret-never-print-me"
    config = S3Server.config!(%{settings | secret_access_key: wrong})

    assert {:error, %Error{status: 403, code: "SignatureDoesNotMatch"} = error} =
             S3Client.put_object(config, bucket, "x", "data")

    refute Error.transient?(error)
    refute Exception.message(error) =~ wrong
    refute inspect(error) =~ wrong
    refute inspect(config) =~ wrong
    assert {:ok, []} = S3Client.list_all_objects(ctx.config, bucket)
  end

  test "keys with spaces, reserved and non-ASCII characters round-trip", ctx do
    %{config: config, bucket: bucket} = ctx

    keys = [
      "dir/a b+c.txt",
      "dir/100%~*'()!$&,;=@[].txt",
      "dir/ünï cødé/ключ.json",
      "dir/ends in dot."
    ]

    for key <- keys do
      assert {:ok, _} = S3Client.put_object(config, bucket, key, key)
      assert {:ok, %{size: size}} = S3Client.head_object(config, bucket, key)
      assert size == byte_size(key)

      assert {:ok, %{acc: ^key}} =
               S3Client.get_object(config, bucket, key, {:fun, "", &(&2 <> &1)})
    end

    assert {:ok, listed} = S3Client.list_all_objects(config, bucket, prefix: "dir/")
    assert Enum.map(listed, & &1.key) == Enum.sort(keys)

    [first | _] = keys
    assert {:ok, _} = S3Client.copy_object(config, bucket, first, bucket, "copy/" <> first)
    assert {:ok, %{deleted: _, errors: []}} = S3Client.delete_objects(config, bucket, keys)
    assert {:ok, []} = S3Client.list_all_objects(config, bucket, prefix: "dir/")
  end

  test "a presigned URL works without credentials", ctx do
    %{config: config, bucket: bucket} = ctx
    {:ok, _} = S3Client.put_object(config, bucket, "shared/report.csv", "a,b\n1,2\n")

    url = S3Client.presigned_url(config, :get, bucket, "shared/report.csv", expires_in: 60)
    {:ok, _} = Application.ensure_all_started(:inets)

    assert {:ok, {{_, 200, _}, _headers, "a,b\n1,2\n"}} =
             :httpc.request(:get, {String.to_charlist(url), []}, [timeout: 10_000],
               body_format: :binary
             )
  end

  # Creates empty-ish objects concurrently, bounded.
  defp put_all!(config, bucket, keys) do
    keys
    |> Task.async_stream(&S3Client.put_object(config, bucket, &1, &1),
      max_concurrency: 16,
      timeout: 60_000,
      ordered: false
    )
    |> Enum.each(fn result -> assert {:ok, {:ok, _}} = result end)
  end
end
