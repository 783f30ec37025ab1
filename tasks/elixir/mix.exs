defmodule Extask.MixProject do
  @moduledoc """
  The `extask` task project: Elixir ETL steps of polyetl behind one CLI.

  No dependencies on purpose (the build has no Hex): JSON, option handling and logs use the
  standard library and OTP only. `mix check` runs every gate (format, compile with warnings
  as errors, tests, dialyzer); the CLI ships as the `extask` release whose `bin/extask-cli`
  is the image's entry point.
  """
  use Mix.Project

  @version "0.1.0"

  def project do
    [
      app: :extask,
      version: @version,
      elixir: "~> 1.14",
      start_permanent: Mix.env() == :prod,
      elixirc_paths: elixirc_paths(Mix.env()),
      deps: [],
      aliases: aliases(),
      preferred_cli_env: [check: :test],
      # The dev-only `mix dialyzer` task calls OTP's :dialyzer, which the app never needs.
      xref: [exclude: [:dialyzer]],
      releases: releases()
    ]
  end

  # No :logger: the tool writes its own JSON lines, and the release entry point routes OTP's
  # events to the same format (Extask.Log.route_otp_events/1). The S3 client (Extask.S3)
  # needs OTP's HTTP client, TLS, hashes and XML parser, so the release carries them.
  def application do
    [extra_applications: [:crypto, :public_key, :ssl, :inets, :xmerl]]
  end

  # lib/mix holds dev tooling (the dialyzer task); it is never compiled into the release.
  defp elixirc_paths(:prod), do: ["lib/extask.ex", "lib/extask"]
  defp elixirc_paths(:test), do: ["lib", "test/support"]
  defp elixirc_paths(_), do: ["lib"]

  defp aliases do
    [
      check: [
        "format --check-formatted",
        "compile --warnings-as-errors --force",
        "test",
        "dialyzer"
      ]
    ]
  end

  defp releases do
    [
      extask: [
        include_executables_for: [:unix],
        include_erts: true,
        strip_beams: true
      ]
    ]
  end
end
