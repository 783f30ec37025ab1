defmodule ExtaskTest.Run do
  @moduledoc """
  Runs `Extask.CLI.run/3` in-process and reads back what it printed, the way the Python
  project's `run_cli` fixture does: exit code, stdout, stderr and the decoded log lines.
  """

  @type outcome :: %{
          code: non_neg_integer(),
          stdout: String.t(),
          stderr: String.t(),
          lines: [map()]
        }

  @doc "Runs the CLI with `argv` and `env` (nothing is read from the real environment)."
  @spec cli([String.t()], map()) :: outcome()
  def cli(argv, env \\ %{}) do
    {:ok, out} = StringIO.open("")
    {:ok, err} = StringIO.open("")
    code = Extask.CLI.run(argv, env, stdout: out, stderr: err)
    {:ok, {_, stdout}} = StringIO.close(out)
    {:ok, {_, stderr}} = StringIO.close(err)
    lines = stderr |> String.split("\n", trim: true) |> Enum.map(&Extask.JSON.decode!/1)
    %{code: code, stdout: stdout, stderr: stderr, lines: lines}
  end

  @doc "The log lines of an outcome at `level`."
  @spec lines_at(outcome(), String.t()) :: [map()]
  def lines_at(%{lines: lines}, level), do: Enum.filter(lines, &(&1["level"] == level))

  @doc "A fresh directory under the system temp dir, removed when the test ends."
  @spec tmp_dir!(String.t()) :: Path.t()
  def tmp_dir!(label), do: S3ClientTest.Tmp.tmp_dir!(label, "extask")
end
