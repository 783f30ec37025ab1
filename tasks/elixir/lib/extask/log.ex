defmodule Extask.Log do
  @moduledoc """
  JSON log lines on stderr, with the keys every task image shares.

  Airflow shows a pod's output as the task log and log pipelines parse it, so each line is
  one JSON object: `ts` (RFC 3339 UTC, milliseconds), `level`, `msg` (constant text), `tool`,
  then the event's fields as further top-level keys. Fields never overwrite those four.

  Commands get a `t:t/0` (level and device, fixed once from the validated config) and call
  plain functions, so tests can log into a `StringIO`:

      Extask.Log.info(log, "copied table", table: "events", rows: 10)

  OTP's own events (crash reports, `:ssl` or `:httpc` warnings) must not reach stdout as
  text either: `format/2` is a `:logger` formatter that renders them the same way, and
  `route_otp_events/0` (called by `Extask.CLI.main/0`) points the kernel's default handler
  at stderr through it.
  """

  alias Extask.JSON

  defstruct level: :info, device: :standard_error

  @type level :: :debug | :info | :warn | :error
  @type fields :: keyword() | %{optional(atom() | String.t()) => term()}
  @type t :: %__MODULE__{level: level(), device: IO.device()}

  @levels [:debug, :info, :warn, :error]
  @reserved ["ts", "level", "msg", "tool"]

  @doc """
  A logger writing lines at `level` and above to `device`.

      iex> Extask.Log.new(:warn, :stdio)
      %Extask.Log{level: :warn, device: :stdio}
  """
  @spec new(level(), IO.device()) :: t()
  def new(level \\ :info, device \\ :standard_error) when level in @levels do
    %__MODULE__{level: level, device: device}
  end

  @doc """
  The levels, lowest first, as `--log-level` accepts them.

      iex> Extask.Log.levels()
      [:debug, :info, :warn, :error]
  """
  @spec levels() :: [level(), ...]
  def levels, do: @levels

  @doc """
  Tells whether a logger writes lines of `level`.

      iex> Extask.Log.enabled?(Extask.Log.new(:warn), :info)
      false
      iex> Extask.Log.enabled?(Extask.Log.new(:warn), :error)
      true
  """
  @spec enabled?(t(), level()) :: boolean()
  def enabled?(%__MODULE__{level: min}, level), do: rank(level) >= rank(min)

  @doc "Logs a debug line."
  @spec debug(t(), String.t(), fields()) :: :ok
  def debug(log, msg, fields \\ []), do: log(log, :debug, msg, fields)

  @doc "Logs an info line."
  @spec info(t(), String.t(), fields()) :: :ok
  def info(log, msg, fields \\ []), do: log(log, :info, msg, fields)

  @doc "Logs a warn line."
  @spec warn(t(), String.t(), fields()) :: :ok
  def warn(log, msg, fields \\ []), do: log(log, :warn, msg, fields)

  @doc "Logs an error line."
  @spec error(t(), String.t(), fields()) :: :ok
  def error(log, msg, fields \\ []), do: log(log, :error, msg, fields)

  @doc """
  Writes one line when `level` is enabled.

      iex> {:ok, device} = StringIO.open("")
      iex> log = Extask.Log.new(:info, device)
      iex> Extask.Log.log(log, :debug, "hidden")
      :ok
      iex> Extask.Log.log(log, :info, "shown", rows: 3)
      :ok
      iex> {_in, out} = StringIO.contents(device)
      iex> [line] = String.split(out, "\\n", trim: true)
      iex> Map.take(Extask.JSON.decode!(line), ["level", "msg", "rows", "tool"])
      %{"level" => "info", "msg" => "shown", "rows" => 3, "tool" => "extask"}
  """
  @spec log(t(), level(), String.t(), fields()) :: :ok
  def log(%__MODULE__{device: device} = log, level, msg, fields \\ []) do
    if enabled?(log, level) do
      IO.write(device, [line(level, msg, fields, System.system_time(:millisecond)), ?\n])
    end

    :ok
  end

  @doc """
  One log line (without the newline) at `ts_ms` milliseconds since the Unix epoch.

  Fields come after the reserved keys, in keyword order (maps: sorted); a field named like a
  reserved key is dropped, and a value JSON cannot hold is written as its `inspect/1` text.

      iex> Extask.Log.line(:warn, "slow", [rows: 2, msg: "ignored", pid: self()], 0)
      ...> |> String.replace(inspect(self()), "PID")
      ~S({"ts":"1970-01-01T00:00:00.000Z","level":"warn","msg":"slow","tool":"extask","rows":2,"pid":"PID"})
  """
  @spec line(level(), String.t(), fields(), integer()) :: String.t()
  def line(level, msg, fields, ts_ms) do
    head = [
      {"ts", format_ts(ts_ms)},
      {"level", Atom.to_string(level)},
      {"msg", text(msg)},
      {"tool", Extask.tool()}
    ]

    JSON.encode_object(head ++ field_pairs(fields))
  end

  @doc """
  An RFC 3339 UTC timestamp with milliseconds.

      iex> Extask.Log.format_ts(1_795_415_850_123)
      "2026-11-23T06:37:30.123Z"
  """
  @spec format_ts(integer()) :: String.t()
  def format_ts(ms), do: ms |> DateTime.from_unix!(:millisecond) |> DateTime.to_iso8601()

  @doc """
  `:logger` formatter callback: renders an OTP log event as one of our JSON lines, with
  the field `source: "otp"`. It never raises, so a strange event cannot kill the handler.

      iex> event = %{level: :warning, msg: {:string, "disk slow"}, meta: %{time: 0}}
      iex> Extask.Log.format(event, %{})
      ~s({"ts":"1970-01-01T00:00:00.000Z","level":"warn","msg":"disk slow","tool":"extask","source":"otp"}\\n)
  """
  @spec format(:logger.log_event(), :logger.formatter_config()) :: String.t()
  def format(%{level: level, msg: msg} = event, _config) do
    meta = Map.get(event, :meta, %{})
    time = Map.get(meta, :time, System.system_time(:microsecond))
    fields = [source: "otp"] ++ mfa_field(meta)
    line(otp_level(level), otp_text(msg, meta), fields, div(time, 1000)) <> "\n"
  end

  @doc """
  Replaces the kernel's default `:logger` handler (plain text on stdout) by one writing
  JSON lines on stderr through `format/2`, for events at `level` and above. Global: only
  the release entry point calls it, never `Extask.CLI.run/3`.
  """
  @spec route_otp_events(:logger.level()) :: :ok | {:error, term()}
  def route_otp_events(level \\ :notice) do
    _ = :logger.remove_handler(:default)

    :logger.add_handler(:default, :logger_std_h, %{
      level: level,
      config: %{type: :standard_error},
      formatter: {__MODULE__, %{}}
    })
  end

  @doc "`:logger` formatter callback: this formatter takes no options."
  @spec check_config(:logger.formatter_config()) :: :ok
  def check_config(_config), do: :ok

  defp rank(level), do: Enum.find_index(@levels, &(&1 == level))

  defp field_pairs(fields) do
    fields
    |> Enum.map(fn {key, value} -> {to_string(key), value} end)
    |> then(fn pairs -> if is_map(fields), do: Enum.sort(pairs), else: pairs end)
    |> Enum.reject(fn {key, _} -> key in @reserved end)
    |> Enum.uniq_by(fn {key, _} -> key end)
    |> Enum.map(fn {key, value} -> {key, encodable(value)} end)
  end

  defp encodable(value) do
    case JSON.encode(value) do
      {:ok, _} -> value
      {:error, _} -> inspect(value)
    end
  end

  defp text(msg) when is_binary(msg), do: msg
  defp text(msg), do: inspect(msg)

  defp otp_level(level) when level in [:emergency, :alert, :critical, :error], do: :error
  defp otp_level(:warning), do: :warn
  defp otp_level(:debug), do: :debug
  defp otp_level(_notice_or_info), do: :info

  defp otp_text(msg, meta) do
    msg |> otp_chardata(meta) |> IO.chardata_to_string()
  rescue
    _ -> inspect(msg)
  end

  defp otp_chardata({:string, chardata}, _meta), do: chardata

  defp otp_chardata({:report, report}, %{report_cb: callback}) when is_function(callback, 1) do
    {format, args} = callback.(report)
    :io_lib.format(format, args)
  end

  defp otp_chardata({:report, report}, %{report_cb: callback}) when is_function(callback, 2) do
    callback.(report, %{depth: :unlimited, chars_limit: :unlimited, single_line: true})
  end

  defp otp_chardata({:report, report}, _meta), do: inspect(report)
  defp otp_chardata({format, args}, _meta), do: :io_lib.format(format, args)

  defp mfa_field(%{mfa: {module, function, arity}}),
    do: [mfa: Exception.format_mfa(module, function, arity)]

  defp mfa_field(_meta), do: []
end
