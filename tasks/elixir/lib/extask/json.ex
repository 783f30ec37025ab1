defmodule Extask.JSON do
  @moduledoc """
  A small JSON (RFC 8259) encoder and decoder, because the build cannot fetch Jason and
  OTP 25 has no `:json`.

  Logs, results and (later) S3 manifests are JSON, and tests read them back, so both
  directions are here. Choices that keep output stable and safe:

    * maps are written with their keys sorted, so the same data always gives the same bytes
      (idempotent results); `encode_object/1` keeps an explicit order where the contract
      shows one (log lines start with `ts`, `level`, `msg`, `tool`);
    * strings are written as UTF-8; control characters, `"` and `\\` are escaped; a binary
      that is not valid UTF-8 is refused rather than written as garbage;
    * atoms other than `nil`, `true` and `false` are written as strings;
    * decoding gives maps with string keys, lists, binaries, integers (no fraction or
      exponent), floats, `true`, `false` and `nil`; a duplicate key keeps its last value.

  Errors are `Extask.JSONError` with the byte position of malformed input.
  """

  alias Extask.JSONError

  @typedoc "What `decode/1` returns, and what `encode/1` accepts (plus atoms and atom keys)."
  @type value ::
          nil
          | boolean()
          | number()
          | String.t()
          | atom()
          | [value()]
          | %{optional(key()) => value()}
  @type key :: String.t() | atom()

  @doc """
  Encodes a term as JSON text.

      iex> Extask.JSON.encode(%{"b" => [1, 2.5, nil], "a" => "x\\ny"})
      {:ok, ~S({"a":"x\\ny","b":[1,2.5,null]})}
      iex> {:error, error} = Extask.JSON.encode({:tuple})
      iex> error.message
      "cannot encode {:tuple} as JSON"
  """
  @spec encode(term()) :: {:ok, String.t()} | {:error, JSONError.t()}
  def encode(term) do
    {:ok, encode!(term)}
  rescue
    error in JSONError -> {:error, error}
  end

  @doc """
  Encodes a term as JSON text, raising `Extask.JSONError` for a term JSON cannot hold.

      iex> Extask.JSON.encode!(%{level: :info, ok: true, name: "é"})
      ~S({"level":"info","name":"é","ok":true})
  """
  @spec encode!(term()) :: String.t()
  def encode!(term), do: term |> value() |> IO.iodata_to_binary()

  @doc """
  Encodes an ordered list of `{key, value}` pairs as one JSON object, keeping their order.

      iex> Extask.JSON.encode_object([{"tool", "extask"}, {:count, 2}])
      ~S({"tool":"extask","count":2})
  """
  @spec encode_object([{key(), term()}]) :: String.t()
  def encode_object(pairs) when is_list(pairs), do: pairs |> object() |> IO.iodata_to_binary()

  @doc """
  Decodes JSON text.

      iex> Extask.JSON.decode(~S({"counts": {"checks": 1}, "ok": [true, null, -0.5e1]}))
      {:ok, %{"counts" => %{"checks" => 1}, "ok" => [true, nil, -5.0]}}
      iex> Extask.JSON.decode(~S("\\ud83d\\ude00"))
      {:ok, "😀"}
      iex> {:error, error} = Extask.JSON.decode("[1, 2")
      iex> error.message
      "unexpected end of input at byte 5"
  """
  @spec decode(String.t()) :: {:ok, value()} | {:error, JSONError.t()}
  def decode(text) when is_binary(text) do
    {value, rest} = text |> skip_ws() |> parse_value()

    case skip_ws(rest) do
      "" -> {:ok, value}
      trailing -> fail("unexpected trailing data", trailing)
    end
  catch
    {__MODULE__, message, rest} ->
      position = byte_size(text) - byte_size(rest)
      {:error, %JSONError{message: "#{message} at byte #{position}", position: position}}
  end

  @doc """
  Decodes JSON text, raising `Extask.JSONError` when it is malformed.

      iex> Extask.JSON.decode!("[]")
      []
  """
  @spec decode!(String.t()) :: value()
  def decode!(text) do
    case decode(text) do
      {:ok, value} -> value
      {:error, error} -> raise error
    end
  end

  # -- encoding -------------------------------------------------------------------------

  defp value(nil), do: "null"
  defp value(true), do: "true"
  defp value(false), do: "false"
  defp value(atom) when is_atom(atom), do: atom |> Atom.to_string() |> string()
  defp value(int) when is_integer(int), do: Integer.to_string(int)
  defp value(float) when is_float(float), do: :erlang.float_to_binary(float, [:short])
  defp value(text) when is_binary(text), do: string(text)
  defp value(list) when is_list(list), do: array(list)
  defp value(%{__struct__: _} = struct), do: cannot_encode(struct)
  defp value(%{} = map), do: map |> Enum.map(&key_pair/1) |> sorted_unique() |> object()
  defp value(other), do: cannot_encode(other)

  defp array([]), do: "[]"
  defp array(list), do: [?[, Enum.map_intersperse(list, ?,, &value/1), ?]]

  defp object([]), do: "{}"

  defp object(pairs) do
    [?{, Enum.map_intersperse(pairs, ?,, fn {k, v} -> [key(k), ?:, value(v)] end), ?}]
  end

  defp key_pair({key, value}), do: {key_text(key), value}

  defp key(key), do: key |> key_text() |> string()

  defp key_text(key) when is_binary(key), do: key

  defp key_text(key) when is_atom(key) and not is_nil(key) and not is_boolean(key),
    do: Atom.to_string(key)

  defp key_text(other) do
    raise JSONError, message: "cannot encode #{inspect(other)} as a JSON object key"
  end

  defp sorted_unique(pairs) do
    sorted = Enum.sort_by(pairs, &elem(&1, 0))

    sorted
    |> Enum.chunk_every(2, 1, :discard)
    |> Enum.find(fn [{a, _}, {b, _}] -> a == b end)
    |> case do
      nil ->
        sorted

      [{dup, _}, _] ->
        raise JSONError, message: "cannot encode a map with key #{inspect(dup)} twice"
    end
  end

  defp string(text) do
    if String.valid?(text) do
      [?", escape(text, text, 0, 0, []), ?"]
    else
      raise JSONError, message: "cannot encode #{inspect(text)} as JSON: not valid UTF-8"
    end
  end

  # Copies runs of safe bytes as sub-binaries and escapes only what JSON requires.
  defp escape(<<c, rest::bits>>, orig, skip, len, acc) when c < 0x20 or c == ?" or c == ?\\ do
    escape(rest, orig, skip + len + 1, 0, [acc, binary_part(orig, skip, len), escape_char(c)])
  end

  defp escape(<<_, rest::bits>>, orig, skip, len, acc), do: escape(rest, orig, skip, len + 1, acc)
  defp escape(<<>>, orig, skip, len, acc), do: [acc, binary_part(orig, skip, len)]

  defp escape_char(?"), do: "\\\""
  defp escape_char(?\\), do: "\\\\"
  defp escape_char(?\n), do: "\\n"
  defp escape_char(?\r), do: "\\r"
  defp escape_char(?\t), do: "\\t"
  defp escape_char(?\b), do: "\\b"
  defp escape_char(?\f), do: "\\f"

  defp escape_char(c) do
    "\\u" <> String.pad_leading(Integer.to_string(c, 16), 4, "0")
  end

  @spec cannot_encode(term()) :: no_return()
  defp cannot_encode(term),
    do: raise(JSONError, message: "cannot encode #{inspect(term)} as JSON")

  # -- decoding -------------------------------------------------------------------------
  # Each parser takes the remaining input and returns {value, rest}; errors are thrown with
  # the rest of the input, from which decode/1 computes the byte position.

  defp parse_value(<<?{, rest::bits>>), do: rest |> skip_ws() |> parse_object(%{})
  defp parse_value(<<?[, rest::bits>>), do: rest |> skip_ws() |> parse_array([])
  defp parse_value(<<?", rest::bits>>), do: parse_string(rest, rest, 0, 0, [])
  defp parse_value(<<"true", rest::bits>>), do: {true, rest}
  defp parse_value(<<"false", rest::bits>>), do: {false, rest}
  defp parse_value(<<"null", rest::bits>>), do: {nil, rest}
  defp parse_value(<<c, _::bits>> = text) when c == ?- or c in ?0..?9, do: parse_number(text)
  defp parse_value(<<>>), do: fail("unexpected end of input", "")
  defp parse_value(text), do: fail("unexpected character", text)

  defp parse_object(<<?}, rest::bits>>, acc) when acc == %{}, do: {acc, rest}

  defp parse_object(<<?", rest::bits>>, acc) do
    {key, rest} = parse_string(rest, rest, 0, 0, [])

    {value, rest} =
      case skip_ws(rest) do
        <<?:, rest::bits>> -> rest |> skip_ws() |> parse_value()
        other -> fail_or_eof("expected \":\"", other)
      end

    acc = Map.put(acc, key, value)

    case skip_ws(rest) do
      <<?,, rest::bits>> -> rest |> skip_ws() |> parse_object_key(acc)
      <<?}, rest::bits>> -> {acc, rest}
      other -> fail_or_eof("expected \",\" or \"}\"", other)
    end
  end

  defp parse_object(text, _acc), do: fail_or_eof("expected a string key", text)

  # After a comma a key must follow: `{"a":1,}` is malformed.
  defp parse_object_key(<<?", _::bits>> = text, acc), do: parse_object(text, acc)
  defp parse_object_key(text, _acc), do: fail_or_eof("expected a string key", text)

  defp parse_array(<<?], rest::bits>>, []), do: {[], rest}

  defp parse_array(text, acc) do
    {value, rest} = parse_value(text)
    acc = [value | acc]

    case skip_ws(rest) do
      <<?,, rest::bits>> -> rest |> skip_ws() |> parse_array(acc)
      <<?], rest::bits>> -> {Enum.reverse(acc), rest}
      other -> fail_or_eof("expected \",\" or \"]\"", other)
    end
  end

  defp parse_string(<<?", rest::bits>>, orig, skip, len, acc) do
    text = IO.iodata_to_binary([acc, binary_part(orig, skip, len)])
    if String.valid?(text), do: {text, rest}, else: fail("invalid UTF-8 in string", rest)
  end

  defp parse_string(<<?\\, rest::bits>>, orig, skip, len, acc) do
    {char, rest} = parse_escape(rest)
    acc = [acc, binary_part(orig, skip, len), char]
    parse_string(rest, orig, byte_size(orig) - byte_size(rest), 0, acc)
  end

  defp parse_string(<<c, _::bits>> = text, _orig, _skip, _len, _acc) when c < 0x20 do
    fail("unescaped control character in string", text)
  end

  defp parse_string(<<_, rest::bits>>, orig, skip, len, acc) do
    parse_string(rest, orig, skip, len + 1, acc)
  end

  defp parse_string(<<>>, _orig, _skip, _len, _acc), do: fail("unexpected end of input", "")

  defp parse_escape(<<?", rest::bits>>), do: {"\"", rest}
  defp parse_escape(<<?\\, rest::bits>>), do: {"\\", rest}
  defp parse_escape(<<?/, rest::bits>>), do: {"/", rest}
  defp parse_escape(<<?b, rest::bits>>), do: {"\b", rest}
  defp parse_escape(<<?f, rest::bits>>), do: {"\f", rest}
  defp parse_escape(<<?n, rest::bits>>), do: {"\n", rest}
  defp parse_escape(<<?r, rest::bits>>), do: {"\r", rest}
  defp parse_escape(<<?t, rest::bits>>), do: {"\t", rest}

  defp parse_escape(<<?u, hex::binary-size(4), rest::bits>> = text) do
    case {hex_value(hex, text), rest} do
      {high, <<"\\u", low_hex::binary-size(4), after_low::bits>>} when high in 0xD800..0xDBFF ->
        low = hex_value(low_hex, rest)
        unless low in 0xDC00..0xDFFF, do: fail("invalid surrogate pair", rest)
        {<<0x10000 + (high - 0xD800) * 0x400 + (low - 0xDC00)::utf8>>, after_low}

      {code, _rest} when code in 0xD800..0xDFFF ->
        fail("lone surrogate in string", text)

      {code, rest} ->
        {<<code::utf8>>, rest}
    end
  end

  defp parse_escape(text), do: fail_or_eof("invalid escape in string", text)

  defp hex_value(hex, at) do
    if hex_digits?(hex),
      do: String.to_integer(hex, 16),
      else: fail("invalid \\u escape in string", at)
  end

  defp hex_digits?(<<c, rest::bits>>) when c in ?0..?9 or c in ?a..?f or c in ?A..?F,
    do: hex_digits?(rest)

  defp hex_digits?(<<>>), do: true
  defp hex_digits?(_other), do: false

  defp parse_number(text) do
    {int_part, rest} = take_int(text)
    {frac, rest} = take_frac(rest)
    {exp, rest} = take_exp(rest)
    number = IO.iodata_to_binary([int_part, frac, exp])

    if frac == "" and exp == "" do
      {String.to_integer(number), rest}
    else
      # Elixir's Float.parse wants digits before the exponent: "1e5" -> "1.0e5".
      normalized = if frac == "", do: IO.iodata_to_binary([int_part, ".0", exp]), else: number

      case Float.parse(normalized) do
        {float, ""} -> {float, rest}
        _ -> fail("number out of range", text)
      end
    end
  end

  defp take_int(<<?-, rest::bits>>) do
    {digits, rest} = take_int_digits(rest)
    {["-", digits], rest}
  end

  defp take_int(text), do: take_int_digits(text)

  defp take_int_digits(<<?0, rest::bits>>), do: {"0", rest}
  defp take_int_digits(<<c, _::bits>> = text) when c in ?1..?9, do: take_digits(text)
  defp take_int_digits(text), do: fail_or_eof("expected a digit", text)

  defp take_frac(<<?., rest::bits>>) do
    {digits, rest} = take_digits(rest)
    {[".", digits], rest}
  end

  defp take_frac(text), do: {"", text}

  defp take_exp(<<e, sign, rest::bits>>) when e in [?e, ?E] and sign in [?+, ?-] do
    {digits, rest} = take_digits(rest)
    {[?e, sign, digits], rest}
  end

  defp take_exp(<<e, rest::bits>>) when e in [?e, ?E] do
    {digits, rest} = take_digits(rest)
    {[?e, digits], rest}
  end

  defp take_exp(text), do: {"", text}

  # One or more digits.
  defp take_digits(<<c, _::bits>> = text) when c in ?0..?9 do
    count = count_digits(text, 0)
    <<digits::binary-size(count), rest::bits>> = text
    {digits, rest}
  end

  defp take_digits(text), do: fail_or_eof("expected a digit", text)

  defp count_digits(<<c, rest::bits>>, n) when c in ?0..?9, do: count_digits(rest, n + 1)
  defp count_digits(_text, n), do: n

  defp skip_ws(<<c, rest::bits>>) when c in [?\s, ?\t, ?\n, ?\r], do: skip_ws(rest)
  defp skip_ws(text), do: text

  @spec fail_or_eof(String.t(), binary()) :: no_return()
  defp fail_or_eof(_message, ""), do: fail("unexpected end of input", "")
  defp fail_or_eof(message, text), do: fail(message, text)

  @spec fail(String.t(), binary()) :: no_return()
  defp fail(message, rest), do: throw({__MODULE__, message, rest})
end
