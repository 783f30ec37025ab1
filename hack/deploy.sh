#!/usr/bin/env bash
# The pipelines' platform on the kind cluster: namespace, RBAC, ClickHouse source and
# destination, the S3 server, Airflow (api-server, scheduler, dag-processor, triggerer,
# PostgreSQL) and their Secrets (k8s/).
#
#   hack/deploy.sh apply        secrets (when missing), images, kubectl apply, migrate Airflow's
#                               database, wait until every component is ready
#   hack/deploy.sh secrets      write the Secrets' env files with random values (when missing)
#   hack/deploy.sh kubeconfig   print the path of a kubeconfig acting as the operators'
#                               service account polyetl-airflow (a fresh 24 h token; mode 600)
#   hack/deploy.sh dags         try changed dags/ on the running cluster: rebuild the deployed
#                               Airflow image from this tree (only its DAG layer changes), load
#                               it, restart the dag-processor; new worker pods run it
#   hack/deploy.sh password U   print the UI/REST API password of Airflow user U (admin, viewer)
#   hack/deploy.sh ui           port-forward localhost:${AIRFLOW_UI_PORT:-8080} to Airflow's api-server
#   hack/deploy.sh delete       delete the namespace and everything in it
#
# Images: POLYETL_SERVICES=auto (default) uses the official images pinned in k8s/base when
# they can be pulled, else the locally built equivalents (k8s/overlays/local, `make images`);
# =upstream or =local forces one. Airflow's image is always this build's polyetl/airflow.
# POLYETL_FAST_FAULT_DETECTION=1 (the e2e tests) adds k8s/components/fast-fault-detection:
# lost workers, schedulers and triggerers noticed in seconds instead of Airflow's minutes.
set -o errexit -o nounset -o pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

NAMESPACE=polyetl # set by k8s/base/kustomization.yaml
SERVICES="${POLYETL_SERVICES:-auto}"
ROLLOUT_TIMEOUT="${ROLLOUT_TIMEOUT:-300s}"
MIGRATE_TIMEOUT="${MIGRATE_TIMEOUT:-600s}"
BASE="$REPO_ROOT/k8s/base"
AIRFLOW_DEPLOYMENTS=(airflow-api-server airflow-scheduler airflow-dag-processor airflow-triggerer)
CLUSTER="${KIND_CLUSTER_NAME:-polyetl}"

kctl() { "$REPO_ROOT/hack/kind.sh" kubectl "$@"; }

# write_env <file> <KEY=VALUE...>: created once (mode 600), kept afterwards so the Secrets
# (and the data the services hold under them) survive a re-deploy.
write_env() {
  local file="$1"
  shift
  [[ -s "$file" ]] && return
  (umask 077 && printf '%s\n' "$@" >"$file")
  log "deploy: wrote $file (random values; git-ignored)"
}

cmd_secrets() {
  local role
  for role in source destination; do
    write_env "$BASE/clickhouse-$role/secret.env" \
      "host=clickhouse-$role" "port=8123" "user=polyetl" "password=$(random_hex 24)"
  done
  write_env "$BASE/s3/secret.env" \
    "access_key_id=PE$(random_hex 9 | tr 'a-f' 'A-F')" "secret_access_key=$(random_hex 20)"
  airflow_secrets
}

# env_value <file> <key>: a value from one of the env files above.
env_value() { sed -n "s/^$2=//p" "$1"; }

# Airflow's Secrets: the metadata DB password (PostgreSQL's and in the connection URL), the
# Fernet key, the JWT and API secrets, the UI users' passwords, and the connection task logs
# are written to S3 with (the S3 server's keys, read from its env file).
airflow_secrets() {
  local dir="$BASE/airflow" db_password
  if [[ ! -s "$dir/postgres.env" || ! -s "$dir/metadata.env" ]]; then
    rm -f "$dir/postgres.env" "$dir/metadata.env" # the two share the password: made together
  fi
  write_env "$dir/postgres.env" "password=$(random_hex 24)"
  db_password="$(env_value "$dir/postgres.env" password)"
  write_env "$dir/metadata.env" \
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=postgresql+psycopg2://airflow:$db_password@postgres.$NAMESPACE.svc.cluster.local:5432/airflow" \
    "AIRFLOW__CORE__FERNET_KEY=$(head -c 32 /dev/urandom | base64 | tr '+/' '-_')" \
    "AIRFLOW__API_AUTH__JWT_SECRET=$(random_hex 32)" \
    "AIRFLOW__API__SECRET_KEY=$(random_hex 32)"
  write_env "$dir/users.env" "admin=$(random_hex 12)" "viewer=$(random_hex 12)"
  local key secret
  key="$(env_value "$BASE/s3/secret.env" access_key_id)"
  secret="$(env_value "$BASE/s3/secret.env" secret_access_key)"
  write_env "$dir/remote-logs.env" \
    "AIRFLOW_CONN_POLYETL_LOGS={\"conn_type\": \"aws\", \"login\": \"$key\", \"password\": \"$secret\", \"extra\": {\"endpoint_url\": \"http://s3.$NAMESPACE.svc.cluster.local:7070\", \"region_name\": \"us-east-1\"}}"
}

