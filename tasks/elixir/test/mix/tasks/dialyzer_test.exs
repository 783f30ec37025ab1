defmodule Mix.Tasks.DialyzerTest do
  # Not async: one test sets POLYETL_CACHE, which the whole VM sees.
  use ExUnit.Case, async: false

  alias Mix.Tasks.Dialyzer

  defp module_of(beam), do: beam |> Path.basename(".beam") |> String.to_atom()

  test "analyses the modules of both projects, not test support nor the task itself" do
    analysed = MapSet.new(Dialyzer.beams(), &module_of/1)

    extask = for m <- Application.spec(:extask, :modules), in_namespace?(m, "Extask"), do: m

    s3_client =
      for m <- Application.spec(:s3_client, :modules), in_namespace?(m, "S3Client"), do: m

    assert analysed == MapSet.new(extask ++ s3_client)
    assert Extask.CLI in analysed and S3Client in analysed and S3Client.Error in analysed

    for module <- analysed do
      name = inspect(module)
      refute String.starts_with?(name, ["ExtaskTest", "S3ClientTest", "Mix."]), name
    end
  end

  test "the PLT lives in POLYETL_CACHE, named by the OTP, ERTS and Elixir versions" do
    previous = System.get_env("POLYETL_CACHE")
    System.put_env("POLYETL_CACHE", "/cache/here")

    try do
      path = Dialyzer.plt_path()
      assert Path.dirname(path) == "/cache/here/elixir-plt"

      assert Path.basename(path) =~
               ~r/\Aotp#{System.otp_release()}-erts[\d.]+-elixir#{Regex.escape(System.version())}-[0-9a-f]{8}\.plt\z/
    after
      if previous,
        do: System.put_env("POLYETL_CACHE", previous),
        else: System.delete_env("POLYETL_CACHE")
    end
  end

  # Protocol implementations (Inspect.S3Client.Credentials) are not in the namespace.
  defp in_namespace?(module, namespace) do
    name = inspect(module)
    name == namespace or String.starts_with?(name, namespace <> ".")
  end
end
