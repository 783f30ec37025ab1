# Tests tagged :release build and run the real release (test/release_test.exs); skip them
# with `mix test --exclude release` for a quicker loop. Tests tagged :s3 talk to the real S3
# server (test/extask/s3/s3_test.exs): the one S3_ENDPOINT_URL names, or a private one they
# start and stop themselves; `mix test --exclude s3` skips them. Tests tagged :bench
# (throughput figures, test/extask/commands/archive_bench_test.exs) only run when asked
# for: `mix test --only bench`.
ExUnit.start(exclude: [:bench])
