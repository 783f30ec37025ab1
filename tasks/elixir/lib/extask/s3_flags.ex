defmodule Extask.S3Flags do
  @moduledoc """
  The S3 flags every S3 command shares, turned into an `S3Client.Config` and a bucket: the
  same flags, env fallbacks and validation for `discover`, `archive` and any later command,
  so they cannot drift apart. (The client's own options are `S3Client.Config`'s; this
  module is the command line's side of them.)

  | flag | env fallback | default |
  | --- | --- | --- |
  | `--bucket NAME` | `EXTASK_BUCKET` | required |
  | `--s3-endpoint-url URL` | `EXTASK_S3_ENDPOINT_URL` | required |
  | `--s3-region REGION` | `EXTASK_S3_REGION` | `us-east-1` |
  | `--s3-ca-file PATH` | `EXTASK_S3_CA_FILE` | the system CA store |
  | `--s3-path-style BOOL` | `EXTASK_S3_PATH_STYLE` | `true` (`false`: virtual-host style) |

  Credentials are secrets, so they come only from the environment, never from flags:
  `EXTASK_S3_ACCESS_KEY_ID` and `EXTASK_S3_SECRET_ACCESS_KEY` (required), and
  `EXTASK_S3_SESSION_TOKEN` (optional), each also as a `*_FILE` variable naming a file
  (`Extask.Secrets.read/2`). The secret never reaches a log line: `describe/1` shows the
  endpoint, region, bucket and addressing only, and `S3Client.Credentials` inspects as
  `"[redacted]"`.
  """

  alias Extask.{Errors, Flag, Log, Secrets, UsageError}
  alias S3Client.{Config, Credentials}

  @enforce_keys [:s3, :bucket]
  defstruct [:s3, :bucket]

  @type t :: %__MODULE__{s3: Config.t(), bucket: String.t()}

  @bucket_format ~r/\A[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]\z/
  @endpoint_format ~r{\Ahttps?://[^/\s?#]+(/\S*)?\z}
  @region_format ~r/\A[a-z0-9-]+\z/

  @doc """
  The shared flags, to be appended to a command's own `flags/0`.

      iex> Enum.map(Extask.S3Flags.flags(), &Extask.Flag.env_var/1)
      ["EXTASK_BUCKET", "EXTASK_S3_ENDPOINT_URL", "EXTASK_S3_REGION", "EXTASK_S3_CA_FILE",
       "EXTASK_S3_PATH_STYLE"]
  """
  @spec flags() :: [Flag.t(), ...]
  def flags do
    [
      %Flag{
        name: :bucket,
        type: {:format, @bucket_format, "an S3 bucket name"},
        metavar: "NAME",
        required: true,
        doc: "the bucket holding raw/, manifests/, ledger/ and the archive"
      },
      %Flag{
        name: :s3_endpoint_url,
        type: {:format, @endpoint_format, "an http:// or https:// URL"},
        metavar: "URL",
        required: true,
        doc: "the S3 endpoint, e.g. https://s3.eu-west-1.amazonaws.com"
      },
      %Flag{
        name: :s3_region,
        type: {:format, @region_format, "a region like us-east-1"},
        metavar: "REGION",
        default: "us-east-1",
        doc: "the SigV4 signing region; default us-east-1"
      },
      %Flag{
        name: :s3_ca_file,
        type: :path,
        metavar: "PATH",
        doc: "PEM file of the CAs to trust for https; default the system store"
      },
      %Flag{
        name: :s3_path_style,
        type: :boolean,
        metavar: "BOOL",
        default: true,
        doc: "path-style addressing (false: virtual-host style); default true"
      }
    ]
  end

  @doc """
  The S3 client config and bucket from a parsed `Extask.Config` (its `opts` hold the
  values of `flags/0`, its `env` the credentials). Retry warnings go to `log`
  (`log_retry/3`). Missing or unreadable credentials are a usage error naming the
  variable, never its value.

      iex> {:ok, {:run, config}} = Extask.Config.parse(
      ...>   ["discover", "--run-id", "r1", "--bucket", "polyetl"],
      ...>   %{"EXTASK_S3_ENDPOINT_URL" => "http://127.0.0.1:39000",
      ...>     "EXTASK_S3_ACCESS_KEY_ID" => "AKID", "EXTASK_S3_SECRET_ACCESS_KEY" => "s3cr3t"})
      iex> {:ok, settings} = Extask.S3Flags.from_config(config)
      iex> Extask.S3Flags.describe(settings)
      %{bucket: "polyetl", s3_endpoint_url: "http://127.0.0.1:39000", s3_region: "us-east-1",
        s3_addressing: "path"}
      iex> {:error, error} = Extask.S3Flags.from_config(%{config | env: %{}})
      iex> error.message
      "expected EXTASK_S3_ACCESS_KEY_ID (or EXTASK_S3_ACCESS_KEY_ID_FILE) to be set, got: none"
  """
  @spec from_config(Extask.Config.t(), Log.t() | nil) ::
          {:ok, t()} | {:error, UsageError.t()}
  def from_config(%Extask.Config{opts: opts, env: env}, log \\ nil) do
    with {:ok, key_id} <- required_secret(env, "EXTASK_S3_ACCESS_KEY_ID"),
         {:ok, secret} <- required_secret(env, "EXTASK_S3_SECRET_ACCESS_KEY"),
         {:ok, token} <- Secrets.read(env, "EXTASK_S3_SESSION_TOKEN"),
         {:ok, s3} <- s3_config(opts, Credentials.new(key_id, secret, blank_to_nil(token)), log) do
      {:ok, %__MODULE__{s3: s3, bucket: opts.bucket}}
    end
  end

  @doc "What to log about the connection: no credentials."
  @spec describe(t()) :: %{atom() => String.t()}
  def describe(%__MODULE__{s3: s3, bucket: bucket}) do
    %{
      bucket: bucket,
      s3_endpoint_url: Config.endpoint_url(s3),
      s3_region: s3.region,
      s3_addressing: if(s3.addressing == :path, do: "path", else: "virtual_host")
    }
  end

  @doc """
  The `--help` note on what is not a flag: the credentials.

      iex> Extask.S3Flags.notes() =~ "EXTASK_S3_SECRET_ACCESS_KEY"
      true
  """
  @spec notes() :: String.t()
  def notes do
    """
    S3 credentials come only from the environment (or a file its *_FILE variant names):
      EXTASK_S3_ACCESS_KEY_ID, EXTASK_S3_SECRET_ACCESS_KEY (required), EXTASK_S3_SESSION_TOKEN
    """
  end

  defp required_secret(env, name) do
    case Secrets.read(env, name) do
      {:ok, value} when is_binary(value) and value != "" ->
        {:ok, value}

      {:ok, _none} ->
        {:error, %UsageError{message: "expected #{name} (or #{name}_FILE) to be set, got: none"}}

      {:error, _} = error ->
        error
    end
  end

  defp s3_config(opts, credentials, log) do
    config_opts = [
      endpoint: opts.s3_endpoint_url,
      credentials: credentials,
      region: opts.s3_region,
      addressing: if(opts.s3_path_style, do: :path, else: :virtual_host),
      ca_file: opts.s3_ca_file,
      on_retry: on_retry(log)
    ]

    case Config.new(config_opts) do
      {:ok, config} ->
        {:ok, config}

      {:error, error} ->
        {:error,
         %UsageError{message: "invalid S3 settings (--s3-* flags, EXTASK_S3_*)", cause: error}}
    end
  end

  @doc """
  The warning line of a retried S3 request (the client's `:on_retry`): operation,
  location, status and code, which attempt failed, the delay, and the error chain.
  """
  @spec log_retry(Log.t(), S3Client.Error.t(), Config.retry_info()) :: :ok
  def log_retry(log, error, retry) do
    Log.warn(log, "S3 request failed, retrying",
      operation: error.operation,
      bucket: error.bucket,
      key: error.key,
      status: error.status,
      code: error.code,
      attempt: retry.attempt,
      max_attempts: retry.max_attempts,
      delay_ms: retry.delay_ms,
      error: Errors.chain(error)
    )
  end

  defp on_retry(nil), do: nil
  defp on_retry(log), do: &log_retry(log, &1, &2)

  defp blank_to_nil(""), do: nil
  defp blank_to_nil(value), do: value
end
