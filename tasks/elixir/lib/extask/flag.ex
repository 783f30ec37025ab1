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
  defstruct [
    :name,
    :doc,
    type: :string,
    metavar: "VALUE",
    default: nil,
    required: false,
    repeatable: false
  ]

  @typedoc """
  How a raw string is validated:

    * `:string` — any text, untouched;
    * `:path` — a non-blank text;
    * `{:one_of, pairs}` — one of the texts of `pairs`, giving the paired value;
    * `{:integer, min, max}` — a decimal integer in `min..max` (`max` may be `:infinity`);
    * `:boolean` — `true`/`false` (also `1`/`0`, `yes`/`no`, any case);
    * `:list` — comma-separated items, trimmed, empty items dropped (so `""` is `[]`);
    * `{:format, regex, what}` — a text matching `regex`, described as `what` in errors.

  A `required` flag with neither a value nor an env fallback is a usage error naming both.

  A `repeatable` flag may be given any number of times (`--key a --key b`); its value is
  the list of the given values, each validated by `type`, in order. Its env fallback holds
  one value per line (values may contain commas, as S3 keys do); without either it is
  `[]` (or a usage error when `required`).
  """
  @type type ::
          :string
          | :path
          | :boolean
          | :list
          | {:one_of, [{String.t(), atom()}, ...]}
          | {:integer, integer(), integer() | :infinity}
          | {:format, Regex.t(), String.t()}
  @type t :: %__MODULE__{
          name: atom(),
          doc: String.t(),
          type: type(),
          metavar: String.t(),
          default: term(),
          required: boolean(),
          repeatable: boolean()
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
      iex> {:error, error} = Extask.Flag.resolve(%Extask.Flag{name: :bucket, doc: "", required: true}, nil, %{})
      iex> error.message
      "expected --bucket or EXTASK_BUCKET to be set, got: none"

  A repeatable flag is given as the list of its values (`[]` when not given):

      iex> flag = %Extask.Flag{name: :key, doc: "", type: :path, repeatable: true, required: true}
      iex> Extask.Flag.resolve(flag, ["raw/a,1.csv", "raw/b.csv"], %{"EXTASK_KEY" => "raw/c.csv"})
      {:ok, ["raw/a,1.csv", "raw/b.csv"]}
      iex> Extask.Flag.resolve(flag, [], %{"EXTASK_KEY" => "raw/c.csv\\nraw/d.csv\\n"})
      {:ok, ["raw/c.csv", "raw/d.csv"]}
      iex> {:error, error} = Extask.Flag.resolve(flag, ["raw/a.csv", " "], %{})
      iex> error.message
      ~S(expected --key to be a path, got: " ")
      iex> {:error, error} = Extask.Flag.resolve(flag, [], %{})
      iex> error.message
      "expected --key or EXTASK_KEY to be set, got: none"
  """
  @spec resolve(t(), String.t() | [String.t()] | nil, %{optional(String.t()) => String.t()}) ::
          {:ok, term()} | {:error, UsageError.t()}
  def resolve(%__MODULE__{repeatable: true} = flag, given, env) do
    cond do
      is_list(given) and given != [] ->
        validate_all(flag, given, switch(flag))

      Map.has_key?(env, env_var(flag)) and String.trim(Map.fetch!(env, env_var(flag))) != "" ->
        lines = env |> Map.fetch!(env_var(flag)) |> String.split(["\r\n", "\n"], trim: true)
        validate_all(flag, lines, env_var(flag))

      flag.required ->
        resolve(%{flag | repeatable: false}, nil, %{})

      true ->
        {:ok, flag.default || []}
    end
  end

  def resolve(%__MODULE__{} = flag, given, env) do
    cond do
      given != nil ->
        validate(flag, given, switch(flag))

      Map.has_key?(env, env_var(flag)) ->
        validate(flag, Map.fetch!(env, env_var(flag)), env_var(flag))

      flag.required ->
        {:error,
         %UsageError{
           message: "expected #{switch(flag)} or #{env_var(flag)} to be set, got: none"
         }}

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

      iex> flag = %Extask.Flag{name: :limit, doc: "", type: {:integer, 1, :infinity}}
      iex> Extask.Flag.validate(flag, "1000", "--limit")
      {:ok, 1000}
      iex> {:error, error} = Extask.Flag.validate(flag, "0", "EXTASK_LIMIT")
      iex> error.message
      ~S(expected EXTASK_LIMIT to be an integer >= 1, got: "0")
      iex> {:error, error} = Extask.Flag.validate(%{flag | type: {:integer, 1, 64}}, "1e3", "--limit")
      iex> error.message
      ~S(expected --limit to be an integer from 1 to 64, got: "1e3")

      iex> flag = %Extask.Flag{name: :s3_path_style, doc: "", type: :boolean}
      iex> {Extask.Flag.validate(flag, "True", "x"), Extask.Flag.validate(flag, "0", "x")}
      {{:ok, true}, {:ok, false}}

      iex> flag = %Extask.Flag{name: :providers, doc: "", type: :list}
      iex> {Extask.Flag.validate(flag, " a, b,,", "x"), Extask.Flag.validate(flag, "", "x")}
      {{:ok, ["a", "b"]}, {:ok, []}}

      iex> flag = %Extask.Flag{name: :bucket, doc: "", type: {:format, ~r/^[a-z]+$/, "a bucket name"}}
      iex> {:error, error} = Extask.Flag.validate(flag, "Raw", "--bucket")
      iex> error.message
      ~S(expected --bucket to be a bucket name, got: "Raw")
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

  def validate(%__MODULE__{type: {:integer, min, max}}, raw, source) do
    what =
      if max == :infinity,
        do: "an integer >= #{min}",
        else: "an integer from #{min} to #{max}"

    case Integer.parse(String.trim(raw)) do
      {value, ""} when value >= min and (max == :infinity or value <= max) -> {:ok, value}
      _ -> expected(source, what, raw)
    end
  end

  def validate(%__MODULE__{type: :boolean}, raw, source) do
    case raw |> String.trim() |> String.downcase() do
      text when text in ["true", "1", "yes"] -> {:ok, true}
      text when text in ["false", "0", "no"] -> {:ok, false}
      _ -> expected(source, "true or false", raw)
    end
  end

  def validate(%__MODULE__{type: :list}, raw, _source) do
    {:ok, raw |> String.split(",") |> Enum.map(&String.trim/1) |> Enum.reject(&(&1 == ""))}
  end

  def validate(%__MODULE__{type: {:format, regex, what}}, raw, source) do
    if Regex.match?(regex, raw), do: {:ok, raw}, else: expected(source, what, raw)
  end

  @doc """
  The flag's line in `--help`, without indentation.

      iex> flag = %Extask.Flag{name: :fail_with, doc: "end with this outcome", metavar: "KIND"}
      iex> Extask.Flag.help(flag)
      {"--fail-with KIND", "end with this outcome (env EXTASK_FAIL_WITH)"}
      iex> Extask.Flag.help(%Extask.Flag{name: :key, doc: "a key", metavar: "KEY", repeatable: true})
      {"--key KEY", "a key (repeatable; env EXTASK_KEY, one per line)"}
  """
  @spec help(t()) :: {String.t(), String.t()}
  def help(%__MODULE__{} = flag) do
    required = if flag.required, do: "required; ", else: ""

    env =
      if flag.repeatable,
        do: "repeatable; env #{env_var(flag)}, one per line",
        else: "env #{env_var(flag)}"

    {switch(flag) <> " " <> flag.metavar, "#{flag.doc} (#{required}#{env})"}
  end

  defp validate_all(flag, raws, source) do
    Enum.reduce_while(raws, {:ok, []}, fn raw, {:ok, acc} ->
      case validate(flag, raw, source) do
        {:ok, value} -> {:cont, {:ok, [value | acc]}}
        {:error, _} = error -> {:halt, error}
      end
    end)
    |> case do
      {:ok, values} -> {:ok, Enum.reverse(values)}
      error -> error
    end
  end

  defp expected(source, what, raw) do
    {:error, %UsageError{message: "expected #{source} to be #{what}, got: #{inspect(raw)}"}}
  end
end
