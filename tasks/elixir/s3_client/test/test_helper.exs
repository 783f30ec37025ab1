# Tests tagged :s3 talk to the real S3 server (test/s3_client_test.exs): the one
# S3_ENDPOINT_URL names, or a private one they start and stop themselves (hack/s3-server.sh);
# `mix test --exclude s3` skips them. The transport's tests use a scripted stub server on
# 127.0.0.1 (test/support/stub_server.ex).
ExUnit.start()
