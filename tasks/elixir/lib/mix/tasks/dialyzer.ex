defmodule Mix.Tasks.Dialyzer do
  @moduledoc """
  Runs OTP's dialyzer on the modules of both Elixir projects — `Extask.*` and the S3
  client library's `S3Client.*` (`s3_client/`, a path dependency) — in one analysis,
  without dialyxir (Hex is unreachable). The library's own `mix dialyzer` runs this task.

  The PLT of the apps the code calls (`@plt_apps`: erts, kernel, stdlib, compiler, elixir,
  and the OTP apps of the S3 client) takes minutes to build, so it is cached outside the
  repo, in `${POLYETL_CACHE:-$HOME/.cache/polyetl}/elixir-plt/`, one file per OTP, ERTS and
  Elixir version and app list (a short hash of `@plt_apps` is part of the name, so a
  changed list never reuses a stale PLT); delete it to force a rebuild. Any warning fails
  the task. Dev tooling only: `lib/mix` is never compiled into the release.

      mix dialyzer
  """
  use Mix.Task

  @shortdoc "Runs dialyzer on the Extask and S3Client modules (PLT cached outside the repo)"

  # The analysed modules: each app's modules under its namespace — not test support
  # (ExtaskTest.*, S3ClientTest.*), not this task.
  @analysed [extask: "Extask", s3_client: "S3Client"]

  # Every app the analysed modules call into; keep in step with extra_applications in both
  # mix.exs files.
  @plt_apps [
    :erts,
    :kernel,
    :stdlib,
    :compiler,
    :elixir,
    :crypto,
    :public_key,
    :ssl,
    :inets,
    :xmerl
  ]
  @warnings [:unknown, :unmatched_returns, :error_handling, :extra_return, :missing_return]

  @impl Mix.Task
  def run(_args) do
    Mix.Task.run("compile")
    plt = ensure_plt()
    beams = beams()
    Mix.shell().info("dialyzer: analysing #{length(beams)} modules with #{plt}")

    warnings =
      :dialyzer.run(
        analysis_type: :succ_typings,
        plts: [to_charlist(plt)],
        files: Enum.map(beams, &to_charlist/1),
        warnings: @warnings,
        check_plt: false
      )

    case warnings do
      [] ->
        Mix.shell().info("dialyzer: no warnings")

      _ ->
        Enum.each(warnings, &Mix.shell().error(to_string(:dialyzer.format_warning(&1))))
        Mix.raise("dialyzer: #{length(warnings)} warning(s)")
    end
  end

  @doc """
  The beam files analysed: those of `#{inspect(@analysed)}`, each app's modules named by
  its namespace, from the current build (compile first).
  """
  @spec beams() :: [Path.t()]
  def beams do
    for {app, namespace} <- @analysed,
        dir <- [Path.join([Mix.Project.build_path(), "lib", Atom.to_string(app), "ebin"])],
        pattern <- ["Elixir.#{namespace}.beam", "Elixir.#{namespace}.*.beam"],
        beam <- Path.wildcard(Path.join(dir, pattern)),
        do: beam
  end

  # 8 hex digits of the SHA-256 of the app list: a new list means a new PLT file.
  defp apps_hash do
    apps = @plt_apps |> Enum.map(&Atom.to_string/1) |> Enum.join(",")
    :crypto.hash(:sha256, apps) |> Base.encode16(case: :lower) |> binary_part(0, 8)
  end

  @doc """
  Where the PLT is cached: `$POLYETL_CACHE/elixir-plt/` (default cache
  `$HOME/.cache/polyetl`), named by the OTP, ERTS and Elixir versions and the app list.
  """
  @spec plt_path() :: Path.t()
  def plt_path do
    cache = System.get_env("POLYETL_CACHE") || Path.join(System.user_home!(), ".cache/polyetl")
    erts = to_string(:erlang.system_info(:version))
    name = "otp#{System.otp_release()}-erts#{erts}-elixir#{System.version()}-#{apps_hash()}.plt"
    Path.join([cache, "elixir-plt", name])
  end

  defp ensure_plt do
    plt = plt_path()

    unless File.exists?(plt) do
      File.mkdir_p!(Path.dirname(plt))
      tmp = "#{plt}.#{System.pid()}.tmp"
      Mix.shell().info("dialyzer: building PLT #{plt} (once per OTP/Elixir version)")
      dirs = Enum.map(@plt_apps, &:code.lib_dir(&1, :ebin))

      _ =
        :dialyzer.run(
          analysis_type: :plt_build,
          output_plt: to_charlist(tmp),
          files_rec: dirs
        )

      # Rename into place: a concurrent or interrupted build never leaves half a PLT.
      File.rename!(tmp, plt)
    end

    plt
  end
end
