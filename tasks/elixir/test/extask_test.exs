defmodule ExtaskTest do
  use ExUnit.Case, async: true
  doctest Extask

  test "the version is the one in mix.exs" do
    assert Extask.version() == Mix.Project.config()[:version]
  end

  # The S3 client (s3_client/) is a library: extask may name its public modules only, so
  # that it can change inside, or be swapped for ExAws, without touching extask.
  @s3_client_api ["S3Client", "S3Client.Config", "S3Client.Credentials", "S3Client.Error"]

  test "extask uses the S3 client through its public API only" do
    root = Path.expand("..", __DIR__)
    files = Path.wildcard(Path.join(root, "{lib,test}/**/*.{ex,exs}"))
    assert length(files) > 40

    used =
      for file <- files,
          text <- [File.read!(file)],
          name <- s3_client_modules(text),
          name not in @s3_client_api,
          do: {Path.relative_to(file, root), name}

    assert used == []
  end

  # Every S3Client module named in `text`, aliases with braces expanded.
  defp s3_client_modules(text) do
    plain = for [name] <- Regex.scan(~r/\bS3Client(?:\.[A-Z]\w*)*(?!\w)(?!\.\{)/, text), do: name

    grouped =
      for [prefix, inner] <- Regex.scan(~r/\b(S3Client(?:\.[A-Z]\w*)*)\.\{([^}]*)\}/, text),
          part <- String.split(inner, ","),
          do: prefix <> "." <> String.trim(part)

    plain ++ grouped
  end
end
