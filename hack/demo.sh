#!/usr/bin/env bash
# The main job, in one command (`make demo`): both pipelines on the local kind cluster, run by
# Airflow on this machine, then a summary of what they did.
#
#   1. the Docker engine, the task/support/service images (`make images`);
#   2. the kind cluster `$KIND_CLUSTER_NAME` (default polyetl): created, or reused when it runs;
#   3. the images loaded into it; the platform deployed (hack/deploy.sh: namespace, RBAC,
#      ClickHouse source + destination, S3, generated Secrets);
#   4. python -m polyetl.demo: seed data, `airflow dags test` of s3_ingest and
#      clickhouse_db_sync (as the operators' service account), summary. Exit 1 if a run
#      failed or a figure differs from what the seed implies.
#
# Re-running it is safe: the cluster, the Secrets and the data stay; new feeds are the same
# objects again, which the ingest ledger knows, and the sync converges on the same state.
# `make kind-down` deletes it all.
set -o errexit -o nounset -o pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

t0=$SECONDS
"$REPO_ROOT/hack/setup.sh"
"$REPO_ROOT/hack/images.sh" build
"$REPO_ROOT/hack/kind.sh" up
"$REPO_ROOT/hack/kind.sh" load
"$REPO_ROOT/hack/deploy.sh" apply
log "demo: platform ready in $((SECONDS - t0))s; running the pipelines"
cd "$REPO_ROOT"
run uv run --frozen python -m polyetl.demo
