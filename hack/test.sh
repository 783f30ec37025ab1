#!/usr/bin/env bash
# Run one level of tests, or all of them in order. Every level runs for real: the contract
# suite needs the images (`make images`); python (tasks/python's commands) talks to the S3
# server and a ClickHouse endpoint its fixtures start and stop as processes (tests/support);
# integration starts them as containers (testcontainers, docs/testing.md), or uses the servers
# S3_ENDPOINT_URL and CLICKHOUSE_*_HOST name when they are exported.
#
#   test.sh python|rust|elixir|contract|dags|template|integration|e2e|all
#   test.sh e2e-cluster     start making the e2e cluster in the background (below)
#   test.sh template-start  start the template test in the background (below)
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

template_tests() {
  # The generators' output, proven in a copy of the repository (hack/template-test.sh).
  "$REPO_ROOT/hack/template-test.sh"
}

integration_tests() {
  # The tests start their own containers (the S3 server, ClickHouse); tox passes
  # S3_ENDPOINT_URL, AWS_* and CLICKHOUSE_* on, so servers of one's own are used instead.
  (cd "$REPO_ROOT" && run uv run --frozen tox -e integration)
}

# The e2e cluster takes minutes to create and fill with images, mostly waiting on the node:
# `test.sh e2e-cluster` (run by `make test` once the images are built) starts that in the
# background, so it overlaps the contract, dags and integration levels (and, on a machine
# without a registry, the cold Go build of the kind node image, ~16 minutes, with them);
# `test.sh e2e` waits for it, and the e2e fixture then finds the cluster up and the images
# loaded. A background job logs to $POLYETL_CACHE/background/<job>.log. It only saves time
# and decides nothing: without it the fixture makes the cluster itself, and the builds it
# runs take locks (hack/lib.sh `lock`) that a foreground run of the same build waits on.
# Starting the node image's build earlier, at the start of `make test`, was measured to lose
# time on 2 cores: every phase it overlapped (clippy, dialyzer, the Rust release build) ran
# 2-4x slower, since all of them are CPU-bound.
BG_DIR="$POLYETL_CACHE/background"

bg_start() {
  local job="$1"
  shift
  mkdir -p "$BG_DIR"
  rm -f "$BG_DIR/$job.rc"
  # shellcheck disable=SC2016 # $1, $2 and $@ expand in the background shell
  POLYETL_BG_JOB="$job" nohup bash -c 'rc=0; "${@:3}" || rc=$?; echo "$rc" >"$1/$2.rc"' _ "$BG_DIR" "$job" "$@" \
    >"$BG_DIR/$job.log" 2>&1 </dev/null &
  echo $! >"$BG_DIR/$job.pid"
  log "$job: started in the background (log: $BG_DIR/$job.log)"
}

# bg_wait <job> [lines]: wait for the job; print the end of its log (all of it when lines is
# "all"); return the job's exit status.
bg_wait() {
  local job="$1" lines="${2:-20}" pid t0=$SECONDS rc
  [[ -f "$BG_DIR/$job.pid" ]] || return 0
  pid="$(cat "$BG_DIR/$job.pid")"
  rm -f "$BG_DIR/$job.pid"
  while kill -0 "$pid" 2>/dev/null; do sleep 2; done
  rc="$(cat "$BG_DIR/$job.rc" 2>/dev/null || echo 1)"
  if [[ "$lines" == all ]]; then
    log "$job: background run ended (exit $rc; waited $((SECONDS - t0)) s); its log:"
    cat "$BG_DIR/$job.log" || true
  else
    log "$job: background run ended (exit $rc; waited $((SECONDS - t0)) s); its log ends:"
    tail -n "$lines" "$BG_DIR/$job.log" || true
  fi
  return "$rc"
}

e2e_cluster_start() {
  # shellcheck disable=SC2016 # $1 expands in the background shell
  bg_start e2e-cluster env KIND_CLUSTER_NAME="${KIND_CLUSTER_NAME:-polyetl-e2e}" \
    bash -c '"$1/hack/kind.sh" up && "$1/hack/kind.sh" load' _ "$REPO_ROOT"
}

e2e_cluster_wait() { bg_wait e2e-cluster || true; } # decides nothing (above)

# The template test, under `make test`, runs in the background from when the images are built:
# most of its work (a copy's lints, unit tests and contract suite) is CPU-bound, and the e2e
# suite, most of whose time is spent waiting on pods and Airflow, leaves a third of the 2 cores
# idle. Niced (POLYETL_TEMPLATE_NICE, 10), it takes what the levels in the foreground leave, so
# their timings (the fault drills' detection thresholds) hold. Unlike the e2e cluster it decides:
# `make test-template` then waits for it and fails with it, printing its whole log. Outside
# `make test` (POLYETL_TEMPLATE_BACKGROUND unset) the level runs in the foreground, unless a
# background run is still going (two runs would share the copy's directory).
template_start() {
  bg_start template env -u POLYETL_TEMPLATE_BACKGROUND \
    nice -n "${POLYETL_TEMPLATE_NICE:-10}" "$REPO_ROOT/hack/test.sh" template
}

# A background run to wait for: one still running, or, under `make test`, the one it started
# (a finished run left by an earlier, interrupted `make test` is not this run's result); never
# the background run itself (bg_start names its job in POLYETL_BG_JOB).
template_started() {
  local pid
  [[ "${POLYETL_BG_JOB:-}" != template && -f "$BG_DIR/template.pid" ]] || return 1
  pid="$(cat "$BG_DIR/template.pid")"
  kill -0 "$pid" 2>/dev/null || [[ -n "${POLYETL_TEMPLATE_BACKGROUND:-}" ]]
}

template_wait() {
  local rc=0
  bg_wait template all || rc=$?
  ((rc == 0)) || die "the template test failed (exit $rc): its log is above and in $BG_DIR/template.log"
}

e2e_tests() {
  # The tests make their own cluster (KIND_CLUSTER_NAME, default polyetl-e2e) and delete it.
  phase "e2e: waiting for the background cluster" e2e_cluster_wait
  (cd "$REPO_ROOT" && run uv run --frozen tox -e e2e)
}

main() {
  [[ $# -eq 1 ]] || die "usage: $0 python|rust|elixir|contract|dags|template|integration|e2e|e2e-cluster|template-start|all"
  case "$1" in
    template)
      if template_started; then
        phase "template: waiting for the background run" template_wait
      else
        [[ "${POLYETL_BG_JOB:-}" == template ]] || rm -f "$BG_DIR/template.pid" # a stale one
        phase "test: template" template_tests
      fi
      ;;
    python | rust | elixir | contract | dags | integration | e2e) phase "test: $1" "${1}_tests" ;;
    e2e-cluster) e2e_cluster_start ;;
    template-start) template_start ;;
    all)
      local level
      for level in python rust elixir; do phase "test: $level" "${level}_tests"; done
      "$REPO_ROOT/hack/images.sh" build
      e2e_cluster_start
      template_start
      for level in contract dags integration e2e; do phase "test: $level" "${level}_tests"; done
      phase "template: waiting for the background run" template_wait
      ;;
    *) die "expected a test level (python, rust, elixir, contract, dags, template, integration, e2e, e2e-cluster, template-start, all), got: \"$1\"" ;;
  esac
}

main "$@"
