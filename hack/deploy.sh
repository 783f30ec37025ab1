#!/usr/bin/env bash
# The pipelines' platform on the kind cluster: namespace, RBAC, ClickHouse source and
# destination, the S3 server and their Secrets (k8s/).
#
#   hack/deploy.sh apply        secrets (when missing), images, kubectl apply, wait until ready
#   hack/deploy.sh secrets      write the Secrets' env files with random values (when missing)
#   hack/deploy.sh kubeconfig   print the path of a kubeconfig acting as the operators'
#                               service account polyetl-airflow (a fresh 24 h token; mode 600)
#   hack/deploy.sh delete       delete the namespace and everything in it
#
# Images: POLYETL_SERVICES=auto (default) uses the official images pinned in k8s/base when
# they can be pulled, else the locally built equivalents (k8s/overlays/local, `make images`);
# =upstream or =local forces one.
set -o errexit -o nounset -o pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

NAMESPACE=polyetl # set by k8s/base/kustomization.yaml
SERVICES="${POLYETL_SERVICES:-auto}"
ROLLOUT_TIMEOUT="${ROLLOUT_TIMEOUT:-300s}"
BASE="$REPO_ROOT/k8s/base"
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
}

# The upstream images named in k8s/base, read from the manifests (one place to pin them).
upstream_images() {
  grep -rhoE '^\s+image: \S+' "$BASE" | awk '{print $2}' | sort -u
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

cmd_apply() {
  "$REPO_ROOT/hack/kind.sh" status || die "no kind cluster $CLUSTER: run 'make kind-up' first"
  cmd_secrets
  local mode refs=() dir="$REPO_ROOT/k8s/.generated"
  mode="$(choose_images)"
  # A throw-away kustomization over base or overlay (kustomize takes only relative paths).
  rm -rf "$dir" && mkdir -p "$dir"
  if [[ "$mode" == upstream ]]; then
    mapfile -t refs < <(upstream_images)
    for ref in "${refs[@]}"; do docker image inspect "$ref" >/dev/null 2>&1 || run docker pull "$ref"; done
    printf 'resources:\n  - ../base\n' >"$dir/kustomization.yaml"
  else
    local tag name
    tag="$(image_tag)"
    for name in "${SERVICE_IMAGES[@]}"; do
      refs+=("$IMAGE_PREFIX/$name:$tag")
      docker image inspect "$IMAGE_PREFIX/$name:$tag" >/dev/null 2>&1 ||
        run "$REPO_ROOT/hack/images.sh" build "$name"
    done
    # The overlay, with the tag of this build (what `kustomize edit set image` would write).
    {
      printf 'resources:\n  - ../overlays/local\nimages:\n'
      for name in "${SERVICE_IMAGES[@]}"; do
        printf '  - name: %s\n    newTag: "%s"\n' "$IMAGE_PREFIX/$name" "$tag"
      done
    } >"$dir/kustomization.yaml"
  fi
  "$REPO_ROOT/hack/kind.sh" load "${refs[@]}"
  log "deploy: applying k8s/ ($mode images) to namespace $NAMESPACE"
  run kctl apply -k "$dir"
  # A Secret changed by hand (or a new image) rolls the pods only when they restart: the
  # rollout below restarts nothing, it waits for the current spec to be ready.
  local deployment
  for deployment in clickhouse-source clickhouse-destination s3; do
    run kctl -n "$NAMESPACE" rollout status "deployment/$deployment" --timeout="$ROLLOUT_TIMEOUT"
  done
  log "deploy: ready (ClickHouse source + destination, S3) in namespace $NAMESPACE"
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

cmd_delete() {
  run kctl delete namespace "$NAMESPACE" --ignore-not-found --wait=true --timeout=180s
}

main() {
  local cmd="${1:-}"
  [[ $# -gt 0 ]] && shift
  case "$cmd" in
    apply) cmd_apply ;;
    secrets) cmd_secrets ;;
    kubeconfig) cmd_kubeconfig ;;
    delete) cmd_delete ;;
    *) die "usage: $0 apply|secrets|kubeconfig|delete" ;;
  esac
}

main "$@"
