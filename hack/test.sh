#!/usr/bin/env bash
# Run one level of tests, or all of them in order. Every level runs for real: the contract
# suite needs the images (`make images`); python (tasks/python's commands) and integration
# talk to the S3 server and a ClickHouse endpoint, which their fixtures start and stop
# (tests/support); for integration this script starts the S3 server for the run instead.
#
#   test.sh python|rust|elixir|contract|dags|integration|e2e|all
set -o errexit -o nounset -o pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$POLYETL_CACHE/cargo-target}"

python_tests() {
  (cd "$REPO_ROOT" && run uv run --frozen tox -e unit)
}

rust_tests() {
  (cd "$REPO_ROOT/tasks/rust" && run cargo test --locked)
}

elixir_tests() {
  # extask, then its S3 client library (tasks/elixir/s3_client, a Mix project of its own).
  (cd "$REPO_ROOT/tasks/elixir" && run mix test)
  (cd "$REPO_ROOT/tasks/elixir/s3_client" && run mix test)
}

contract_tests() {
  (cd "$REPO_ROOT" && run uv run --frozen tox -e contract)
}

dags_tests() {
  (cd "$REPO_ROOT" && run uv run --frozen tox -e dags)
}

S3_STARTED=""
stop_s3() { [[ -n "$S3_STARTED" ]] && "$REPO_ROOT/hack/s3-server.sh" stop; return 0; }

integration_tests() {
  trap stop_s3 EXIT
  S3_STARTED=1
  "$REPO_ROOT/hack/s3-server.sh" start
  # shellcheck disable=SC1090
  set -a && source "$("$REPO_ROOT/hack/s3-server.sh" env)" && set +a
  (cd "$REPO_ROOT" && run uv run --frozen tox -e integration)
}

e2e_tests() {
  # The tests make their own cluster (KIND_CLUSTER_NAME, default polyetl-e2e) and delete it.
  (cd "$REPO_ROOT" && run uv run --frozen tox -e e2e)
}

main() {
  [[ $# -eq 1 ]] || die "usage: $0 python|rust|elixir|contract|dags|integration|e2e|all"
  case "$1" in
    python) python_tests ;;
    rust) rust_tests ;;
    elixir) elixir_tests ;;
    contract) contract_tests ;;
    dags) dags_tests ;;
    integration) integration_tests ;;
    e2e) e2e_tests ;;
    all)
      python_tests
      rust_tests
      elixir_tests
      "$REPO_ROOT/hack/images.sh" build
      contract_tests
      dags_tests
      integration_tests
      e2e_tests
      ;;
    *) die "expected a test level (python, rust, elixir, contract, dags, integration, e2e, all), got: \"$1\"" ;;
  esac
}

main "$@"
