defmodule Extask.Flag do
  @moduledoc """
  One declaration per flag: its switch, env fallback, validation, default and help line.

  The contract wants every flag to fall back to `EXTASK_<NAME>` and every bad value to be
  reported as `expected <source> to be ..., got: ...`, naming where the value came from.
  Declaring a flag once as data gives all of that to the common flags and to every command's
  own flags alike (see `Extask.Config`).
  """

  alias Extask.UsageError

  @enforce_keys [:name, :doc]
  defstruct [:name, :doc, type: :string, metavar: "VALUE", default: nil]

  @typedoc """
  How a raw string is validated: any `:string`, a non-blank `:path`, or `{:one_of, pairs}`
  mapping each accepted text to the value the command receives.
  """
  @type type :: :string | :path | {:one_of, [{String.t(), atom()}, ...]}
  @type t :: %__MODULE__{
          name: atom(),
          doc: String.t(),
          type: type(),
          metavar: String.t(),
          default: term()
        }

  @doc """
  The command-line switch of a flag.

      iex> Extask.Flag.switch(%Extask.Flag{name: :scratch_dir, doc: ""})
      "--scratch-dir"
  """
  @spec switch(t()) :: String.t()
  def switch(%__MODULE__{name: name}), do: "--" <> String.replace(Atom.to_string(name), "_", "-")

  @doc """
  The env fallback of a flag.

      iex> Extask.Flag.env_var(%Extask.Flag{name: :result_file, doc: ""})
      "EXTASK_RESULT_FILE"
  """
  @spec env_var(t()) :: String.t()
  def env_var(%__MODULE__{name: name}),
    do: Extask.env_prefix() <> String.upcase(Atom.to_string(name))

  @doc """
  The value of a flag: the flag's own string if given, else its env fallback, else the
  default; validated, and on failure a usage error naming the flag or the env var.

      iex> flag = %Extask.Flag{name: :log_level, doc: "", default: :info,
      ...>                     type: {:one_of, [{"debug", :debug}, {"info", :info}]}}
      iex> Extask.Flag.resolve(flag, "debug", %{"EXTASK_LOG_LEVEL" => "info"})
      {:ok, :debug}
      iex> Extask.Flag.resolve(flag, nil, %{})
      {:ok, :info}
      iex> {:error, error} = Extask.Flag.resolve(flag, nil, %{"EXTASK_LOG_LEVEL" => "loud"})
      iex> error.message
      ~S(expected EXTASK_LOG_LEVEL to be one of debug, info, got: "loud")
  """
  @spec resolve(t(), String.t() | nil, %{optional(String.t()) => String.t()}) ::
          {:ok, term()} | {:error, UsageError.t()}
  def resolve(%__MODULE__{} = flag, given, env) do
    cond do
      given != nil ->
        validate(flag, given, switch(flag))

      Map.has_key?(env, env_var(flag)) ->
        validate(flag, Map.fetch!(env, env_var(flag)), env_var(flag))

      true ->
        {:ok, flag.default}
    end
  end

  @doc """
  Validates a raw value of a flag; `source` names where it came from in the error.

      iex> flag = %Extask.Flag{name: :scratch_dir, doc: "", type: :path}
      iex> Extask.Flag.validate(flag, "/tmp", "--scratch-dir")
      {:ok, "/tmp"}
      iex> {:error, error} = Extask.Flag.validate(flag, " ", "--scratch-dir")
      iex> error.message
      ~S(expected --scratch-dir to be a path, got: " ")
  """
  @spec validate(t(), String.t(), String.t()) :: {:ok, term()} | {:error, UsageError.t()}
  def validate(%__MODULE__{type: :string}, raw, _source), do: {:ok, raw}

  def validate(%__MODULE__{type: :path}, raw, source) do
    if String.trim(raw) == "", do: expected(source, "a path", raw), else: {:ok, raw}
  end

  def validate(%__MODULE__{type: {:one_of, pairs}}, raw, source) do
    case List.keyfind(pairs, raw, 0) do
      {^raw, value} -> {:ok, value}
      nil -> expected(source, "one of " <> Enum.map_join(pairs, ", ", &elem(&1, 0)), raw)
    end
  end

  @doc """
  The flag's line in `--help`, without indentation.

      iex> flag = %Extask.Flag{name: :fail_with, doc: "end with this outcome", metavar: "KIND"}
      iex> Extask.Flag.help(flag)
      {"--fail-with KIND", "end with this outcome (env EXTASK_FAIL_WITH)"}
  """
  @spec help(t()) :: {String.t(), String.t()}
  def help(%__MODULE__{} = flag) do
    {switch(flag) <> " " <> flag.metavar, "#{flag.doc} (env #{env_var(flag)})"}
  end

  defp expected(source, what, raw) do
    {:error, %UsageError{message: "expected #{source} to be #{what}, got: #{inspect(raw)}"}}
  end
end