# The upstream images named in k8s/base, read from the manifests (one place to pin them);
# polyetl/* are this project's own (built by `make images`, never pulled).
upstream_images() {
  grep -rhoE '^\s+image: \S+' "$BASE" | awk '{print $2}' | grep -v "^$IMAGE_PREFIX/" | sort -u
}

# Echo "upstream" or "local": which images this cluster runs.
choose_images() {
  case "$SERVICES" in
    upstream | local) echo "$SERVICES" ;;
    auto)
      local ref
      for ref in $(upstream_images); do
        if ! docker image inspect "$ref" >/dev/null 2>&1 &&
          ! timeout 120 docker pull "$ref" >/dev/null 2>&1; then
          log "deploy: $ref cannot be pulled; using the locally built service images"
          echo local
          return
        fi
      done
      echo upstream
      ;;
    *) die "expected POLYETL_SERVICES to be one of auto, upstream, local, got: \"$SERVICES\"" ;;
  esac
}

# ensure_image <name> <tag>: this build's polyetl/<name>, built when missing; echo its ref.
ensure_image() {
  local ref
  ref="$(image_ref "$1" "$2")"
  docker image inspect "$ref" >/dev/null 2>&1 || run "$REPO_ROOT/hack/images.sh" build "$1" >&2
  echo "$ref"
}

# checksum <file...>: 16 hex digits that change when any of the files does.
checksum() { cat "$@" | sha256sum | cut -c1-16; }

