defmodule ExtaskTest.Release do
  @moduledoc """
  The real `extask` release, as the image runs it, for the tests that run it as an OS process.

  `bin!/0` builds it once per test run with `MIX_ENV=prod mix release --path <tmp>` (compiled
  files go to `_build/prod`, the release itself outside the repo; about 2 s once prod is
  compiled) and removes it when the suite ends; every module asking for it gets the same one.
  `run/3` runs it with a clean environment, stdout and stderr apart.
  """

  import ExUnit.Assertions, only: [assert: 2]

  @type outcome :: %{
          code: non_neg_integer(),
          stdout: String.t(),
          stderr: String.t(),
          lines: [map()]
        }

  @doc "The path of the release's `bin/extask-cli`, built on first use."
  @spec bin!() :: Path.t()
  def bin! do
    # One build at a time (async modules ask at once), and only one per run.
    :global.trans({__MODULE__, :build}, fn ->
      case :persistent_term.get(__MODULE__, nil) do
        nil ->
          bin = build!()
          :persistent_term.put(__MODULE__, bin)
          bin

        bin ->
          bin
      end
    end)
  end

  defp build! do
    root = Path.join(System.tmp_dir!(), "extask-release-#{System.unique_integer([:positive])}")
    ExUnit.after_suite(fn _ -> File.rm_rf!(root) end)

    {output, status} =
      System.cmd("mix", ["release", "--overwrite", "--quiet", "--path", root],
        cd: Path.expand("../..", __DIR__),
        env: [{"MIX_ENV", "prod"}],
        stderr_to_stdout: true
      )

    assert status == 0, output
    Path.join([root, "bin", "extask-cli"])
  end

  @doc "Runs the release with only `env` (plus PATH and LANG=C: pods often have no locale)."
  @spec run(Path.t(), [String.t()], %{String.t() => String.t()}) :: outcome()
  def run(bin, args, env \\ %{}) do
    err_file = Path.join(ExtaskTest.Run.tmp_dir!("stderr"), "stderr")
    inherited = for {name, _} <- System.get_env(), do: {name, nil}
    base = %{"PATH" => System.get_env("PATH"), "LANG" => "C"}
    env = inherited |> Map.new() |> Map.merge(base) |> Map.merge(env) |> Enum.to_list()

    {stdout, code} =
      System.cmd("sh", ["-c", ~S(err=$1; shift; exec "$@" 2>"$err"), "sh", err_file, bin | args],
        env: env
      )

    stderr = File.read!(err_file)
    lines = stderr |> String.split("\n", trim: true) |> Enum.map(&Extask.JSON.decode!/1)
    %{code: code, stdout: stdout, stderr: stderr, lines: lines}
  end
end
