# Tests tagged :release build and run the real release (test/release_test.exs); skip them
# with `mix test --exclude release` for a quicker loop. Tests tagged :s3 talk to the real S3
# server (test/extask/commands/ingest_s3_test.exs, test/extask/ingest/): the one
# S3_ENDPOINT_URL names, or a private one they start and stop themselves; `mix test
# --exclude s3` skips them. Tests tagged :bench (throughput figures,
# test/extask/commands/archive_bench_test.exs) only run when asked for: `mix test --only
# bench`. The S3 client's own tests run in s3_client/ (`cd s3_client && mix test`).
ExUnit.start(exclude: [:bench])
