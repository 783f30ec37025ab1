defmodule S3Client.SigV4 do
  @moduledoc """
  Internal to the library (used by `S3Client.HTTP` and `S3Client.presigned_url/5`): AWS
  Signature Version 4, pure — canonical request, string to sign, signing key, signature,
  the `Authorization` header and presigned URLs. No clock, no I/O: the caller passes the
  time, so every step is checked against AWS's published examples
  (`test/s3_client/sigv4_test.exs`).

  The steps, as AWS documents them:

      CanonicalRequest = Method \\n CanonicalURI \\n CanonicalQuery \\n
                         CanonicalHeaders \\n SignedHeaders \\n PayloadHash
      StringToSign     = "AWS4-HMAC-SHA256" \\n AmzDate \\n Scope \\n hex(sha256(CanonicalRequest))
      Scope            = Date/Region/Service/aws4_request
      SigningKey       = HMAC(HMAC(HMAC(HMAC("AWS4" <> Secret, Date), Region), Service),
                              "aws4_request")
      Signature        = hex(HMAC(SigningKey, StringToSign))

  A request here is a map: `:method` (`"GET"`, …), `:path` (the canonical URI, already
  encoded with `encode_path/1` — S3 encodes each key byte once and keeps `/`), `:query`
  (raw `{name, value}` pairs, encoded by `canonical_query/1`), `:headers` (`{name, value}`
  pairs, every one of them signed) and `:payload_hash` (hex SHA-256 of the body, or
  `"UNSIGNED-PAYLOAD"`).
  """

  alias S3Client.Credentials

  @algorithm "AWS4-HMAC-SHA256"

  @typedoc "A request to sign; see the module doc."
  @type request :: %{
          required(:method) => String.t(),
          required(:path) => String.t(),
          required(:query) => [{String.t(), String.t()}],
          required(:headers) => [{String.t(), String.t()}],
          required(:payload_hash) => String.t()
        }

  @typedoc "Where a signature is valid: region and service (`\"s3\"`)."
  @type scope :: %{region: String.t(), service: String.t()}

  @doc """
  The hex SHA-256 of the empty body, the payload hash of every GET, HEAD and DELETE.

      iex> S3Client.SigV4.empty_sha256()
      "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
  """
  @spec empty_sha256() :: String.t()
  def empty_sha256, do: sha256_hex("")

  @doc """
  Lower-case hex SHA-256 of iodata.

      iex> S3Client.SigV4.sha256_hex("Welcome to Amazon S3.")
      "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072"
  """
  @spec sha256_hex(iodata()) :: String.t()
  def sha256_hex(data), do: :crypto.hash(:sha256, data) |> Base.encode16(case: :lower)

  @doc """
  Percent-encodes a string the way SigV4 requires: every byte except the unreserved
  characters `A-Z a-z 0-9 - _ . ~` becomes `%XY` (upper-case hex), a space is `%20` (never
  `+`), and `/` is kept only when `keep_slash` is true (object key paths).

      iex> S3Client.SigV4.uri_encode("a b+c/d~e*é")
      "a%20b%2Bc%2Fd~e%2A%C3%A9"
      iex> S3Client.SigV4.uri_encode("photos/2026 11/x$y.txt", true)
      "photos/2026%2011/x%24y.txt"
  """
  @spec uri_encode(String.t(), boolean()) :: String.t()
  def uri_encode(string, keep_slash \\ false) when is_binary(string) do
    for <<byte <- string>>, into: "", do: encode_byte(byte, keep_slash)
  end

  defp encode_byte(byte, _keep_slash)
       when byte in ?A..?Z or byte in ?a..?z or byte in ?0..?9 or byte in [?-, ?_, ?., ?~],
       do: <<byte>>

  defp encode_byte(?/, true), do: "/"
  defp encode_byte(byte, _keep_slash), do: "%" <> Base.encode16(<<byte>>)

  @doc """
  The canonical URI of an S3 path: each byte encoded once, `/` kept, always starting with
  `/`. The same string is sent on the wire, so what is signed is what the server sees.

      iex> S3Client.SigV4.encode_path("/examplebucket/test$file.text")
      "/examplebucket/test%24file.text"
      iex> S3Client.SigV4.encode_path("")
      "/"
  """
  @spec encode_path(String.t()) :: String.t()
  def encode_path(""), do: "/"
  def encode_path("/" <> _ = path), do: uri_encode(path, true)
  def encode_path(path), do: "/" <> uri_encode(path, true)

  @doc """
  The canonical query string: names and values encoded with `uri_encode/1`, sorted by
  encoded name then value, joined with `&`; a parameter without value is `name=`.

      iex> S3Client.SigV4.canonical_query([{"prefix", "J"}, {"max-keys", "2"}])
      "max-keys=2&prefix=J"
      iex> S3Client.SigV4.canonical_query([{"lifecycle", ""}])
      "lifecycle="
      iex> S3Client.SigV4.canonical_query([{"continuation-token", "a/b c=d"}, {"list-type", "2"}])
      "continuation-token=a%2Fb%20c%3Dd&list-type=2"
  """
  @spec canonical_query([{String.t(), String.t()}]) :: String.t()
  def canonical_query(query) do
    query
    |> Enum.map(fn {name, value} -> {uri_encode(name), uri_encode(value)} end)
    |> Enum.sort()
    |> Enum.map_join("&", fn {name, value} -> name <> "=" <> value end)
  end

  @doc """
  The canonical headers block and the signed-headers list: names lower-cased, values
  trimmed with inner runs of spaces collapsed, sorted by name; repeated names are joined
  with `,`.

      iex> S3Client.SigV4.canonical_headers([{"X-Amz-Date", "20150830T123600Z"},
      ...>                                    {"Host", "  example.amazonaws.com "}])
      {"host:example.amazonaws.com\\nx-amz-date:20150830T123600Z\\n", "host;x-amz-date"}
  """
  @spec canonical_headers([{String.t(), String.t()}]) :: {String.t(), String.t()}
  def canonical_headers(headers) do
    grouped =
      headers
      |> Enum.map(fn {name, value} -> {String.downcase(name), normalize_value(value)} end)
      |> Enum.group_by(fn {name, _} -> name end, fn {_, value} -> value end)
      |> Enum.sort()

    block =
      Enum.map_join(grouped, "", fn {name, values} -> "#{name}:#{Enum.join(values, ",")}\n" end)

    signed = Enum.map_join(grouped, ";", fn {name, _} -> name end)
    {block, signed}
  end

  defp normalize_value(value), do: value |> String.trim() |> String.replace(~r/ {2,}/, " ")

  @doc """
  The canonical request of `request` (see the module doc).

      iex> S3Client.SigV4.canonical_request(%{method: "GET", path: "/", query: [],
      ...>   headers: [{"host", "example.amazonaws.com"}, {"x-amz-date", "20150830T123600Z"}],
      ...>   payload_hash: S3Client.SigV4.empty_sha256()})
      "GET\\n/\\n\\nhost:example.amazonaws.com\\nx-amz-date:20150830T123600Z\\n\\nhost;x-amz-date\\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
  """
  @spec canonical_request(request()) :: String.t()
  def canonical_request(%{method: method, path: path, query: query, headers: headers} = request) do
    {block, signed} = canonical_headers(headers)

    Enum.join(
      [method, path, canonical_query(query), block, signed, request.payload_hash],
      "\n"
    )
  end

  @doc """
  The credential scope: `date/region/service/aws4_request`.

      iex> S3Client.SigV4.credential_scope("20130524T000000Z", %{region: "us-east-1", service: "s3"})
      "20130524/us-east-1/s3/aws4_request"
  """
  @spec credential_scope(String.t(), scope()) :: String.t()
  def credential_scope(amz_date, %{region: region, service: service}) do
    "#{date_part(amz_date)}/#{region}/#{service}/aws4_request"
  end

  @doc """
  The string to sign for a canonical request.

      iex> S3Client.SigV4.string_to_sign("x", "20150830T123600Z",
      ...>   %{region: "us-east-1", service: "service"})
      "AWS4-HMAC-SHA256\\n20150830T123600Z\\n20150830/us-east-1/service/aws4_request\\n2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881"
  """
  @spec string_to_sign(String.t(), String.t(), scope()) :: String.t()
  def string_to_sign(canonical_request, amz_date, scope) do
    Enum.join(
      [@algorithm, amz_date, credential_scope(amz_date, scope), sha256_hex(canonical_request)],
      "\n"
    )
  end

  @doc """
  The signing key: the HMAC-SHA256 chain over date (`YYYYMMDD`), region, service and
  `"aws4_request"`, keyed first by `"AWS4" <> secret`. AWS's own example (IAM, 2012):

      iex> key = S3Client.SigV4.signing_key("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
      ...>   "20120215", "us-east-1", "iam")
      iex> Base.encode16(key, case: :lower)
      "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d"
  """
  @spec signing_key(String.t(), String.t(), String.t(), String.t()) :: binary()
  def signing_key(secret, date, region, service) do
    ("AWS4" <> secret)
    |> hmac(date)
    |> hmac(region)
    |> hmac(service)
    |> hmac("aws4_request")
  end

  @doc """
  The hex signature of a string to sign. AWS's IAM `ListUsers` example (2015-08-30):

      iex> key = S3Client.SigV4.signing_key("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
      ...>   "20150830", "us-east-1", "iam")
      iex> Base.encode16(key, case: :lower)
      "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9"
      iex> S3Client.SigV4.signature(key, Enum.join(["AWS4-HMAC-SHA256", "20150830T123600Z",
      ...>   "20150830/us-east-1/iam/aws4_request",
      ...>   "f536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59"], "\\n"))
      "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"
  """
  @spec signature(binary(), String.t()) :: String.t()
  def signature(signing_key, string_to_sign) do
    signing_key |> hmac(string_to_sign) |> Base.encode16(case: :lower)
  end

  @doc """
  Signs a request: returns its headers plus `x-amz-date` (unless already given),
  `x-amz-security-token` when the credentials carry a session token, and `authorization`.

  `amz_date` is the request time as `YYYYMMDDTHHMMSSZ` (see `amz_date/1`).
  """
  @spec sign(request(), Credentials.t(), scope(), String.t()) :: [{String.t(), String.t()}]
  def sign(request, %Credentials{} = credentials, scope, amz_date) do
    headers = with_date_and_token(request.headers, credentials, amz_date)
    request = %{request | headers: headers}
    {_block, signed} = canonical_headers(headers)
    signature = compute_signature(request, credentials, scope, amz_date)

    authorization =
      "#{@algorithm} Credential=#{credentials.access_key_id}/" <>
        "#{credential_scope(amz_date, scope)}, SignedHeaders=#{signed}, Signature=#{signature}"

    headers ++ [{"authorization", authorization}]
  end

  @doc """
  The signature alone (hex), for a request whose headers are complete (tests compare it
  with published values).
  """
  @spec compute_signature(request(), Credentials.t(), scope(), String.t()) :: String.t()
  def compute_signature(request, %Credentials{} = credentials, scope, amz_date) do
    key =
      signing_key(credentials.secret_access_key, date_part(amz_date), scope.region, scope.service)

    signature(key, string_to_sign(canonical_request(request), amz_date, scope))
  end

  @doc """
  The query parameters of a presigned URL (query-string authentication): the request's own
  query plus `X-Amz-Algorithm`, `X-Amz-Credential`, `X-Amz-Date`, `X-Amz-Expires`,
  `X-Amz-SignedHeaders`, `X-Amz-Security-Token` (with a session token) and
  `X-Amz-Signature`. The payload is `UNSIGNED-PAYLOAD`; the signed headers are the
  request's (at least `host`).
  """
  @spec presign_query(request(), Credentials.t(), scope(), String.t(), pos_integer()) :: [
          {String.t(), String.t()}
        ]
  def presign_query(request, %Credentials{} = credentials, scope, amz_date, expires_in) do
    {_block, signed} = canonical_headers(request.headers)

    token =
      if credentials.session_token,
        do: [{"X-Amz-Security-Token", credentials.session_token}],
        else: []

    query =
      request.query ++
        [
          {"X-Amz-Algorithm", @algorithm},
          {"X-Amz-Credential",
           "#{credentials.access_key_id}/#{credential_scope(amz_date, scope)}"},
          {"X-Amz-Date", amz_date},
          {"X-Amz-Expires", Integer.to_string(expires_in)},
          {"X-Amz-SignedHeaders", signed}
        ] ++ token

    request = %{request | query: query, payload_hash: "UNSIGNED-PAYLOAD"}
    query ++ [{"X-Amz-Signature", compute_signature(request, credentials, scope, amz_date)}]
  end

  @doc """
  A time as SigV4's `YYYYMMDDTHHMMSSZ` (UTC, seconds).

      iex> S3Client.SigV4.amz_date(~U[2013-05-24 00:00:00.123Z])
      "20130524T000000Z"
  """
  @spec amz_date(DateTime.t()) :: String.t()
  def amz_date(%DateTime{} = time) do
    time |> DateTime.shift_zone!("Etc/UTC") |> Calendar.strftime("%Y%m%dT%H%M%SZ")
  end

  defp with_date_and_token(headers, credentials, amz_date) do
    names = Enum.map(headers, fn {name, _} -> String.downcase(name) end)
    date = if "x-amz-date" in names, do: [], else: [{"x-amz-date", amz_date}]

    token =
      if credentials.session_token && "x-amz-security-token" not in names,
        do: [{"x-amz-security-token", credentials.session_token}],
        else: []

    headers ++ date ++ token
  end

  defp date_part(<<date::binary-size(8), _rest::binary>>), do: date

  defp hmac(key, data), do: :crypto.mac(:hmac, :sha256, key, data)
end
