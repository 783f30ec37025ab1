defmodule Extask.SecretsTest do
  use ExUnit.Case, async: true
  doctest Extask.Secrets

  alias Extask.Secrets
  import ExtaskTest.Run, only: [tmp_dir!: 1]

  test "every contract suffix is secret, whatever the case" do
    for name <- ~w(X_PASSWORD X_SECRET X_TOKEN X_KEY x_api_token EXTASK_S3_SECRET_ACCESS_KEY) do
      assert Secrets.secret_name?(name), name
    end

    for name <- ~w(X_PASSWORD_FILE X_KEYS X_HOST KEY_ID X_TOKENS) do
      refute Secrets.secret_name?(name), name
    end
  end

  test "redacted_env keeps only the prefix" do
    env = %{"EXTASK_A" => "1", "EXTASKX" => "2", "OTHER_PASSWORD" => "p"}
    assert Secrets.redacted_env(env, "EXTASK_") == %{"EXTASK_A" => "1"}
  end

  test "a secret is read from its _FILE variant, trailing newlines stripped" do
    path = Path.join(tmp_dir!("secrets"), "pw")
    File.write!(path, "from-file\n")
    env = %{"EXTASK_DB_PASSWORD_FILE" => path}
    assert Secrets.read(env, "EXTASK_DB_PASSWORD") == {:ok, "from-file"}
  end

  test "setting both a secret and its _FILE is refused without echoing the value" do
    env = %{"EXTASK_DB_PASSWORD" => "hunter2", "EXTASK_DB_PASSWORD_FILE" => "/x"}

    assert {:error, %Extask.UsageError{message: message}} =
             Secrets.read(env, "EXTASK_DB_PASSWORD")

    assert message =~ "EXTASK_DB_PASSWORD_FILE"
    refute message =~ "hunter2"
  end

  test "scrub replaces the longest secret first and ignores empty values" do
    env = %{"A_TOKEN" => "abc", "B_TOKEN" => "abcdef", "C_KEY" => "", "HOST" => "abc"}
    assert Secrets.scrub("x abcdef abc y", env) == "x [redacted] [redacted] y"
  end
end
