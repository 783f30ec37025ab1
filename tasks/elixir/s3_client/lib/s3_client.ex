defmodule S3Client do
  @moduledoc """
  An S3 client on OTP only (`:httpc`, `:ssl`, `:crypto`, `:xmerl`): the operations the
  Elixir tasks need, signed with SigV4, retried on transient failures, streamed where
  bodies can be large.

      creds = S3Client.Credentials.new(key_id, secret)
      config = S3Client.Config.new!(endpoint: "http://127.0.0.1:39000", credentials: creds)
      :ok = S3Client.create_bucket(config, "raw")
      {:ok, %{etag: _}} = S3Client.put_object(config, "raw", "in/a.json", ~s({"a":1}))
      {:ok, _} = S3Client.get_object(config, "raw", "in/a.json", {:file, "/tmp/a.json"})
      S3Client.stream_objects(config, "raw", prefix: "in/") |> Enum.map(& &1.key)

  Every function returns `{:error, %S3Client.Error{}}` on failure (after the retries of
  `S3Client.Config`), naming the operation, bucket and key, with the HTTP status and S3
  error code; `S3Client.Error.transient?/1` tells retryable failures from permanent ones.
  The exception is `stream_objects/3`, a lazy stream, which raises that error.

  Configuration (endpoint, region, path or virtual-host addressing, credentials, TLS,
  retries, timeouts): `S3Client.Config`.

  ## The public API

  `S3Client` (this module), `S3Client.Config`, `S3Client.Credentials` and `S3Client.Error`
  are the library's API; its users call nothing else. The other modules are internal and
  may change with any commit: `S3Client.HTTP` (transport, retries, streaming, with
  `S3Client.HTTP.ErrorBuilder` and `S3Client.HTTP.Sink`), `S3Client.SigV4` (signing) and
  `S3Client.XML` (the S3 documents).

  ## Swapping for ExAws

  The library exists because the build cannot reach Hex. Where Hex is reachable,
  `ex_aws` + `ex_aws_s3` (with an HTTP client and `sweet_xml`) cover the same operations,
  and a user of this API changes only its calls: each function here has an `ExAws.S3`
  counterpart piped into `ExAws.request/2` (`stream_objects/3`: `ExAws.stream!/2`;
  `stream_pages/3`: `list_objects_v2/2` with its continuation token, page by page;
  `copy_object/6`: `put_object_copy/5`; `delete_objects/4`: `delete_multiple_objects/3`;
  a file sink of `get_object/5`: `download_file/4`; `presigned_url/5` takes the config
  itself). `S3Client.Config` becomes the `:ex_aws` config (scheme, host, port, region,
  credentials, retries), `S3Client.Error` becomes `{:error, {:http_error, status, body}}`
  (a transient/permanent decision then reads the status), and ExAws leaves the quotes on
  ETags (`unquote_etag/1`).
  """

  alias S3Client.{Config, Error, HTTP, SigV4, XML}
  alias S3Client.HTTP.ErrorBuilder

  @typedoc "An object as listings describe it (ETags without quotes)."
  @type object :: XML.object()

  @typedoc "One page of a listing."
  @type page :: XML.list_page()

  @typedoc "What HeadObject and GetObject tell about an object."
  @type object_info :: %{
          size: non_neg_integer() | nil,
          etag: String.t() | nil,
          content_type: String.t() | nil,
          last_modified: String.t() | nil,
          storage_class: String.t(),
          metadata: %{optional(String.t()) => String.t()}
        }

  @typedoc """
  What `get_object/5` returns: the object's info, the HTTP status (200, or 206 for a
  range), the bytes written and the function sink's final accumulator (`nil` for a file).
  """
  @type get_result :: %{
          size: non_neg_integer() | nil,
          etag: String.t() | nil,
          content_type: String.t() | nil,
          last_modified: String.t() | nil,
          storage_class: String.t(),
          metadata: metadata(),
          status: non_neg_integer(),
          bytes: non_neg_integer(),
          acc: term()
        }

  @type metadata :: %{optional(String.t()) => String.t()}

  @typedoc """
  Where `get_object/5` writes an object: `{:file, path}` (a temporary file beside `path`,
  renamed into place once complete) or `{:fun, acc, fun}` (`fun.(chunk, acc)` per chunk).
  """
  @type sink :: S3Client.HTTP.Sink.t()

  @typedoc "Options of `list_objects/3` and `stream_objects/3`."
  @type list_option ::
          {:prefix, String.t()}
          | {:delimiter, String.t()}
          | {:max_keys, pos_integer()}
          | {:start_after, String.t()}
          | {:continuation_token, String.t()}

  @typedoc "Options of `put_object/5` and `copy_object/6`."
  @type put_option ::
          {:content_type, String.t()}
          | {:metadata, metadata()}
          | {:storage_class, String.t()}

  @typedoc "An HTTP method, for `presigned_url/5`."
  @type method :: HTTP.method()

  @typedoc "The outcome of `delete_objects/4`: keys reported deleted, and per-key errors."
  @type delete_result :: XML.delete_result()

  @max_delete_keys 1000

  # ------------------------------------------------------------------------------ buckets

  @doc """
  Creates a bucket (CreateBucket). Outside `us-east-1` the config's region is sent as the
  location constraint, as AWS requires. A bucket that exists already is an error
  (`BucketAlreadyOwnedByYou` or `BucketAlreadyExists`).
  """
  @spec create_bucket(Config.t(), String.t()) :: :ok | {:error, Error.t()}
  def create_bucket(%Config{} = config, bucket) do
    request = %{operation: "CreateBucket", method: :put, bucket: bucket, key: nil}

    request =
      if config.region == "us-east-1" do
        request
      else
        body =
          ~s(<CreateBucketConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">) <>
            "<LocationConstraint>#{config.region}</LocationConstraint></CreateBucketConfiguration>"

        Map.merge(request, %{body: body, content_type: "application/xml"})
      end

    ok(HTTP.request(config, request))
  end

  @doc "Checks that a bucket exists and is accessible (HeadBucket)."
  @spec head_bucket(Config.t(), String.t()) :: :ok | {:error, Error.t()}
  def head_bucket(%Config{} = config, bucket) do
    ok(HTTP.request(config, %{operation: "HeadBucket", method: :head, bucket: bucket, key: nil}))
  end

  @doc "Deletes an empty bucket (DeleteBucket)."
  @spec delete_bucket(Config.t(), String.t()) :: :ok | {:error, Error.t()}
  def delete_bucket(%Config{} = config, bucket) do
    request = %{operation: "DeleteBucket", method: :delete, bucket: bucket, key: nil}
    ok(HTTP.request(config, request))
  end

  # ------------------------------------------------------------------------------ listing

  @doc """
  One page of ListObjectsV2. Options: `:prefix`, `:delimiter`, `:max_keys` (S3 caps it at
  1,000), `:start_after`, `:continuation_token` (the previous page's
  `next_continuation_token`).
  """
  @spec list_objects(Config.t(), String.t(), [list_option()]) ::
          {:ok, page()} | {:error, Error.t()}
  def list_objects(%Config{} = config, bucket, opts \\ []) do
    params = [
      prefix: "prefix",
      delimiter: "delimiter",
      max_keys: "max-keys",
      start_after: "start-after",
      continuation_token: "continuation-token"
    ]

    query =
      Enum.flat_map(params, fn {opt, name} ->
        case Keyword.get(opts, opt) do
          nil -> []
          value -> [{name, to_string(value)}]
        end
      end)

    request = %{
      operation: "ListObjectsV2",
      method: :get,
      bucket: bucket,
      key: nil,
      query: [{"list-type", "2"} | query]
    }

    config
    |> HTTP.request(with_parser(request, &XML.list_bucket_result/1))
    |> parsed()
  end

  @doc """
  Every object under the options of `list_objects/3`, as a lazy stream that fetches one
  page at a time, following continuation tokens. Raises `S3Client.Error` if a page
  cannot be fetched (use `list_all_objects/3` for a result tuple).
  """
  @spec stream_objects(Config.t(), String.t(), [list_option()]) :: Enumerable.t()
  def stream_objects(%Config{} = config, bucket, opts \\ []) do
    config |> stream_pages(bucket, opts) |> Stream.flat_map(& &1)
  end

  @doc """
  The same listing as `stream_objects/3`, one element per page: the list of that page's
  objects (an empty listing is one empty page). A page is fetched only when the stream
  reaches it, so a consumer that works a page at a time (e.g. concurrently inside it) and
  stops never fetches a page beyond. Raises `S3Client.Error` as `stream_objects/3` does.
  """
  @spec stream_pages(Config.t(), String.t(), [list_option()]) :: Enumerable.t()
  def stream_pages(%Config{} = config, bucket, opts \\ []) do
    Stream.resource(
      fn -> {:next, opts} end,
      fn
        :done ->
          {:halt, :done}

        {:next, page_opts} ->
          page = list_page!(config, bucket, page_opts)
          {[page.objects], next_page(bucket, opts, page)}
      end,
      fn _ -> :ok end
    )
  end

  defp list_page!(config, bucket, opts) do
    case list_objects(config, bucket, opts) do
      {:ok, page} -> page
      {:error, error} -> raise error
    end
  end

  defp next_page(_bucket, _opts, %{truncated?: false}), do: :done

  defp next_page(_bucket, opts, %{next_continuation_token: token})
       when is_binary(token) do
    next_opts = opts |> Keyword.drop([:start_after]) |> Keyword.put(:continuation_token, token)
    {:next, next_opts}
  end

  defp next_page(bucket, _opts, _page) do
    raise %Error{
      operation: "ListObjectsV2",
      bucket: bucket,
      code: "MalformedResponse",
      message: "a truncated page without NextContinuationToken"
    }
  end

  @doc "Every object of a listing (see `stream_objects/3`), in one list."
  @spec list_all_objects(Config.t(), String.t(), [list_option()]) ::
          {:ok, [object()]} | {:error, Error.t()}
  def list_all_objects(%Config{} = config, bucket, opts \\ []) do
    {:ok, config |> stream_objects(bucket, opts) |> Enum.to_list()}
  rescue
    error in Error -> {:error, error}
  end

  # ------------------------------------------------------------------------------ objects

  @doc "An object's size, ETag, content type, storage class and user metadata (HeadObject)."
  @spec head_object(Config.t(), String.t(), String.t()) ::
          {:ok, object_info()} | {:error, Error.t()}
  def head_object(%Config{} = config, bucket, key) do
    request = %{operation: "HeadObject", method: :head, bucket: bucket, key: key}

    with {:ok, response} <- HTTP.request(config, request) do
      {:ok, object_info(response.headers)}
    end
  end

  @doc """
  Downloads an object into `sink`, streamed (GetObject): `{:file, path}` (written to a
  temporary file beside `path`, renamed into place once complete) or `{:fun, acc, fun}`
  (`fun.(chunk, acc)` for every chunk, in order). Option `:range`, e.g. `"bytes=0-9"`.

  Returns the object's info (as `head_object/3`) plus `:bytes` written and `:acc`, the
  function sink's final accumulator (`nil` for a file).
  """
  @spec get_object(Config.t(), String.t(), String.t(), sink(), [{:range, String.t()}]) ::
          {:ok, get_result()} | {:error, Error.t()}
  def get_object(%Config{} = config, bucket, key, sink, opts \\ []) do
    headers = if range = opts[:range], do: [{"range", range}], else: []

    request = %{
      operation: "GetObject",
      method: :get,
      bucket: bucket,
      key: key,
      headers: headers
    }

    with {:ok, result} <- HTTP.stream(config, request, sink) do
      info = object_info(result.headers)
      {:ok, Map.merge(info, %{bytes: result.bytes, acc: result.acc, status: result.status})}
    end
  end

  @doc """
  Uploads an object (PutObject) from a binary or from `{:file, path}` (read twice in
  chunks — once for its SHA-256 and MD5, once while sending — never whole). The body is
  signed with its real SHA-256 and sent with `Content-MD5`, so S3 checks it on arrival.

  Options: `:content_type` (default `application/octet-stream`), `:metadata` (a map of
  user metadata, sent as `x-amz-meta-*`), `:storage_class`.
  """
  @spec put_object(Config.t(), String.t(), String.t(), binary() | {:file, Path.t()}, [
          put_option()
        ]) :: {:ok, %{etag: String.t() | nil, size: non_neg_integer()}} | {:error, Error.t()}
  def put_object(%Config{} = config, bucket, key, body, opts \\ []) do
    base = %{operation: "PutObject", method: :put, bucket: bucket, key: key}

    with {:ok, body, md5, size} <- put_body(base, body) do
      headers =
        [{"content-md5", md5}] ++
          metadata_headers(opts[:metadata] || %{}) ++ storage_class_header(opts[:storage_class])

      request =
        Map.merge(base, %{
          body: body,
          headers: headers,
          content_type: opts[:content_type] || "application/octet-stream"
        })

      with {:ok, response} <- HTTP.request(config, request) do
        {:ok, %{etag: XML.unquote_etag(response.headers["etag"]), size: size}}
      end
    end
  end

  defp put_body(_request, body) when is_binary(body) do
    {:ok, body, Base.encode64(:crypto.hash(:md5, body)), byte_size(body)}
  end

  defp put_body(request, {:file, path}) do
    {sha256, md5, size} =
      path
      |> File.stream!([], 1024 * 1024)
      |> Enum.reduce({:crypto.hash_init(:sha256), :crypto.hash_init(:md5), 0}, fn chunk,
                                                                                  {sha, md5, n} ->
        {:crypto.hash_update(sha, chunk), :crypto.hash_update(md5, chunk), n + byte_size(chunk)}
      end)

    sha256 = sha256 |> :crypto.hash_final() |> Base.encode16(case: :lower)
    md5 = md5 |> :crypto.hash_final() |> Base.encode64()
    {:ok, {:file, path, size, sha256, md5}, md5, size}
  rescue
    error in File.Error ->
      {:error,
       %Error{
         operation: request.operation,
         bucket: request.bucket,
         key: request.key,
         code: "LocalFileError",
         message: "cannot read #{path}",
         cause: error.reason
       }}
  end

  @doc """
  Copies an object inside S3 (CopyObject), without downloading it.

  Options: `:storage_class` (`x-amz-storage-class`), `:metadata_directive` — `:copy`
  (default: metadata and content type come from the source) or `:replace` (they are
  replaced by `:metadata` and `:content_type`; needed to copy an object onto itself, e.g.
  to change its storage class), `:source_if_match` — an ETag: copy only if the source
  still has it (`x-amz-copy-source-if-match`), else HTTP 412 `PreconditionFailed` and
  nothing is written.

  A CopyObject can fail after S3 answered 200 (the error is then in the body): that is
  returned as an error too.
  """
  @spec copy_object(Config.t(), String.t(), String.t(), String.t(), String.t(), [
          put_option()
          | {:metadata_directive, :copy | :replace}
          | {:source_if_match, String.t()}
        ]) ::
          {:ok, %{etag: String.t() | nil, last_modified: String.t() | nil}}
          | {:error, Error.t()}
  def copy_object(%Config{} = config, src_bucket, src_key, dst_bucket, dst_key, opts \\ []) do
    directive = Keyword.get(opts, :metadata_directive, :copy)
    source = "/" <> src_bucket <> "/" <> SigV4.uri_encode(src_key, true)

    {replace_headers, content_type} =
      case directive do
        :replace -> {metadata_headers(opts[:metadata] || %{}), opts[:content_type]}
        :copy -> {[], nil}
      end

    headers =
      [
        {"x-amz-copy-source", source},
        {"x-amz-metadata-directive", directive |> Atom.to_string() |> String.upcase()}
      ] ++
        replace_headers ++
        storage_class_header(opts[:storage_class]) ++
        etag_header("x-amz-copy-source-if-match", opts[:source_if_match])

    request = %{
      operation: "CopyObject",
      method: :put,
      bucket: dst_bucket,
      key: dst_key,
      headers: headers,
      content_type: content_type
    }

    # A 200 with an Error body (the copy failed after all) is an error: see with_parser/2.
    config
    |> HTTP.request(with_parser(request, &XML.copy_object_result/1))
    |> parsed()
  end

  @doc """
  Deletes one object (DeleteObject); deleting a missing key succeeds, as on AWS.

  Option `:if_match` — an ETag: delete only if the object still has it (a conditional
  delete, `If-Match`), else HTTP 412 `PreconditionFailed` and the object stays. With it, AWS
  answers a missing key with 404 `NoSuchKey` instead of success.
  """
  @spec delete_object(Config.t(), String.t(), String.t(), [{:if_match, String.t()}]) ::
          :ok | {:error, Error.t()}
  def delete_object(%Config{} = config, bucket, key, opts \\ []) do
    request = %{
      operation: "DeleteObject",
      method: :delete,
      bucket: bucket,
      key: key,
      headers: etag_header("if-match", opts[:if_match])
    }

    ok(HTTP.request(config, request))
  end

  @doc """
  Deletes keys in batches of at most 1,000 (DeleteObjects: `POST ?delete` with an XML
  body and its `Content-MD5`). Per-key failures do not fail the call: they are returned in
  `errors` (`%{key, code, message}`), and `deleted` lists what S3 reported deleted (in
  quiet mode — option `quiet: true`, the default — AWS lists only errors). A request that
  fails as a whole stops at that batch with an error.

  Options: `:batch_size` (1..1000, default 1000), `:quiet`.
  """
  @spec delete_objects(Config.t(), String.t(), [String.t()], [
          {:batch_size, pos_integer()} | {:quiet, boolean()}
        ]) :: {:ok, delete_result()} | {:error, Error.t()}
  def delete_objects(%Config{} = config, bucket, keys, opts \\ []) when is_list(keys) do
    batch_size = opts |> Keyword.get(:batch_size, @max_delete_keys) |> min(@max_delete_keys)
    quiet = Keyword.get(opts, :quiet, true)

    keys
    |> Enum.chunk_every(max(batch_size, 1))
    |> Enum.reduce_while({:ok, %{deleted: [], errors: []}}, fn batch, {:ok, acc} ->
      case delete_batch(config, bucket, batch, quiet) do
        {:ok, result} ->
          {:cont,
           {:ok, %{deleted: acc.deleted ++ result.deleted, errors: acc.errors ++ result.errors}}}

        {:error, _} = error ->
          {:halt, error}
      end
    end)
  end

  defp delete_batch(config, bucket, keys, quiet) do
    body = XML.delete_request(keys, quiet)

    request = %{
      operation: "DeleteObjects",
      method: :post,
      bucket: bucket,
      key: nil,
      query: [{"delete", ""}],
      headers: [{"content-md5", Base.encode64(:crypto.hash(:md5, body))}],
      body: body,
      content_type: "application/xml"
    }

    config
    |> HTTP.request(with_parser(request, &XML.delete_result/1))
    |> parsed()
  end

  # --------------------------------------------------------------------------- presigning

  @doc """
  A presigned URL (query-string SigV4, `UNSIGNED-PAYLOAD`) that lets whoever holds it send
  `method` to the object for `expires_in` seconds (1..604800, default 3600) without
  credentials. Option `:now` fixes the signing time (tests). AWS's S3 example (the scheme
  is not part of what is signed):

      iex> creds = S3Client.Credentials.new("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
      iex> config = S3Client.Config.new!(endpoint: "http://s3.amazonaws.com", credentials: creds,
      ...>   addressing: :virtual_host)
      iex> url = S3Client.presigned_url(config, :get, "examplebucket", "test.txt",
      ...>   expires_in: 86_400, now: ~U[2013-05-24 00:00:00Z])
      iex> String.ends_with?(url, "X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404")
      true
  """
  @spec presigned_url(Config.t(), method(), String.t(), String.t(), [
          {:expires_in, pos_integer()} | {:now, DateTime.t()}
        ]) :: String.t()
  def presigned_url(%Config{} = config, method, bucket, key, opts \\ []) do
    expires_in = Keyword.get(opts, :expires_in, 3600)

    unless expires_in in 1..604_800 do
      raise ArgumentError,
            "expected expires_in to be 1..604800 seconds, got: #{inspect(expires_in)}"
    end

    now = Keyword.get_lazy(opts, :now, &DateTime.utc_now/0)
    {host, path, query} = HTTP.target(config, %{bucket: bucket, key: key, query: []})

    request = %{
      method: method |> Atom.to_string() |> String.upcase(),
      path: path,
      query: query,
      headers: [{"host", Config.host_header(config, host)}],
      payload_hash: "UNSIGNED-PAYLOAD"
    }

    scope = %{region: config.region, service: "s3"}

    signed_query =
      SigV4.presign_query(request, config.credentials, scope, SigV4.amz_date(now), expires_in)

    # The signature goes last, after the canonical (sorted) parameters it signs.
    {signature, rest} = List.pop_at(signed_query, -1)
    query_string = SigV4.canonical_query(rest) <> "&" <> SigV4.canonical_query([signature])
    "#{config.scheme}://#{Config.host_header(config, host)}#{path}?#{query_string}"
  end

  @doc """
  An ETag as this client returns them: without surrounding double quotes (nor spaces),
  for comparing ETags from other sources with the client's.

      iex> S3Client.unquote_etag(~s( "9b2cf535f27731c974343645a3985328"))
      "9b2cf535f27731c974343645a3985328"
      iex> S3Client.unquote_etag(nil)
      nil
  """
  @spec unquote_etag(String.t() | nil) :: String.t() | nil
  defdelegate unquote_etag(etag), to: XML

  # -------------------------------------------------------------------------------- helpers

  defp ok({:ok, _response}), do: :ok
  defp ok({:error, _} = error), do: error

  # Parses a 2xx body inside the retry loop; a body that is not the expected document is
  # the S3 error it holds, or a transient MalformedResponse.
  defp with_parser(request, parser) do
    Map.put(request, :parse, fn response ->
      case parser.(response.body) do
        {:ok, value} -> {:ok, value}
        {:error, reason} -> {:error, ErrorBuilder.body_error(request, response, reason)}
      end
    end)
  end

  defp parsed({:ok, response}), do: {:ok, response.parsed}
  defp parsed({:error, _} = error), do: error

  defp object_info(headers) do
    metadata =
      for {"x-amz-meta-" <> name, value} <- headers, into: %{} do
        {name, value}
      end

    %{
      size: HTTP.integer_header(headers, "content-length"),
      etag: XML.unquote_etag(headers["etag"]),
      content_type: headers["content-type"],
      last_modified: headers["last-modified"],
      storage_class: headers["x-amz-storage-class"] || "STANDARD",
      metadata: metadata
    }
  end

  defp metadata_headers(metadata) do
    metadata
    |> Enum.sort()
    |> Enum.map(fn {name, value} -> {"x-amz-meta-" <> String.downcase(name), to_string(value)} end)
  end

  defp storage_class_header(nil), do: []
  defp storage_class_header(class), do: [{"x-amz-storage-class", class}]

  defp etag_header(_name, nil), do: []
  defp etag_header(name, etag), do: [{name, ~s("#{XML.unquote_etag(etag)}")}]
end