# A throw-away kustomization over base or overlay (kustomize takes only relative paths), with
# this build's tags (what `kustomize edit set image` would write), a checksum of Airflow's
# configuration and Secrets on its components' pods, and of each service's Secret on its pod,
# so a change rolls them. (A Secret read through env vars reaches a pod only when it starts:
# PostgreSQL or ClickHouse still running under an older password — a cluster deployed from
# another checkout, whose env files were written with other random values — would refuse
# every client forever.)
write_kustomization() {
  local mode="$1" tag="$2" dir="$3" name checksum
  local components=()
  [[ "${POLYETL_FAST_FAULT_DETECTION:-0}" == 1 ]] && components+=(fast-fault-detection)
  local inputs=("$BASE/airflow/airflow.cfg" "$BASE/airflow/pod_template.yaml" "$BASE"/airflow/*.env) c
  for c in "${components[@]}"; do inputs+=("$REPO_ROOT/k8s/components/$c/kustomization.yaml"); done
  checksum="$(checksum "${inputs[@]}")"
  {
    printf 'namespace: %s\nresources:\n' "$NAMESPACE"
    if [[ "$mode" == upstream ]]; then printf '  - ../base\n'; else printf '  - ../overlays/local\n'; fi
    if ((${#components[@]})); then
      printf 'components:\n'
      printf '  - ../components/%s\n' "${components[@]}"
    fi
    printf 'images:\n'
    local names=("${PLATFORM_IMAGES[@]}") ref
    [[ "$mode" == upstream ]] || names+=("${SERVICE_IMAGES[@]}")
    for name in "${names[@]}"; do
      ref="$(image_ref "$name" "$tag")"
      printf '  - name: %s\n    newTag: "%s"\n' "${ref%:*}" "${ref##*:}"
    done
    cat <<YAML
configMapGenerator:
  - name: airflow-env
    behavior: merge
    options: {disableNameSuffixHash: true}
    literals:
      - POLYETL_IMAGE_TAG=$tag
      - AIRFLOW__KUBERNETES_EXECUTOR__WORKER_CONTAINER_TAG=$tag
patches:
  - target:
      kind: Deployment
      labelSelector: app.kubernetes.io/component in (api-server,scheduler,dag-processor,triggerer)
    patch: |-
      - op: add
        path: /spec/template/metadata/annotations
        value: {polyetl.io/config-checksum: "$checksum"}
YAML
    local service secret
    for service in postgres:airflow/postgres.env s3:s3/secret.env \
      clickhouse-source:clickhouse-source/secret.env \
      clickhouse-destination:clickhouse-destination/secret.env; do
      secret="$BASE/${service#*:}"
      cat <<YAML
  - target: {kind: Deployment, name: ${service%%:*}}
    patch: |-
      - op: add
        path: /spec/template/metadata/annotations
        value: {polyetl.io/secret-checksum: "$(checksum "$secret")"}
YAML
    done
  } >"$dir/kustomization.yaml"
}

# The running PostgreSQL pod's uid (empty when there is none).
postgres_pod() {
  kctl -n "$NAMESPACE" get pods -l app.kubernetes.io/name=postgres \
    --field-selector=status.phase=Running -o 'jsonpath={.items[*].metadata.uid}' 2>/dev/null || true
}

cmd_apply() {
  local t0=$SECONDS
  "$REPO_ROOT/hack/kind.sh" status || die "no kind cluster $CLUSTER: run 'make kind-up' first"
  cmd_secrets
  local mode tag name refs=() dir="$REPO_ROOT/k8s/.generated"
  mode="$(choose_images)"
  tag="$(image_tag)"
  rm -rf "$dir" && mkdir -p "$dir"
  if [[ "$mode" == upstream ]]; then
    mapfile -t refs < <(upstream_images)
    for ref in "${refs[@]}"; do docker image inspect "$ref" >/dev/null 2>&1 || run docker pull "$ref"; done
  else
    for name in "${SERVICE_IMAGES[@]}"; do refs+=("$(ensure_image "$name" "$tag")"); done
  fi
  for name in "${PLATFORM_IMAGES[@]}"; do refs+=("$(ensure_image "$name" "$tag")"); done
  write_kustomization "$mode" "$tag" "$dir"
  "$REPO_ROOT/hack/kind.sh" load "${refs[@]}"
  log "deploy: applying k8s/ ($mode images, tag $tag) to namespace $NAMESPACE"
  # Everything but the migration first; the migration once PostgreSQL (maybe a new pod) is
  # ready, so it never migrates a database that is about to go away. A Job's pod template
  # can't change: the Job is made anew on every apply (migrating is idempotent: ~15 s when
  # there is nothing to do), so each image migrates the schema it needs.
  local migrate="app.kubernetes.io/component=db-migrate" database_before database_after
  database_before="$(postgres_pod)"
  run kctl -n "$NAMESPACE" delete job airflow-db-migrate --ignore-not-found --wait=true >/dev/null
  run kctl apply -k "$dir" --selector "app.kubernetes.io/component!=db-migrate"
  # A Secret changed by hand (or a new image) rolls the pods only when they restart: the
  # rollouts below restart nothing, they wait for the current spec to be ready.
  local deployment
  for deployment in clickhouse-source clickhouse-destination s3 postgres; do
    run kctl -n "$NAMESPACE" rollout status "deployment/$deployment" --timeout="$ROLLOUT_TIMEOUT"
  done
  log "deploy: services ready after $((SECONDS - t0))s; migrating Airflow's metadata database"
  run kctl apply -k "$dir" --selector "$migrate"
  database_after="$(postgres_pod)"
  if [[ -n "$database_before" && "$database_before" != "$database_after" ]]; then
    # A new PostgreSQL pod is a new (empty) database: components still connected to the old
    # one would fail until restarted; restart them now (they wait for the migration).
    log "deploy: PostgreSQL was replaced; restarting Airflow's components"
    run kctl -n "$NAMESPACE" rollout restart "${AIRFLOW_DEPLOYMENTS[@]/#/deployment/}"
  fi
  if ! heartbeat "deploy: airflow db migrate" run kctl -n "$NAMESPACE" wait --for=condition=complete job/airflow-db-migrate --timeout="$MIGRATE_TIMEOUT"; then
    kctl -n "$NAMESPACE" logs job/airflow-db-migrate --all-containers --tail=50 >&2 || true
    die "airflow db migrate did not complete within $MIGRATE_TIMEOUT"
  fi
  kctl -n "$NAMESPACE" logs job/airflow-db-migrate -c logs-bucket 2>/dev/null | sed 's/^/  /' >&2 || true
  for deployment in "${AIRFLOW_DEPLOYMENTS[@]}"; do
    run kctl -n "$NAMESPACE" rollout status "deployment/$deployment" --timeout="$ROLLOUT_TIMEOUT"
  done
  log "deploy: ready in $((SECONDS - t0))s (ClickHouse source + destination, S3, PostgreSQL, Airflow) in namespace $NAMESPACE"
}

cmd_kubeconfig() {
  local file="$POLYETL_CACHE/kind/kubeconfig-$CLUSTER-polyetl-airflow" server ca token
  server="$(kctl config view --raw --minify -o jsonpath='{.clusters[0].cluster.server}')"
  ca="$(kctl config view --raw --minify -o jsonpath='{.clusters[0].cluster.certificate-authority-data}')"
  token="$(kctl -n "$NAMESPACE" create token polyetl-airflow --duration=24h)"
  (
    umask 077
    cat >"$file" <<KUBECONFIG
apiVersion: v1
kind: Config
clusters:
  - name: $CLUSTER
    cluster:
      server: $server
      certificate-authority-data: $ca
users:
  - name: polyetl-airflow
    user:
      token: $token
contexts:
  - name: polyetl-airflow
    context: {cluster: $CLUSTER, user: polyetl-airflow, namespace: $NAMESPACE}
current-context: polyetl-airflow
KUBECONFIG
  )
  echo "$file"
}

cmd_dags() {
  local t0=$SECONDS tag ref
  tag="$(kctl -n "$NAMESPACE" get configmap airflow-env -o 'jsonpath={.data.POLYETL_IMAGE_TAG}' 2>/dev/null || true)"
  [[ -n "$tag" ]] || die "no Airflow deployed in namespace $NAMESPACE: run 'make deploy' first"
  # The deployed tag, rebuilt from this tree: only the DAG layer differs, and every other
  # image (tasks, services) stays the one deployed. A dev loop: `make deploy` for releases.
  ref="$IMAGE_PREFIX/airflow:$tag"
  TAG="$tag" run "$REPO_ROOT/hack/images.sh" build airflow >/dev/null
  "$REPO_ROOT/hack/kind.sh" load "$ref"
  run kctl -n "$NAMESPACE" rollout restart deployment/airflow-dag-processor
  run kctl -n "$NAMESPACE" rollout status deployment/airflow-dag-processor --timeout="$ROLLOUT_TIMEOUT"
  log "deploy: this tree's dags/ in $ref, live in $((SECONDS - t0))s (new worker pods run it; the dag-processor parses it within ~30 s)"
}

cmd_password() {
  [[ -n "${1:-}" ]] || die "usage: $0 password admin|viewer"
  local value
  value="$(kctl -n "$NAMESPACE" get secret airflow-users -o "jsonpath={.data.$1}")"
  [[ -n "$value" ]] || die "expected an Airflow user (admin, viewer), got: \"$1\""
  base64 -d <<<"$value"
  echo
}

cmd_ui() {
  local port="${AIRFLOW_UI_PORT:-8080}"
  log "Airflow UI and REST API on http://localhost:$port (user admin; password: hack/deploy.sh password admin); Ctrl-C stops"
  kctl -n "$NAMESPACE" port-forward svc/airflow-api-server "$port:8080"
}

cmd_delete() {
  run kctl delete namespace "$NAMESPACE" --ignore-not-found --wait=true --timeout=180s
}

main() {
  local cmd="${1:-}"
  [[ $# -gt 0 ]] && shift
  case "$cmd" in
    apply) phase "deploy: apply to $CLUSTER" cmd_apply ;;
    secrets) cmd_secrets ;;
    kubeconfig) cmd_kubeconfig ;;
    password) cmd_password "$@" ;;
    ui) cmd_ui ;;
    dags) cmd_dags ;;
    delete) cmd_delete ;;
    *) die "usage: $0 apply|secrets|kubeconfig|dags|password <user>|ui|delete" ;;
  esac
}

main "$@"
