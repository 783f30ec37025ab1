defmodule Extask.JSONTest do
  use ExUnit.Case, async: true
  doctest Extask.JSON

  alias Extask.{JSON, JSONError}

  describe "encode" do
    test "scalars" do
      assert JSON.encode!(nil) == "null"
      assert JSON.encode!(true) == "true"
      assert JSON.encode!(false) == "false"
      assert JSON.encode!(0) == "0"
      assert JSON.encode!(-12_345_678_901_234_567_890) == "-12345678901234567890"
      assert JSON.encode!(1.0) == "1.0"
      assert JSON.encode!(-0.001) == "-0.001"
      assert JSON.encode!(1.0e300) == "1.0e300"
      assert JSON.encode!(:nothing_to_do) == ~S("nothing_to_do")
    end

    test "strings escape what JSON requires and keep UTF-8" do
      assert JSON.encode!("a\"b\\c/d") == ~S("a\"b\\c/d")
      assert JSON.encode!("\n\r\t\b\f") == ~S("\n\r\t\b\f")
      assert JSON.encode!(<<0, 31, 127>>) == ~s("\\u0000\\u001F\x7F")
      assert JSON.encode!("ü 😀 \u2028") == ~s("ü 😀 \u2028")
      assert JSON.encode!("") == ~S("")
    end

    test "maps are written with sorted keys, so output is stable" do
      big = Map.new(1..40, &{"k#{String.pad_leading(to_string(&1), 2, "0")}", &1})
      keys = Regex.scan(~r/"(k\d+)"/, JSON.encode!(big), capture: :all_but_first)
      assert length(keys) == 40 and keys == Enum.sort(keys)
      assert JSON.encode!(big) |> String.starts_with?(~S({"k01":1,"k02":2,))
      assert JSON.encode!(%{}) == "{}"
      assert JSON.encode!([]) == "[]"
      assert JSON.encode!(%{b: %{d: 1, c: [%{}]}, a: nil}) == ~S({"a":null,"b":{"c":[{}],"d":1}})
    end

    test "encode_object keeps the given order" do
      assert JSON.encode_object([]) == "{}"
      assert JSON.encode_object(z: 1, a: %{y: 2, b: 3}) == ~S({"z":1,"a":{"b":3,"y":2}})
    end

    test "terms JSON cannot hold are refused" do
      for term <- [{1, 2}, self(), make_ref(), 'charlist is a list', <<255>>, %URI{}] do
        case term do
          'charlist is a list' -> assert {:ok, "[" <> _} = JSON.encode(term)
          _ -> assert {:error, %JSONError{}} = JSON.encode(term), inspect(term)
        end
      end

      assert {:error, %JSONError{message: message}} = JSON.encode(%{1 => 2})
      assert message =~ "object key"
      assert {:error, %JSONError{message: message}} = JSON.encode(%{"a" => 1, a: 2})
      assert message =~ "twice"
      assert_raise JSONError, fn -> JSON.encode!(%{nil => 1}) end
    end
  end

  describe "decode" do
    test "scalars, whitespace and nesting" do
      assert JSON.decode!(" \t\r\n null ") == nil
      assert JSON.decode!("true") == true
      assert JSON.decode!("false") == false

      assert JSON.decode!(~S({ "a" : [ 1 , { } , [ ] ] , "b":{"c":"d"} })) ==
               %{"a" => [1, %{}, []], "b" => %{"c" => "d"}}
    end

    test "numbers follow the JSON grammar" do
      assert JSON.decode!("0") === 0
      assert JSON.decode!("-0") === 0

      assert JSON.decode!("123456789012345678901234567890") ==
               123_456_789_012_345_678_901_234_567_890

      assert JSON.decode!("1.5") === 1.5
      assert JSON.decode!("-1.5e2") === -150.0
      assert JSON.decode!("1E+2") === 100.0
      assert JSON.decode!("1e-2") === 0.01
      assert JSON.decode!("0.0") === 0.0

      for bad <- [
            "01",
            "1.",
            ".5",
            "+1",
            "-",
            "1e",
            "1e+",
            "--1",
            "0x10",
            "1.e5",
            "Infinity",
            "NaN"
          ] do
        assert {:error, %JSONError{}} = JSON.decode(bad), bad
      end

      assert {:error, %JSONError{message: "number out of range at byte 0"}} = JSON.decode("1e400")
    end

    test "string escapes, including surrogate pairs" do
      assert JSON.decode!(~S("\"\\\/\b\f\n\r\t")) == "\"\\/\b\f\n\r\t"
      assert JSON.decode!(~S("\u00e9\u00E9")) == "éé"
      assert JSON.decode!(~S("\ud83d\ude00!")) == "😀!"
      assert JSON.decode!(~s("raw ü 😀")) == "raw ü 😀"

      for bad <- [
            ~S("\ud83d"),
            ~S("\ude00"),
            ~S("\ud83d\u0041"),
            ~S("\x"),
            ~S("\u12"),
            ~S("\u+123"),
            ~S("\u-123")
          ] do
        assert {:error, %JSONError{}} = JSON.decode(bad), bad
      end
    end

    test "malformed input reports the byte position" do
      cases = [
        {"", "unexpected end of input at byte 0"},
        {"[1,]", "unexpected character at byte 3"},
        {~S({"a":1,}), "expected a string key at byte 7"},
        {~S({"a" 1}), "expected \":\" at byte 5"},
        {~S({1:2}), "expected a string key at byte 1"},
        {"[1 2]", "expected \",\" or \"]\" at byte 3"},
        {~S({"a":1 "b":2}), "expected \",\" or \"}\" at byte 7"},
        {"[] []", "unexpected trailing data at byte 3"},
        {~s("a\nb"), "unescaped control character in string at byte 2"},
        {~S("abc), "unexpected end of input at byte 4"},
        {"nul", "unexpected character at byte 0"},
        {<<?", 255, ?">>, "invalid UTF-8 in string at byte 3"}
      ]

      for {text, message} <- cases do
        assert {:error, %JSONError{message: ^message}} = JSON.decode(text), inspect(text)
      end

      assert_raise JSONError, "unexpected end of input at byte 1", fn -> JSON.decode!("[") end
    end

    test "a duplicate key keeps its last value" do
      assert JSON.decode!(~S({"a":1,"a":2})) == %{"a" => 2}
    end
  end

  test "decode(encode(x)) gives x back for JSON-shaped data" do
    data = %{
      "status" => "ok",
      "counts" => %{"rows" => 10, "zero" => 0},
      "outputs" => %{
        "list" => [1, -2.5, true, false, nil, "x\u0001y", %{"nested" => ["é"]}],
        "empty" => %{},
        "big" => 2 ** 70,
        "tiny" => 5.0e-324
      }
    }

    assert data |> JSON.encode!() |> JSON.decode!() == data
  end
end
