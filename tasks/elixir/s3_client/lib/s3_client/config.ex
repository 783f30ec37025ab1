defmodule S3Client.Config do
  @moduledoc """
  Where and how the S3 client connects: endpoint, region, addressing style, credentials,
  TLS, retries and timeouts. Built and validated once (`new/1`), then passed to every
  `S3Client` call.

  Options of `new/1`:

    * `:endpoint` (required) — `http://host:port` or `https://host[:port]`, optionally with a
      base path; e.g. `"https://s3.eu-west-1.amazonaws.com"` or `"http://127.0.0.1:39000"`
    * `:credentials` (required) — an `S3Client.Credentials`
    * `:region` — the SigV4 signing region, default `"us-east-1"`
    * `:addressing` — `:path` (default; `endpoint/bucket/key`, what S3-compatible servers
      expect) or `:virtual_host` (`bucket.endpoint-host/key`; buckets whose names are not
      DNS-safe fall back to path style)
    * `:ca_file` — PEM file of the CAs to trust for `https` (default: the system's store,
      `:public_key.cacerts_get/0`)
    * `:verify_tls` — `true` (default): the server's certificate chain and host name are
      checked; `false` turns both off and should only ever be used against a test server
    * `:max_attempts` — attempts per request, retries included (default 4)
    * `:base_delay_ms`, `:max_delay_ms` — retry backoff: attempt `n` waits a random time
      between half and all of `min(max, base * 2^(n-1))` (default 200 and 5,000)
    * `:connect_timeout_ms` (default 10,000), `:timeout_ms` — whole request, body
      included, for everything but streamed downloads (default 120,000),
      `:idle_timeout_ms` — longest silence inside a streamed download (default 60,000)
    * `:on_retry` — a function called before each retry, with the failed attempt's
      `S3Client.Error` and `%{attempt: n, max_attempts: m, delay_ms: d}` (default: none),
      e.g. to log a warning; its result is ignored

  A bad option is an `ArgumentError` naming it (never showing the credentials).
  """

  alias S3Client.{Credentials, Error}

  @enforce_keys [:scheme, :host, :port, :credentials]
  defstruct [
    :scheme,
    :host,
    :port,
    :credentials,
    :ca_file,
    :on_retry,
    base_path: "",
    region: "us-east-1",
    addressing: :path,
    verify_tls: true,
    max_attempts: 4,
    base_delay_ms: 200,
    max_delay_ms: 5_000,
    connect_timeout_ms: 10_000,
    timeout_ms: 120_000,
    idle_timeout_ms: 60_000
  ]

  @type addressing :: :path | :virtual_host

  @typedoc "What `:on_retry` is told about the coming retry."
  @type retry_info :: %{
          attempt: pos_integer(),
          max_attempts: pos_integer(),
          delay_ms: non_neg_integer()
        }

  @typedoc "Called before each retry (see `:on_retry`)."
  @type on_retry :: (Error.t(), retry_info() -> any())

  @type t :: %__MODULE__{
          scheme: :http | :https,
          host: String.t(),
          port: :inet.port_number(),
          base_path: String.t(),
          credentials: Credentials.t(),
          region: String.t(),
          addressing: addressing(),
          ca_file: Path.t() | nil,
          verify_tls: boolean(),
          max_attempts: pos_integer(),
          base_delay_ms: non_neg_integer(),
          max_delay_ms: non_neg_integer(),
          connect_timeout_ms: pos_integer(),
          timeout_ms: pos_integer(),
          idle_timeout_ms: pos_integer(),
          on_retry: on_retry() | nil
        }

  @type option ::
          {:endpoint, String.t()}
          | {:credentials, Credentials.t()}
          | {:region, String.t()}
          | {:addressing, addressing()}
          | {:ca_file, Path.t() | nil}
          | {:verify_tls, boolean()}
          | {:max_attempts, pos_integer()}
          | {:base_delay_ms, non_neg_integer()}
          | {:max_delay_ms, non_neg_integer()}
          | {:connect_timeout_ms, pos_integer()}
          | {:timeout_ms, pos_integer()}
          | {:idle_timeout_ms, pos_integer()}
          | {:on_retry, on_retry() | nil}

  @integer_options [
    max_attempts: 1,
    base_delay_ms: 0,
    max_delay_ms: 0,
    connect_timeout_ms: 1,
    timeout_ms: 1,
    idle_timeout_ms: 1
  ]

  @doc """
  Validates `opts` into a config; a bad option is an `ArgumentError` naming it.

      iex> creds = S3Client.Credentials.new("AKID", "secret")
      iex> {:ok, config} = S3Client.Config.new(endpoint: "http://127.0.0.1:39000/", credentials: creds)
      iex> {config.scheme, config.host, config.port, config.base_path, config.region}
      {:http, "127.0.0.1", 39000, "", "us-east-1"}
      iex> {:error, error} = S3Client.Config.new(endpoint: "ftp://x", credentials: creds)
      iex> error.message
      ~S(expected endpoint to be an http:// or https:// URL with a host, got: "ftp://x")
      iex> {:error, error} = S3Client.Config.new(endpoint: "http://x", credentials: creds, max_attempts: 0)
      iex> error.message
      "expected max_attempts to be an integer >= 1, got: 0"
  """
  @spec new([option()]) :: {:ok, t()} | {:error, %ArgumentError{}}
  def new(opts) when is_list(opts) do
    with :ok <- known_options(opts),
         {:ok, {scheme, host, port, base_path}} <- endpoint(Keyword.get(opts, :endpoint)),
         {:ok, credentials} <- credentials(Keyword.get(opts, :credentials)),
         {:ok, region} <- region(Keyword.get(opts, :region, "us-east-1")),
         {:ok, addressing} <- addressing(Keyword.get(opts, :addressing, :path)),
         {:ok, verify_tls} <- boolean(:verify_tls, Keyword.get(opts, :verify_tls, true)),
         {:ok, ca_file} <- ca_file(scheme, verify_tls, Keyword.get(opts, :ca_file)),
         {:ok, integers} <- integers(opts),
         {:ok, on_retry} <- on_retry(Keyword.get(opts, :on_retry)) do
      config = %__MODULE__{
        scheme: scheme,
        host: host,
        port: port,
        base_path: base_path,
        credentials: credentials,
        region: region,
        addressing: addressing,
        verify_tls: verify_tls,
        ca_file: ca_file,
        on_retry: on_retry
      }

      {:ok, struct!(config, integers)}
    end
  end

  @doc "Like `new/1`, raising `ArgumentError` on a bad option."
  @spec new!([option()]) :: t()
  def new!(opts) do
    case new(opts) do
      {:ok, config} -> config
      {:error, error} -> raise error
    end
  end

  @doc """
  The `:ssl` client options for an `https` endpoint (`[]` for `http`).

  With `verify_tls` (the default): `verify: :verify_peer` against `ca_file` or the system's
  CA store, and the host name checked against the certificate the way HTTPS clients do
  (`:public_key.pkix_verify_hostname_match_fun(:https)`, which accepts wildcard names).

      iex> creds = S3Client.Credentials.new("AKID", "secret")
      iex> config = S3Client.Config.new!(endpoint: "https://s3.example.com", credentials: creds,
      ...>   ca_file: "/etc/ssl/certs/ca-certificates.crt")
      iex> opts = S3Client.Config.ssl_options(config)
      iex> {opts[:verify], opts[:cacertfile]}
      {:verify_peer, '/etc/ssl/certs/ca-certificates.crt'}
      iex> is_function(opts[:customize_hostname_check][:match_fun], 2)
      true
  """
  @spec ssl_options(t()) :: [:ssl.tls_client_option()]
  def ssl_options(%__MODULE__{scheme: :http}), do: []

  def ssl_options(%__MODULE__{verify_tls: false}), do: [verify: :verify_none, log_level: :warning]

  def ssl_options(%__MODULE__{} = config) do
    cas =
      if config.ca_file,
        do: [cacertfile: String.to_charlist(config.ca_file)],
        else: [cacerts: :public_key.cacerts_get()]

    [
      verify: :verify_peer,
      depth: 10,
      # A refused handshake comes back as the request's error (reported once, by the
      # caller); :ssl's own notice about the alert would only repeat it.
      log_level: :warning,
      customize_hostname_check: [match_fun: :public_key.pkix_verify_hostname_match_fun(:https)]
    ] ++ cas ++ sni(config.host)
  end

  # SNI needs a DNS name; for an IP literal the host-name check still runs against the
  # certificate's IP addresses, on the address httpc connects to.
  defp sni(host) do
    case :inet.parse_address(String.to_charlist(host)) do
      {:ok, _ip} -> []
      {:error, _} -> [server_name_indication: String.to_charlist(host)]
    end
  end

  @doc """
  The endpoint as a URL (no trailing slash).

      iex> creds = S3Client.Credentials.new("AKID", "secret")
      iex> S3Client.Config.endpoint_url(S3Client.Config.new!(endpoint: "https://s3.example.com:443/base/", credentials: creds))
      "https://s3.example.com/base"
  """
  @spec endpoint_url(t()) :: String.t()
  def endpoint_url(%__MODULE__{} = config) do
    "#{config.scheme}://#{host_header(config, config.host)}#{config.base_path}"
  end

  @doc """
  The `Host` header for `host` on this endpoint: the port only when it is not the scheme's
  default, as HTTP clients send it (and as SigV4 must sign it).

      iex> creds = S3Client.Credentials.new("AKID", "secret")
      iex> config = S3Client.Config.new!(endpoint: "http://127.0.0.1:39000", credentials: creds)
      iex> S3Client.Config.host_header(config, "127.0.0.1")
      "127.0.0.1:39000"
  """
  @spec host_header(t(), String.t()) :: String.t()
  def host_header(%__MODULE__{scheme: :http, port: 80}, host), do: bracket(host)
  def host_header(%__MODULE__{scheme: :https, port: 443}, host), do: bracket(host)
  def host_header(%__MODULE__{port: port}, host), do: "#{bracket(host)}:#{port}"

  defp bracket(host) do
    if String.contains?(host, ":"), do: "[#{host}]", else: host
  end

  @known [:endpoint, :credentials, :region, :addressing, :ca_file, :verify_tls, :on_retry] ++
           Keyword.keys(@integer_options)

  defp known_options(opts) do
    case Enum.reject(Keyword.keys(opts), &(&1 in @known)) do
      [] -> :ok
      unknown -> invalid("unknown S3 option(s): #{Enum.map_join(unknown, ", ", &inspect/1)}")
    end
  end

  defp endpoint(url) when is_binary(url) do
    case URI.new(url) do
      {:ok, %URI{scheme: scheme, host: host, port: port, path: path, query: nil}}
      when scheme in ["http", "https"] and is_binary(host) and host != "" ->
        base_path = (path || "") |> String.trim_trailing("/")
        {:ok, {String.to_existing_atom(scheme), host, port, base_path}}

      _ ->
        invalid(
          "expected endpoint to be an http:// or https:// URL with a host, got: #{inspect(url)}"
        )
    end
  end

  defp endpoint(other),
    do: invalid("expected endpoint to be an http:// or https:// URL, got: #{inspect(other)}")

  defp credentials(%Credentials{access_key_id: id, secret_access_key: secret} = creds)
       when id != "" and secret != "",
       do: {:ok, creds}

  # Never show the value: it may hold the secret.
  defp credentials(_other),
    do: invalid("expected credentials to be an S3Client.Credentials with a key id and a secret")

  defp region(region) when is_binary(region) do
    if region =~ ~r/\A[a-z0-9-]+\z/,
      do: {:ok, region},
      else: invalid("expected region to be like us-east-1, got: #{inspect(region)}")
  end

  defp region(other), do: invalid("expected region to be a string, got: #{inspect(other)}")

  defp addressing(style) when style in [:path, :virtual_host], do: {:ok, style}

  defp addressing(other),
    do: invalid("expected addressing to be :path or :virtual_host, got: #{inspect(other)}")

  defp boolean(_name, value) when is_boolean(value), do: {:ok, value}

  defp boolean(name, value),
    do: invalid("expected #{name} to be a boolean, got: #{inspect(value)}")

  defp ca_file(_scheme, _verify, path) when is_binary(path) do
    if File.regular?(path),
      do: {:ok, path},
      else: invalid("expected ca_file to name a readable PEM file, got: #{inspect(path)}")
  end

  defp ca_file(:https, true, nil) do
    # Fail at start, not at the first request, when the system has no CA store.
    _ = :public_key.cacerts_get()
    {:ok, nil}
  rescue
    _ -> invalid("no system CA certificates found for the https endpoint: set ca_file")
  end

  defp ca_file(_scheme, _verify, nil), do: {:ok, nil}

  defp ca_file(_scheme, _verify, other),
    do: invalid("expected ca_file to be a path, got: #{inspect(other)}")

  defp integers(opts) do
    Enum.reduce_while(@integer_options, {:ok, []}, fn {name, min}, {:ok, acc} ->
      case Keyword.fetch(opts, name) do
        :error ->
          {:cont, {:ok, acc}}

        {:ok, value} when is_integer(value) and value >= min ->
          {:cont, {:ok, [{name, value} | acc]}}

        {:ok, value} ->
          {:halt, invalid("expected #{name} to be an integer >= #{min}, got: #{inspect(value)}")}
      end
    end)
  end

  defp on_retry(nil), do: {:ok, nil}
  defp on_retry(fun) when is_function(fun, 2), do: {:ok, fun}

  defp on_retry(other),
    do: invalid("expected on_retry to be a function of 2 arguments, got: #{inspect(other)}")

  defp invalid(message), do: {:error, %ArgumentError{message: message}}
end
