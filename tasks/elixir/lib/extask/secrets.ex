defmodule Extask.Secrets do
  @moduledoc """
  Which configuration values are secret, and how a command reads one.

  Secrets arrive from Kubernetes Secrets as env vars (`EXTASK_X_PASSWORD`) or as files
  (`EXTASK_X_PASSWORD_FILE` names a file in a Secret volume). Deciding which names are secret
  in one place is what lets every report of configuration redact them, so a value can never
  reach a log line, an error message or xcom.
  """

  alias Extask.UsageError

  @redacted "[redacted]"
  @suffixes ["_PASSWORD", "_SECRET", "_TOKEN", "_KEY"]

  @doc """
  The text shown instead of a secret value.

      iex> Extask.Secrets.redacted()
      "[redacted]"
  """
  @spec redacted() :: String.t()
  def redacted, do: @redacted

  @doc """
  Tells whether a config key holds a secret value: its name ends in `_PASSWORD`, `_SECRET`,
  `_TOKEN` or `_KEY`.

      iex> Extask.Secrets.secret_name?("EXTASK_SOURCE_PASSWORD")
      true
      iex> Extask.Secrets.secret_name?("EXTASK_S3_SECRET_ACCESS_KEY")
      true
      iex> Extask.Secrets.secret_name?("EXTASK_SOURCE_HOST")
      false
      iex> Extask.Secrets.secret_name?("EXTASK_DEMO_PASSWORD_FILE")
      false
  """
  @spec secret_name?(String.t()) :: boolean()
  def secret_name?(name), do: name |> String.upcase() |> String.ends_with?(@suffixes)

  @doc """
  Every variable under `prefix`, secret values replaced by `"[redacted]"`.

  A `*_FILE` variable keeps its value: it is a path, not the secret.

      iex> env = %{"EXTASK_A_TOKEN" => "t0k", "EXTASK_B" => "1", "HOME" => "/root",
      ...>         "EXTASK_C_KEY_FILE" => "/run/secrets/c"}
      iex> Extask.Secrets.redacted_env(env, "EXTASK_")
      %{"EXTASK_A_TOKEN" => "[redacted]", "EXTASK_B" => "1", "EXTASK_C_KEY_FILE" => "/run/secrets/c"}
  """
  @spec redacted_env(%{optional(String.t()) => String.t()}, String.t()) :: %{
          optional(String.t()) => String.t()
        }
  def redacted_env(env, prefix) do
    for {name, value} <- env, String.starts_with?(name, prefix), into: %{} do
      {name, if(secret_name?(name), do: @redacted, else: value)}
    end
  end

  @doc """
  Replaces, in `text`, every value of a secret-named variable of `env` (any prefix, e.g.
  `AWS_SECRET_ACCESS_KEY` too). A last line of defence for error messages built from
  exceptions the code did not foresee.

      iex> env = %{"EXTASK_DB_PASSWORD" => "s3cr3t", "EXTASK_DB_HOST" => "db"}
      iex> Extask.Secrets.scrub("login to db failed for s3cr3t", env)
      "login to db failed for [redacted]"
  """
  @spec scrub(String.t(), %{optional(String.t()) => String.t()}) :: String.t()
  def scrub(text, env) do
    env
    |> Enum.filter(fn {name, value} -> value != "" and secret_name?(name) end)
    |> Enum.map(fn {_name, value} -> value end)
    # Longest first, so a secret containing another is replaced whole.
    |> Enum.sort_by(&byte_size/1, :desc)
    |> Enum.reduce(text, &String.replace(&2, &1, @redacted))
  end

  @doc """
  The value of secret `name`: from the env var itself, or from the file its `_FILE` variant
  names (trailing newlines stripped). `{:ok, nil}` when neither is set.

  Setting both is ambiguous and refused; a file that cannot be read is a usage error naming
  the variable and the path, never the value.

      iex> Extask.Secrets.read(%{"EXTASK_DB_PASSWORD" => "s3cr3t"}, "EXTASK_DB_PASSWORD")
      {:ok, "s3cr3t"}
      iex> Extask.Secrets.read(%{}, "EXTASK_DB_PASSWORD")
      {:ok, nil}
      iex> {:error, error} = Extask.Secrets.read(%{"EXTASK_DB_PASSWORD_FILE" => "/nonexistent"},
      ...>                                       "EXTASK_DB_PASSWORD")
      iex> error.message
      ~S(expected EXTASK_DB_PASSWORD_FILE to name a readable file, got: "/nonexistent")
  """
  @spec read(%{optional(String.t()) => String.t()}, String.t()) ::
          {:ok, String.t() | nil} | {:error, UsageError.t()}
  def read(env, name) do
    file_var = name <> "_FILE"

    case {Map.fetch(env, name), Map.fetch(env, file_var)} do
      {{:ok, _}, {:ok, _}} ->
        {:error,
         %UsageError{message: "expected only one of #{name} and #{file_var} to be set, got both"}}

      {{:ok, value}, :error} ->
        {:ok, value}

      {:error, {:ok, path}} ->
        read_file(file_var, path)

      {:error, :error} ->
        {:ok, nil}
    end
  end

  defp read_file(file_var, path) do
    case File.read(path) do
      {:ok, content} ->
        {:ok, String.trim_trailing(content, "\n")}

      {:error, reason} ->
        message = "expected #{file_var} to name a readable file, got: #{inspect(path)}"
        {:error, %UsageError{message: message, cause: reason}}
    end
  end
end
