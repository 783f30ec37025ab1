defmodule S3Client.MixProject do
  @moduledoc """
  `s3_client`: the S3 client of the Elixir tasks, a library of its own (`S3Client`), on OTP
  only — no dependencies (the build has no Hex). `extask` (the parent directory) uses it as
  a path dependency, through its public API only: `S3Client`, `S3Client.Config`,
  `S3Client.Credentials`, `S3Client.Error`.

  `mix check` runs its gates (format, compile with warnings as errors, tests); `mix
  dialyzer` runs the host project's dialyzer task, which analyses this library too.
  """
  use Mix.Project

  def project do
    [
      app: :s3_client,
      version: "0.1.0",
      elixir: "~> 1.14",
      elixirc_paths: elixirc_paths(Mix.env()),
      deps: [],
      aliases: aliases(),
      preferred_cli_env: [check: :test]
    ]
  end

  # OTP's HTTP client, TLS, hashes and XML parser: the release of whoever uses the library
  # carries them.
  def application do
    [extra_applications: [:crypto, :public_key, :ssl, :inets, :xmerl]]
  end

  # test/support: the scripted stub server and the real S3 server, shared with extask's
  # tests (its mix.exs compiles this directory into its own test build).
  defp elixirc_paths(:test), do: ["lib", "test/support"]
  defp elixirc_paths(_), do: ["lib"]

  defp aliases do
    [
      check: ["format --check-formatted", "compile --warnings-as-errors --force", "test"],
      dialyzer: &dialyzer_in_host/1
    ]
  end

  # No dialyzer task of its own (no dialyxir without Hex): the host project's task
  # (../lib/mix/tasks/dialyzer.ex) analyses both projects with one cached PLT.
  defp dialyzer_in_host(args) do
    {_, status} =
      System.cmd("mix", ["dialyzer" | args],
        cd: Path.expand("..", __DIR__),
        env: [{"MIX_ENV", Atom.to_string(Mix.env())}],
        into: IO.stream(:stdio, :line),
        stderr_to_stdout: true
      )

    if status != 0, do: Mix.raise("dialyzer (run in #{Path.expand("..", __DIR__)}) failed")
  end
end
