defmodule Extask.MixProject do
  @moduledoc """
  The `extask` task project: Elixir ETL steps of polyetl behind one CLI.

  No Hex dependencies on purpose (the build has no Hex): JSON, option handling and logs use
  the standard library and OTP only; the one dependency is the S3 client, a library of its
  own in `s3_client/` (a path dependency, used through its public API only). `mix check`
  runs every gate of both projects (format, compile with warnings as errors, tests,
  dialyzer); the CLI ships as the `extask` release whose `bin/extask-cli` is the image's
  entry point.
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
      deps: deps(),
      aliases: aliases(),
      preferred_cli_env: [check: :test],
      # The dev-only `mix dialyzer` task calls OTP's :dialyzer, which the app never needs.
      xref: [exclude: [:dialyzer]],
      releases: releases()
    ]
  end

  # No :logger: the tool writes its own JSON lines, and the release entry point routes OTP's
  # events to the same format (Extask.Log.route_otp_events/1). :crypto for the hashes the
  # tool computes itself; the S3 client's app brings its own (:ssl, :inets, :xmerl...), so
  # the release carries them too.
  def application do
    [extra_applications: [:crypto]]
  end

  # The S3 client: a library of its own (s3_client/), compiled into this project's _build
  # and started as an app of the release.
  defp deps do
    [{:s3_client, path: "s3_client"}]
  end

  # lib/mix holds dev tooling (the dialyzer task); it is never compiled into the release.
  # Tests also compile the S3 client's test support (its stub server and the real S3
  # server), which the S3 commands' tests use as the client's own tests do.
  defp elixirc_paths(:prod), do: ["lib/extask.ex", "lib/extask"]
  defp elixirc_paths(:test), do: ["lib", "test/support", "s3_client/test/support"]
  defp elixirc_paths(_), do: ["lib"]

  defp aliases do
    [
      # Format covers s3_client/ too (.formatter.exs); the library's own gates run in its
      # directory (its `mix check`); dialyzer analyses both projects.
      check: [
        "format --check-formatted",
        "compile --warnings-as-errors --force",
        "test",
        "cmd --cd s3_client mix check",
        "dialyzer"
      ]
    ]
  end

  defp releases do
    [
      extask: [
        include_executables_for: [:unix],
        include_erts: true,
        strip_beams: true,
        steps: [:assemble, &take_sigterm_at_boot/1]
      ]
    ]
  end

  # The boot script starts the kernel, which makes SIGTERM a graceful stop that exits 0, then
  # the other apps, then Extask.CLI.main/0: one step right after the kernel's start makes
  # SIGTERM exit 143 from then on (Extask.Signals), with no window for the graceful stop.
  defp take_sigterm_at_boot(release) do
    script = Path.join(release.version_path, "start.script")
    {:ok, [{:script, name, steps}]} = :file.consult(script)
    kernel = {:apply, {:application, :start_boot, [:kernel, :permanent]}}
    {head, [^kernel | tail]} = Enum.split_while(steps, &(&1 != kernel))
    take_sigterm = {:apply, {Extask.Signals, :exit_on_sigterm, []}}
    steps = head ++ [kernel, take_sigterm | tail]
    File.write!(script, :io_lib.format("~p.~n", [{:script, name, steps}]))
    :ok = :systools.script2boot(to_charlist(Path.rootname(script)))
    release
  end
end
