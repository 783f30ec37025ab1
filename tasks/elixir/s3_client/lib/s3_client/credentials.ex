defmodule S3Client.Credentials do
  @moduledoc """
  An AWS key pair, with an optional session token (temporary credentials).

  The secret and the token never leave this struct except into a signature: `inspect/2`
  shows them as `"[redacted]"`, so a credentials struct (or a config holding one) can be
  printed in a log line, an error or a test failure without leaking them.

      iex> creds = S3Client.Credentials.new("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
      iex> inspect(creds)
      ~S(#S3Client.Credentials<access_key_id: "AKIDEXAMPLE", secret_access_key: "[redacted]", session_token: nil>)
  """

  @enforce_keys [:access_key_id, :secret_access_key]
  defstruct [:access_key_id, :secret_access_key, session_token: nil]

  @type t :: %__MODULE__{
          access_key_id: String.t(),
          secret_access_key: String.t(),
          session_token: String.t() | nil
        }

  @doc """
  Credentials from an access key id, a secret and an optional session token.

      iex> S3Client.Credentials.new("AKID", "secret", "token").session_token
      "token"
  """
  @spec new(String.t(), String.t(), String.t() | nil) :: t()
  def new(access_key_id, secret_access_key, session_token \\ nil)
      when is_binary(access_key_id) and is_binary(secret_access_key) and
             (is_binary(session_token) or is_nil(session_token)) do
    %__MODULE__{
      access_key_id: access_key_id,
      secret_access_key: secret_access_key,
      session_token: session_token
    }
  end

  defimpl Inspect do
    import Inspect.Algebra

    @redacted "[redacted]"

    # Plain concatenation of safe values only: nothing here can fail and fall back to
    # Inspect.Error's raw dump of the struct.
    def inspect(creds, opts) do
      token = if creds.session_token, do: @redacted, else: nil

      concat([
        "#S3Client.Credentials<access_key_id: ",
        to_doc(creds.access_key_id, opts),
        ", secret_access_key: ",
        to_doc(@redacted, opts),
        ", session_token: ",
        to_doc(token, opts),
        ">"
      ])
    end
  end
end
