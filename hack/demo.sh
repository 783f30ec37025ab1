#!/usr/bin/env bash
# The main job, in one command (`make demo`): both pipelines on the local kind cluster, run by
# the Airflow deployed there, then a summary of what they did.
#
#   1. setup: the Docker engine and tools (hack/setup.sh);
#   2. images: the task, support, service and Airflow images (`make images`);
#   3. cluster: the kind cluster `$KIND_CLUSTER_NAME` (default polyetl), created or reused;
#   4. deploy: the images loaded into it, the platform applied (hack/deploy.sh: namespace, RBAC,
#      ClickHouse source + destination, S3, PostgreSQL, Airflow, generated Secrets);
#   5. pipelines: python -m platform_driver.demo — seed data, trigger s3_ingest and clickhouse_db_sync
#      through Airflow's REST API, follow them, print the summary and where the UI is. Exit 1
#      if a run failed or a figure differs from what the seed implies.
#
# Each stage prints its name and, when done, its time; a stage that runs long says so every
# 30 s, so a first run's slow parts (the node image built from source, image builds) never
# look like a hang. Re-running it is safe: the cluster, the Secrets, the data and Airflow's
# history stay; each run delivers the feeds under a folder of its own, and the sync converges
# on the same state. `make kind-down` deletes it all.
set -o errexit -o nounset -o pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

STAGES=5
T0=$SECONDS

# stage <n> <name> <command...>: one step of the demo, named, timed, never silent for long.
stage() {
  local n="$1" name="$2" t0=$SECONDS
  shift 2
  log "demo [$n/$STAGES] $name"
  heartbeat "demo [$n/$STAGES] $name" "$@"
  log "demo [$n/$STAGES] $name: done in $((SECONDS - t0))s (total $((SECONDS - T0))s)"
}

# Every image of this build into the node (task images included), then the platform.
load_and_deploy() {
  hack/kind.sh load
  hack/deploy.sh apply
}

main() {
  cd "$REPO_ROOT"
  stage 1 setup hack/setup.sh
  stage 2 images hack/images.sh build
  stage 3 cluster hack/kind.sh up
  stage 4 deploy load_and_deploy
  stage 5 pipelines uv run --frozen python -m platform_driver.demo
}

main "$@"
