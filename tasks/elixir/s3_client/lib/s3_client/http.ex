defmodule S3Client.HTTP do
  @moduledoc """
  Internal to the library: the transport of the S3 client. It builds and signs each
  request (`build/3`), sends it with OTP's `:httpc`, retries transient failures, and turns
  every failure into an `S3Client.Error` (built by `S3Client.HTTP.ErrorBuilder`).

  * **Signing**: every attempt is signed afresh (SigV4, service `s3`) with the current
    time, `x-amz-content-sha256` set to the real SHA-256 of the body (of the empty string
    for GET, HEAD and DELETE), so a retry after a long backoff is never refused as stale.
  * **Retries**: transient failures (`S3Client.Error.transient?/1`: 5xx, 429, throttling
    codes, connection errors, timeouts, truncated bodies) are retried up to
    `config.max_attempts` attempts in all, with exponential backoff and jitter: before
    attempt `n + 1` it sleeps a random time between half and all of
    `min(max_delay_ms, base_delay_ms * 2^(n - 1))`, after calling `config.on_retry`, if
    set. Permanent failures return at once.
  * **Streaming**: `stream/3` never holds a body in memory. It uses `:httpc` in
    asynchronous mode with `stream: {:self, :once}`, asking for each chunk only after the
    previous one is written (back-pressure), with an idle timeout between chunks, into an
    `S3Client.HTTP.Sink`: a file sink writes to a temporary file beside the target and
    renames it into place when the whole body arrived; a retry starts that file over. A
    function sink is retried only if it has not received any bytes yet.
  * **Connections**: one `:httpc` profile per TLS setting (scheme, CA file, verification),
    so a kept-alive connection is never reused under weaker TLS settings than its own.
  """

  alias S3Client.{Config, Error, SigV4}
  alias S3Client.HTTP.{ErrorBuilder, Sink}

  @type method :: :get | :head | :put | :post | :delete

  @typedoc """
  A request body: a binary, or a file with its size, hex SHA-256 and base64 MD5 (read
  while sending, never loaded whole).
  """
  @type body :: binary() | {:file, Path.t(), non_neg_integer(), String.t(), String.t()}

  @typedoc "What an operation asks for; `S3Client` builds these."
  @type request :: %{
          required(:operation) => String.t(),
          required(:method) => method(),
          required(:bucket) => String.t() | nil,
          optional(:key) => String.t() | nil,
          optional(:query) => [{String.t(), String.t()}],
          optional(:headers) => [{String.t(), String.t()}],
          optional(:body) => body(),
          optional(:content_type) => String.t() | nil,
          optional(:parse) => (response() -> {:ok, term()} | {:error, Error.t()})
        }

  @typedoc "Response headers: lower-case names; repeated headers joined with `,`."
  @type headers :: %{optional(String.t()) => String.t()}

  @typedoc """
  A 2xx response; `parsed` is what the request's `:parse` function made of it (`nil`
  without one).
  """
  @type response :: %{
          status: non_neg_integer(),
          headers: headers(),
          body: binary(),
          parsed: term()
        }

  @typedoc "Where `stream/3` writes a body: a file path, or a fold over its chunks."
  @type sink :: Sink.t()

  @type stream_result :: %{
          status: non_neg_integer(),
          headers: headers(),
          bytes: non_neg_integer(),
          acc: term()
        }

  @typedoc "A built request: what goes on the wire."
  @type built :: %{method: method(), url: String.t(), headers: [{String.t(), String.t()}]}

  @file_chunk_bytes 256 * 1024

  @doc """
  Sends a request (retrying transient failures) and returns the whole response of a 2xx
  status; any other status is an `S3Client.Error` built from the S3 error body.

  The request's optional `:parse` function turns a 2xx response into a value (stored as
  `parsed`) or an error; it runs inside the retry loop, so a transient error found in a
  2xx body (S3's CopyObject can answer 200 with an `InternalError` body) or a truncated,
  unparsable body is retried like any other.
  """
  @spec request(Config.t(), request()) :: {:ok, response()} | {:error, Error.t()}
  def request(%Config{} = config, request) do
    with_retries(config, request, fn -> attempt(config, request) end)
  end

  @doc """
  Sends a GET and streams the body of a 2xx response into `sink` (see the module doc).
  Returns the status, headers, byte count and, for a function sink, its final accumulator.
  """
  @spec stream(Config.t(), request(), sink()) :: {:ok, stream_result()} | {:error, Error.t()}
  def stream(%Config{} = config, request, sink) do
    with_retries(config, request, fn -> attempt_stream(config, request, sink) end)
  end

  @doc """
  The signed request for `request` at time `now`: method, URL and headers (including
  `host`, `x-amz-date`, `x-amz-content-sha256` and `authorization`). Pure. AWS's S3
  "GET object with Range" example (the scheme is not part of what is signed):

      iex> creds = S3Client.Credentials.new("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
      iex> config = S3Client.Config.new!(endpoint: "http://s3.amazonaws.com", credentials: creds,
      ...>   addressing: :virtual_host)
      iex> built = S3Client.HTTP.build(config, %{operation: "GetObject", method: :get,
      ...>   bucket: "examplebucket", key: "test.txt", headers: [{"range", "bytes=0-9"}]},
      ...>   ~U[2013-05-24 00:00:00Z])
      iex> built.url
      "http://examplebucket.s3.amazonaws.com/test.txt"
      iex> List.keyfind(built.headers, "authorization", 0)
      {"authorization", "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"}
  """
  @spec build(Config.t(), request(), DateTime.t()) :: built()
  def build(%Config{} = config, request, %DateTime{} = now) do
    {host, path, query} = target(config, request)
    extra = Map.get(request, :headers, [])

    content_type =
      case Map.get(request, :content_type) do
        nil -> []
        type -> [{"content-type", type}]
      end

    payload_hash = payload_hash(Map.get(request, :body, ""))

    headers =
      [{"host", Config.host_header(config, host)}, {"x-amz-content-sha256", payload_hash}] ++
        content_type ++ extra

    to_sign = %{
      method: method_name(request.method),
      path: path,
      query: query,
      headers: headers,
      payload_hash: payload_hash
    }

    signed =
      SigV4.sign(
        to_sign,
        config.credentials,
        %{region: config.region, service: "s3"},
        SigV4.amz_date(now)
      )

    query_string = if query == [], do: "", else: "?" <> SigV4.canonical_query(query)
    url = "#{config.scheme}://#{Config.host_header(config, host)}#{path}#{query_string}"
    %{method: request.method, url: url, headers: signed}
  end

  @doc """
  The host, canonical (encoded) path and query of a request on this endpoint, in path
  style (`/bucket/key`) or virtual-host style (`bucket.host`, `/key`).

      iex> creds = S3Client.Credentials.new("AKID", "secret")
      iex> config = S3Client.Config.new!(endpoint: "http://127.0.0.1:39000", credentials: creds)
      iex> S3Client.HTTP.target(config, %{bucket: "raw", key: "in/a b+c.json", query: []})
      {"127.0.0.1", "/raw/in/a%20b%2Bc.json", []}
      iex> S3Client.HTTP.target(%{config | addressing: :virtual_host, host: "s3.example.com"},
      ...>   %{bucket: "raw", key: nil, query: [{"list-type", "2"}]})
      {"raw.s3.example.com", "/", [{"list-type", "2"}]}
  """
  @spec target(Config.t(), map()) :: {String.t(), String.t(), [{String.t(), String.t()}]}
  def target(%Config{} = config, request) do
    bucket = Map.get(request, :bucket)
    key = Map.get(request, :key)
    query = Map.get(request, :query, [])
    base = URI.decode(config.base_path)

    {host, raw_path} =
      cond do
        bucket == nil ->
          {config.host, base <> "/"}

        config.addressing == :virtual_host and dns_compatible?(bucket) ->
          {bucket <> "." <> config.host, base <> "/" <> (key || "")}

        key == nil ->
          {config.host, base <> "/" <> bucket}

        true ->
          {config.host, base <> "/" <> bucket <> "/" <> key}
      end

    {host, SigV4.encode_path(raw_path), query}
  end

  @doc """
  Tells whether a bucket name can be a DNS label for virtual-host addressing (lower case,
  digits, `-`; no dots, which would break TLS wildcard certificates).

      iex> S3Client.HTTP.dns_compatible?("raw-events")
      true
      iex> S3Client.HTTP.dns_compatible?("my.bucket")
      false
  """
  @spec dns_compatible?(String.t()) :: boolean()
  def dns_compatible?(bucket), do: bucket =~ ~r/\A[a-z0-9][a-z0-9-]{1,61}[a-z0-9]\z/

  @doc """
  The delay before the next attempt after failed attempt `attempt` (1-based): a random
  value between half and all of `min(max_delay_ms, base_delay_ms * 2^(attempt - 1))`.

      iex> creds = S3Client.Credentials.new("AKID", "secret")
      iex> config = S3Client.Config.new!(endpoint: "http://127.0.0.1:1", credentials: creds,
      ...>   base_delay_ms: 100, max_delay_ms: 1_000)
      iex> Enum.all?(1..50, fn _ -> S3Client.HTTP.backoff_ms(config, 3) in 200..400 end)
      true
      iex> S3Client.HTTP.backoff_ms(config, 20) in 500..1_000
      true
  """
  @spec backoff_ms(Config.t(), pos_integer()) :: non_neg_integer()
  def backoff_ms(%Config{} = config, attempt) do
    exponent = min(attempt - 1, 30)
    cap = min(config.max_delay_ms, config.base_delay_ms * Bitwise.bsl(1, exponent))
    half = div(cap, 2)
    half + :rand.uniform(cap - half + 1) - 1
  end

  # ------------------------------------------------------------------------------ retries

  defp with_retries(config, request, fun), do: retry_loop(config, request, fun, 1)

  defp retry_loop(config, request, fun, attempt) do
    case fun.() do
      {:ok, _} = ok ->
        ok

      {:error, %Error{} = error, retryable?} ->
        error = %{error | attempts: attempt}

        if retryable? and Error.transient?(error) and attempt < config.max_attempts do
          delay = backoff_ms(config, attempt)
          notify_retry(config, error, attempt, delay)
          Process.sleep(delay)
          retry_loop(config, request, fun, attempt + 1)
        else
          {:error, error}
        end
    end
  end

  defp notify_retry(%Config{on_retry: nil}, _error, _attempt, _delay), do: :ok

  defp notify_retry(%Config{on_retry: on_retry} = config, error, attempt, delay) do
    _ = on_retry.(error, %{attempt: attempt, max_attempts: config.max_attempts, delay_ms: delay})
    :ok
  end

  # ----------------------------------------------------------------------- one attempt

  defp attempt(config, request) do
    built = build(config, request, DateTime.utc_now())

    result =
      :httpc.request(
        request.method,
        httpc_request(built, request),
        http_options(config, config.timeout_ms),
        [body_format: :binary],
        ensure_profile(config)
      )

    case result do
      {:ok, {{_version, status, _reason}, headers, body}} when status in 200..299 ->
        response = %{status: status, headers: headers_map(headers), body: body, parsed: nil}
        parse_response(request, response)

      {:ok, {{_version, status, _reason}, headers, body}} ->
        {:error, ErrorBuilder.response_error(request, status, headers_map(headers), body), true}

      {:error, reason} ->
        {:error, ErrorBuilder.connection_error(config, request, reason), true}
    end
  end

  defp parse_response(%{parse: parse}, response) when is_function(parse, 1) do
    case parse.(response) do
      {:ok, value} -> {:ok, %{response | parsed: value}}
      {:error, %Error{} = error} -> {:error, error, true}
    end
  end

  defp parse_response(_request, response), do: {:ok, response}

  defp attempt_stream(config, request, sink) do
    built = build(config, request, DateTime.utc_now())
    profile = ensure_profile(config)

    result =
      :httpc.request(
        request.method,
        httpc_request(built, request),
        http_options(config, :infinity),
        [sync: false, stream: {:self, :once}, body_format: :binary],
        profile
      )

    case result do
      {:ok, ref} ->
        state = %{
          ref: ref,
          pid: nil,
          profile: profile,
          config: config,
          request: request,
          sink: sink,
          open: nil,
          headers: %{},
          bytes: 0
        }

        receive_stream(state)

      {:error, reason} ->
        {:error, ErrorBuilder.connection_error(config, request, reason), true}
    end
  end

  defp receive_stream(%{ref: ref} = state) do
    receive do
      {:http, {^ref, :stream_start, headers, pid}} ->
        headers = headers_map(headers)

        case Sink.open(state.sink) do
          {:ok, open} ->
            :ok = :httpc.stream_next(pid)
            receive_stream(%{state | pid: pid, headers: headers, open: open})

          {:error, reason} ->
            cancel(state)
            {:error, ErrorBuilder.local_error(state.request, state.sink, reason), false}
        end

      {:http, {^ref, :stream, chunk}} ->
        case guarded_write(state, chunk) do
          {:ok, open} ->
            :ok = :httpc.stream_next(state.pid)
            receive_stream(%{state | open: open, bytes: state.bytes + byte_size(chunk)})

          {:error, reason} ->
            cancel(state)
            Sink.abort(state.open)
            {:error, ErrorBuilder.local_error(state.request, state.sink, reason), false}
        end

      {:http, {^ref, :stream_end, _trailers}} ->
        # httpc streams only 200 and 206 bodies and does not pass the status on.
        finish_stream(state, if(Map.has_key?(state.headers, "content-range"), do: 206, else: 200))

      {:http, {^ref, {{_version, status, _reason}, headers, body}}} when status in 200..299 ->
        # A short 2xx body may arrive whole instead of streamed.
        with {:ok, open} <- Sink.open(state.sink),
             {:ok, open} <- Sink.write(open, body) do
          state = %{state | headers: headers_map(headers), open: open, bytes: byte_size(body)}
          finish_stream(state, status)
        else
          {:error, reason} ->
            {:error, ErrorBuilder.local_error(state.request, state.sink, reason), false}
        end

      {:http, {^ref, {{_version, status, _reason}, headers, body}}} ->
        {:error, ErrorBuilder.response_error(state.request, status, headers_map(headers), body),
         true}

      {:http, {^ref, {:error, reason}}} ->
        Sink.abort(state.open)
        error = ErrorBuilder.connection_error(state.config, state.request, reason)
        {:error, error, restartable?(state)}
    after
      state.config.idle_timeout_ms ->
        cancel(state)
        Sink.abort(state.open)
        error = ErrorBuilder.idle_timeout_error(state.request, state.config.idle_timeout_ms)
        {:error, error, restartable?(state)}
    end
  end

  # A sink function that raises must not leave the request streaming in the background
  # (its timeout is :infinity): cancel it, then let the exception through.
  defp guarded_write(state, chunk) do
    Sink.write(state.open, chunk)
  catch
    kind, reason ->
      cancel(state)
      Sink.abort(state.open)
      :erlang.raise(kind, reason, __STACKTRACE__)
  end

  defp finish_stream(state, status) do
    expected = integer_header(state.headers, "content-length")

    if expected != nil and expected != state.bytes do
      Sink.abort(state.open)
      error = ErrorBuilder.incomplete_body_error(state.request, state.bytes, expected)
      {:error, error, restartable?(state)}
    else
      case Sink.close(state.open) do
        {:ok, acc} ->
          {:ok, %{status: status, headers: state.headers, bytes: state.bytes, acc: acc}}

        {:error, reason} ->
          {:error, ErrorBuilder.local_error(state.request, state.sink, reason), false}
      end
    end
  end

  # A file sink starts over on retry; a function sink only if it has seen nothing yet.
  defp restartable?(%{sink: {:file, _path}}), do: true
  defp restartable?(%{bytes: bytes}), do: bytes == 0

  defp cancel(%{ref: ref, profile: profile}) do
    :ok = :httpc.cancel_request(ref, profile)
    flush(ref)
  end

  defp flush(ref) do
    receive do
      {:http, {^ref, _}} -> flush(ref)
      {:http, {^ref, _, _}} -> flush(ref)
      {:http, {^ref, _, _, _}} -> flush(ref)
    after
      0 -> :ok
    end
  end

  # ------------------------------------------------------------------------- httpc glue

  defp httpc_request(built, request) do
    url = String.to_charlist(built.url)

    {content_type, headers} =
      case List.keytake(built.headers, "content-type", 0) do
        {{_name, type}, rest} -> {type, rest}
        nil -> {nil, built.headers}
      end

    headers = for {name, value} <- headers, do: {String.to_charlist(name), value}

    case Map.get(request, :body) do
      nil when content_type == nil and request.method in [:get, :head, :put, :delete] ->
        {url, headers}

      nil ->
        {url, headers, charlist(content_type), ""}

      body when is_binary(body) ->
        {url, headers, charlist(content_type), body}

      {:file, path, size, _sha256, _md5} ->
        headers = [{'content-length', Integer.to_string(size)} | headers]
        {url, headers, charlist(content_type), {&read_file_chunk/1, {:path, path}}}
    end
  end

  defp charlist(nil), do: []
  defp charlist(type), do: String.to_charlist(type)

  # Runs in the httpc handler process: opens the file on the first call, reads it in
  # chunks, closes it at the end. A raw file dies with its owner if the request fails.
  defp read_file_chunk({:path, path}) do
    case :file.open(path, [:read, :raw, :binary]) do
      {:ok, fd} -> read_file_chunk({:fd, fd})
      {:error, _reason} -> :eof
    end
  end

  defp read_file_chunk({:fd, fd}) do
    case :file.read(fd, @file_chunk_bytes) do
      {:ok, data} ->
        {:ok, data, {:fd, fd}}

      _eof_or_error ->
        _ = :file.close(fd)
        :eof
    end
  end

  defp http_options(config, timeout) do
    base = [
      timeout: timeout,
      connect_timeout: config.connect_timeout_ms,
      autoredirect: false
    ]

    if config.scheme == :https, do: [ssl: Config.ssl_options(config)] ++ base, else: base
  end

  @profile_options [max_sessions: 64, max_keep_alive_length: 100, keep_alive_timeout: 30_000]

  defp ensure_profile(config) do
    apps = if config.scheme == :https, do: [:inets, :ssl], else: [:inets]
    Enum.each(apps, fn app -> {:ok, _} = Application.ensure_all_started(app) end)

    name = profile_name(config)

    case :inets.start(:httpc, profile: name) do
      {:ok, _pid} -> :ok = :httpc.set_options(@profile_options, name)
      {:error, {:already_started, _pid}} -> :ok
    end

    name
  end

  # One profile per TLS setting; the set of names is as small as the set of configs.
  defp profile_name(config) do
    hash = :erlang.phash2({config.scheme, config.ca_file, config.verify_tls})
    :"s3_client_#{config.scheme}_#{hash}"
  end

  defp headers_map(headers) do
    Enum.reduce(headers, %{}, fn {name, value}, acc ->
      name = name |> to_string() |> String.downcase()
      value = :erlang.list_to_binary(value)
      Map.update(acc, name, value, &(&1 <> "," <> value))
    end)
  end

  @doc """
  A header's value as a non-negative integer (`content-length`), or `nil`.

      iex> S3Client.HTTP.integer_header(%{"content-length" => "42"}, "content-length")
      42
      iex> S3Client.HTTP.integer_header(%{}, "content-length")
      nil
  """
  @spec integer_header(headers(), String.t()) :: non_neg_integer() | nil
  def integer_header(headers, name) do
    with value when is_binary(value) <- Map.get(headers, name),
         {int, ""} <- Integer.parse(String.trim(value)) do
      int
    else
      _ -> nil
    end
  end

  defp payload_hash(""), do: SigV4.empty_sha256()
  defp payload_hash(nil), do: SigV4.empty_sha256()
  defp payload_hash(body) when is_binary(body), do: SigV4.sha256_hex(body)
  defp payload_hash({:file, _path, _size, sha256, _md5}), do: sha256

  defp method_name(method), do: method |> Atom.to_string() |> String.upcase()
end
