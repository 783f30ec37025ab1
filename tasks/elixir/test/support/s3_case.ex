defmodule ExtaskTest.S3Case do
  @moduledoc """
  The case of the tests against the real S3 server (tagged `:s3`): the server of
  `S3ClientTest.S3Server` for the module (context `settings` and `config`), a fresh bucket
  for every test (`bucket`, emptied and deleted afterwards), and `ExtaskTest.Ingest`
  imported.

      use ExtaskTest.S3Case, async: true
  """
  use ExUnit.CaseTemplate

  using do
    quote do
      import ExtaskTest.Ingest

      @moduletag :s3
      @moduletag timeout: 180_000
    end
  end

  setup_all do
    S3ClientTest.S3Server.start_for_tests!()
  end

  setup %{config: config} do
    %{bucket: ExtaskTest.Ingest.bucket!(config)}
  end
end
