defmodule Extask.LogTest do
  use ExUnit.Case, async: true
  doctest Extask.Log

  alias Extask.{JSON, Log}

  defp capture(level, fun) do
    {:ok, device} = StringIO.open("")
    fun.(Log.new(level, device))
    {:ok, {_, out}} = StringIO.close(device)
    out |> String.split("\n", trim: true) |> Enum.map(&JSON.decode!/1)
  end

  test "each level writes only at or above the configured level" do
    for {min, expected} <- [
          debug: ~w(debug info warn error),
          info: ~w(info warn error),
          warn: ~w(warn error),
          error: ~w(error)
        ] do
      lines =
        capture(min, fn log ->
          Log.debug(log, "d")
          Log.info(log, "i")
          Log.warn(log, "w")
          Log.error(log, "e")
        end)

      assert Enum.map(lines, & &1["level"]) == expected
    end
  end

  test "every line has ts, level, msg and tool first, then the fields" do
    [line] = capture(:info, &Log.info(&1, "copied", table: "events", rows: 10))
    assert Map.keys(line) |> Enum.sort() == ~w(level msg rows table tool ts)
    assert line["ts"] =~ ~r/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/
    assert %{"msg" => "copied", "tool" => "extask", "table" => "events", "rows" => 10} = line
  end

  test "reserved keys are never overwritten by fields, whatever their spelling" do
    text =
      Log.line(:info, "real", %{"ts" => "x", :level => "x", "tool" => "x", :msg => "x", a: 1}, 0)

    assert JSON.decode!(text) == %{
             "ts" => "1970-01-01T00:00:00.000Z",
             "level" => "info",
             "msg" => "real",
             "tool" => "extask",
             "a" => 1
           }
  end

  test "map fields are sorted; a repeated field keeps its first value" do
    assert Log.line(:info, "m", %{b: 1, a: 2}, 0) =~ ~S("tool":"extask","a":2,"b":1})
    assert Log.line(:info, "m", [a: 1, a: 2], 0) =~ ~S("a":1})
  end

  test "values JSON cannot hold are written as inspect text, never crash the logger" do
    line = JSON.decode!(Log.line(:error, "m", [tuple: {:a, 1}, bin: <<255>>], 0))
    assert line["tuple"] == "{:a, 1}"
    assert line["bin"] == "<<255>>"
  end

  describe "format/2, the :logger formatter for OTP events" do
    test "maps OTP levels onto the contract's four" do
      for {otp, ours} <- [
            emergency: "error",
            alert: "error",
            critical: "error",
            error: "error",
            warning: "warn",
            notice: "info",
            info: "info",
            debug: "debug"
          ] do
        event = %{level: otp, msg: {:string, "x"}, meta: %{time: 0}}
        assert JSON.decode!(Log.format(event, %{}))["level"] == ours
      end
    end

    test "renders format strings, reports and the mfa" do
      event = %{
        level: :error,
        msg: {~c"failed ~p times", [3]},
        meta: %{time: 1_000_000, mfa: {:gen_server, :call, 2}}
      }

      assert JSON.decode!(Log.format(event, %{})) == %{
               "ts" => "1970-01-01T00:00:01.000Z",
               "level" => "error",
               "msg" => "failed 3 times",
               "tool" => "extask",
               "source" => "otp",
               "mfa" => ":gen_server.call/2"
             }

      report = %{level: :info, msg: {:report, %{a: 1}}, meta: %{time: 0}}
      assert JSON.decode!(Log.format(report, %{}))["msg"] == "%{a: 1}"

      with_cb = put_in(report, [:meta, :report_cb], fn %{a: a} -> {~c"a is ~p", [a]} end)
      assert JSON.decode!(Log.format(with_cb, %{}))["msg"] == "a is 1"

      with_cb2 = put_in(report, [:meta, :report_cb], fn %{a: a}, _opts -> "a=#{a}" end)
      assert JSON.decode!(Log.format(with_cb2, %{}))["msg"] == "a=1"
    end

    test "a broken event still gives one JSON line" do
      event = %{level: :error, msg: {~c"~p ~p", [:only_one]}, meta: %{}}
      assert [line] = event |> Log.format(%{}) |> String.split("\n", trim: true)
      assert JSON.decode!(line)["msg"] =~ "only_one"
      assert Log.check_config(%{}) == :ok
    end
  end
end
