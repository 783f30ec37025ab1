defmodule S3ClientTest.S3Server do
  @moduledoc """
  The S3 server for tests tagged `:s3` (docs/s3-server.md), as the Python integration tests
  get it: when `S3_ENDPOINT_URL` is set, that server and the `AWS_*` credentials of the
  environment; otherwise a private server (free port, state dir under the temp dir)
  started with `hack/s3-server.sh start` and stopped by the returned function.

  Shared with extask's tests (its mix.exs compiles this directory in the test env), so it
  uses the client's public API only — except `multipart_upload!/4`, a test fixture the
  client itself does not offer, which goes through the client's transport.
  """

  alias S3Client.HTTP

  @repo_root Path.expand("../../../../..", __DIR__)
  @script Path.join([@repo_root, "hack", "s3-server.sh"])

  @type settings :: %{
          endpoint: String.t(),
          access_key_id: String.t(),
          secret_access_key: String.t(),
          region: String.t()
        }

  @doc """
  The server's settings and a function that stops it (a no-op for a server this module did
  not start).
  """
  @spec start!() :: {settings(), (() -> :ok)}
  def start! do
    case System.get_env("S3_ENDPOINT_URL") do
      url when is_binary(url) and url != "" -> {settings_from(System.get_env()), fn -> :ok end}
      _ -> start_private!()
    end
  end

  @doc """
  For an ExUnit `setup_all`: starts (or finds) the server, stops it when the module's tests
  are done, and returns the context `%{settings: …, config: …}`.
  """
  @spec start_for_tests!() :: %{settings: settings(), config: S3Client.Config.t()}
  def start_for_tests! do
    {settings, stop} = start!()
    ExUnit.Callbacks.on_exit(stop)
    %{settings: settings, config: config!(settings)}
  end

  @doc "`S3Client.Config` options for the server, plus `extra`."
  @spec config!(settings(), keyword()) :: S3Client.Config.t()
  def config!(settings, extra \\ []) do
    creds = S3Client.Credentials.new(settings.access_key_id, settings.secret_access_key)

    S3Client.Config.new!(
      [
        endpoint: settings.endpoint,
        credentials: creds,
        region: settings.region,
        max_attempts: 3,
        base_delay_ms: 50,
        max_delay_ms: 500,
        timeout_ms: 60_000
      ]
      |> Keyword.merge(extra)
    )
  end

  defp start_private! do
    port = free_port()

    state_dir =
      Path.join(System.tmp_dir!(), "s3client-server-#{System.unique_integer([:positive])}")

    env = [{"S3_PORT", Integer.to_string(port)}, {"S3_STATE_DIR", state_dir}]

    {output, status} = System.cmd(@script, ["start"], env: env, stderr_to_stdout: true)

    if status != 0 do
      raise "hack/s3-server.sh start failed (exit #{status}):\n#{output}"
    end

    settings = state_dir |> Path.join("s3.env") |> read_env_file() |> settings_from()

    stop = fn ->
      {_output, _status} = System.cmd(@script, ["stop"], env: env, stderr_to_stdout: true)
      :ok
    end

    {settings, stop}
  end

  defp settings_from(values) do
    missing =
      for name <- ["S3_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"],
          values[name] in [nil, ""],
          do: name

    if missing != [], do: raise("S3 settings incomplete, missing: #{Enum.join(missing, ", ")}")

    %{
      endpoint: values["S3_ENDPOINT_URL"],
      access_key_id: values["AWS_ACCESS_KEY_ID"],
      secret_access_key: values["AWS_SECRET_ACCESS_KEY"],
      region: values["AWS_REGION"] || "us-east-1"
    }
  end

  @doc "KEY=VALUE lines, as hack/s3-server.sh writes them; blanks and # comments skipped."
  @spec read_env_file(Path.t()) :: %{optional(String.t()) => String.t()}
  def read_env_file(path) do
    for raw <- path |> File.read!() |> String.split("\n"),
        line <- [String.trim(raw)],
        line != "" and not String.starts_with?(line, "#"),
        [key, value] <- [String.split(line, "=", parts: 2)],
        into: %{} do
      {key |> String.replace_prefix("export ", "") |> String.trim(), String.trim(value)}
    end
  end

  @doc "A TCP port on 127.0.0.1 that nothing listens on right now."
  @spec free_port() :: :inet.port_number()
  def free_port do
    {:ok, socket} = :gen_tcp.listen(0, ip: {127, 0, 0, 1})
    {:ok, port} = :inet.port(socket)
    :ok = :gen_tcp.close(socket)
    port
  end

  @doc """
  Uploads `parts` as one multipart object (CreateMultipartUpload, UploadPart × n,
  CompleteMultipartUpload) through the client's transport — the client itself has no
  multipart upload — and returns the object's ETag (`<hex>-<n>`).
  """
  @spec multipart_upload!(S3Client.Config.t(), String.t(), String.t(), [binary(), ...]) ::
          String.t()
  def multipart_upload!(config, bucket, key, parts) do
    base = %{bucket: bucket, key: key}

    {:ok, created} =
      HTTP.request(
        config,
        Map.merge(base, %{
          operation: "CreateMultipartUpload",
          method: :post,
          query: [{"uploads", ""}]
        })
      )

    [_, upload_id] = Regex.run(~r{<UploadId>([^<]+)</UploadId>}, created.body)

    etags =
      for {part, n} <- Enum.with_index(parts, 1) do
        {:ok, response} =
          HTTP.request(
            config,
            Map.merge(base, %{
              operation: "UploadPart",
              method: :put,
              query: [{"partNumber", "#{n}"}, {"uploadId", upload_id}],
              body: part
            })
          )

        {n, response.headers["etag"]}
      end

    body =
      "<CompleteMultipartUpload>" <>
        Enum.map_join(etags, fn {n, etag} ->
          "<Part><PartNumber>#{n}</PartNumber><ETag>#{etag}</ETag></Part>"
        end) <> "</CompleteMultipartUpload>"

    {:ok, _} =
      HTTP.request(
        config,
        Map.merge(base, %{
          operation: "CompleteMultipartUpload",
          method: :post,
          query: [{"uploadId", upload_id}],
          body: body,
          content_type: "application/xml"
        })
      )

    {:ok, %{etag: etag}} = S3Client.head_object(config, bucket, key)
    etag
  end
end
