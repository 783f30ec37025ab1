#!/usr/bin/env bash
# Run one level of tests, or all of them in order. Every level runs for real: the contract
# suite needs the images (`make images`); python (tasks/python's commands) talks to the S3
# server and a ClickHouse endpoint its fixtures start and stop as processes (tests/support);
# integration starts them as containers (testcontainers, docs/testing.md), or uses the servers
# S3_ENDPOINT_URL and CLICKHOUSE_*_HOST name when they are exported.
#
#   test.sh python|rust|elixir|contract|dags|integration|e2e|all
#   test.sh e2e-cluster   start making the e2e cluster in the background (see below)
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

integration_tests() {
  # The tests start their own containers (the S3 server, ClickHouse); tox passes
  # S3_ENDPOINT_URL, AWS_* and CLICKHOUSE_* on, so servers of one's own are used instead.
  (cd "$REPO_ROOT" && run uv run --frozen tox -e integration)
}

# The e2e cluster takes minutes to create and fill with images, mostly waiting on the node:
# `test.sh e2e-cluster` (run by `make test` once the images are built) starts that in the
# background, so it overlaps the contract, dags and integration levels; `test.sh e2e` waits
# for it, and the e2e fixture then finds the cluster up and the images loaded. Without it
# the fixture makes both itself: the background start only saves time, it decides nothing.
E2E_BG_DIR="$POLYETL_CACHE/e2e-cluster"

e2e_cluster_start() {
  mkdir -p "$E2E_BG_DIR"
  rm -f "$E2E_BG_DIR/rc"
  # shellcheck disable=SC2016 # $1 and $2 expand in the background shell
  KIND_CLUSTER_NAME="${KIND_CLUSTER_NAME:-polyetl-e2e}" nohup bash -c '
    "$1/hack/kind.sh" up && "$1/hack/kind.sh" load
    echo $? >"$2/rc"' _ "$REPO_ROOT" "$E2E_BG_DIR" >"$E2E_BG_DIR/log" 2>&1 &
  echo $! >"$E2E_BG_DIR/pid"
  log "e2e cluster: being made in the background (log: $E2E_BG_DIR/log)"
}

e2e_cluster_wait() {
  [[ -f "$E2E_BG_DIR/pid" ]] || return 0
  local pid t0=$SECONDS
  pid="$(cat "$E2E_BG_DIR/pid")"
  rm -f "$E2E_BG_DIR/pid"
  while kill -0 "$pid" 2>/dev/null; do sleep 2; done
  log "e2e cluster: background start ended (exit $(cat "$E2E_BG_DIR/rc" 2>/dev/null || echo '?'); waited $((SECONDS - t0)) s); its log:"
  tail -n 20 "$E2E_BG_DIR/log" || true
}

e2e_tests() {
  # The tests make their own cluster (KIND_CLUSTER_NAME, default polyetl-e2e) and delete it.
  phase "e2e: waiting for the background cluster" e2e_cluster_wait
  (cd "$REPO_ROOT" && run uv run --frozen tox -e e2e)
}

main() {
  [[ $# -eq 1 ]] || die "usage: $0 python|rust|elixir|contract|dags|integration|e2e|e2e-cluster|all"
  case "$1" in
    python | rust | elixir | contract | dags | integration | e2e) phase "test: $1" "${1}_tests" ;;
    e2e-cluster) e2e_cluster_start ;;
    all)
      local level
      for level in python rust elixir; do phase "test: $level" "${level}_tests"; done
      "$REPO_ROOT/hack/images.sh" build
      e2e_cluster_start
      for level in contract dags integration e2e; do phase "test: $level" "${level}_tests"; done
      ;;
    *) die "expected a test level (python, rust, elixir, contract, dags, integration, e2e, e2e-cluster, all), got: \"$1\"" ;;
  esac
}

main "$@"
