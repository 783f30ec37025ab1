#!/usr/bin/env bash
# The local kind cluster the pipelines and the end-to-end tests run on.
#
#   hack/kind.sh up          create the cluster (or reuse a running one); wait until Ready
#   hack/kind.sh node-image  only make sure the node image exists (pull or build); print it
#   hack/kind.sh down        delete the cluster, its kubeconfig, and kind's docker network
#                            when no other kind cluster uses it
#   hack/kind.sh load [ref…] load images into the node (default: every image `make images` builds)
#   hack/kind.sh kubeconfig  print the kubeconfig path
#   hack/kind.sh kubectl …   kubectl (the pinned build) against the cluster
#   hack/kind.sh status      exit 0 if the cluster runs
#
# Node image: KIND_NODE=auto (default) pulls the official image pinned in
# hack/kind-versions.sh when a registry answers, else builds one locally
# (hack/machine/kind-node.sh, cached); KIND_NODE=pull|local forces one way; KIND_NODE_IMAGE=<ref>
# uses that image as is.
set -o errexit -o nounset -o pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$REPO_ROOT/hack/kind-versions.sh"

CLUSTER="${KIND_CLUSTER_NAME:-polyetl}"
MODE="${KIND_NODE:-auto}"
KIND_STATE="$POLYETL_CACHE/kind"
KUBECONFIG_FILE="$KIND_STATE/kubeconfig-$CLUSTER"
KIND="$KIND_STATE/bin/kind-$KIND_VERSION/kind"
KUBECTL_BIN="$KIND_STATE/bin/kubernetes-$K8S_VERSION/kubectl"
# "<ref> <image id>" of every image loaded into this cluster's node (reset with the cluster):
# kind's own "already present" check needs crictl, which the local node image lacks.
LOADED_FILE="$KIND_STATE/loaded-$CLUSTER"

# kind_node <command>: hack/machine/kind-node.sh under the kind-node lock, so the e2e
# cluster's start in the background (`make test`) and a `make demo` in another terminal take
# turns and the second finds the image made. Its exit status is kept: node_image runs inside
# $(…), where errexit is off and a later `unlock` would hide a failed build.
kind_node() {
  local rc=0
  lock kind-node
  "$REPO_ROOT/hack/machine/kind-node.sh" "$@" || rc=$?
  unlock kind-node
  return "$rc"
}

tools() {
  if [[ ! -x "$KIND" || ! -x "$KUBECTL_BIN" ]]; then
    phase "kind: tools (kind, kubectl)" kind_node tools
  fi
}

kctl() { "$KUBECTL_BIN" --kubeconfig "$KUBECONFIG_FILE" "$@"; }

exists() { "$KIND" get clusters 2>/dev/null | grep -qx "$CLUSTER"; }

node_image() {
  if [[ -n "${KIND_NODE_IMAGE:-}" ]]; then
    echo "$KIND_NODE_IMAGE"
    return
  fi
  case "$MODE" in
    auto | pull)
      if timeout 120 docker pull "$KIND_NODE_IMAGE_UPSTREAM" >/dev/null 2>&1; then
        echo "$KIND_NODE_IMAGE_UPSTREAM"
        return
      fi
      [[ "$MODE" == pull ]] && die "could not pull $KIND_NODE_IMAGE_UPSTREAM and KIND_NODE=pull"
      log "kind: $KIND_NODE_IMAGE_UPSTREAM cannot be pulled; using a locally built node image"
      ;;
    local) ;;
    *) die "expected KIND_NODE to be one of auto, pull, local, got: \"$MODE\"" ;;
  esac
  kind_node image
}

cmd_up() {
  "$REPO_ROOT/hack/machine/docker.sh" start
  tools
  mkdir -p "$KIND_STATE"
  local t0=$SECONDS
  if exists && docker inspect --format '{{.State.Running}}' "$CLUSTER-control-plane" 2>/dev/null | grep -qx true; then
    log "kind: cluster $CLUSTER already runs; reusing it"
    run "$KIND" export kubeconfig --name "$CLUSTER" --kubeconfig "$KUBECONFIG_FILE" >/dev/null 2>&1
  else
    if exists; then
      log "kind: cluster $CLUSTER exists but its node is stopped; recreating it"
      run "$KIND" delete cluster --name "$CLUSTER" --kubeconfig "$KUBECONFIG_FILE"
    fi
    local image config="$KIND_STATE/cluster-$CLUSTER.yaml"
    image="$(node_image)"
    sed "s#@REPO_ROOT@#$REPO_ROOT#g" "$REPO_ROOT/k8s/kind/cluster.yaml" >"$config"
    rm -f "$LOADED_FILE"
    log "kind: creating cluster $CLUSTER from $image"
    phase "kind: create cluster $CLUSTER" run "$KIND" create cluster --name "$CLUSTER" --image "$image" --config "$config" \
      --kubeconfig "$KUBECONFIG_FILE" --wait 5m
  fi
  run kctl wait --for=condition=Ready nodes --all --timeout=300s
  # CoreDNS answering is what "the cluster works" means to every later step.
  run kctl -n kube-system rollout status deployment/coredns --timeout=300s
  log "kind: cluster $CLUSTER ready in $((SECONDS - t0))s; KUBECONFIG=$KUBECONFIG_FILE"
}

cmd_down() {
  [[ -x "$KIND" ]] || { log "kind: not installed, nothing to delete"; return; }
  if exists; then
    run "$KIND" delete cluster --name "$CLUSTER" --kubeconfig "$KUBECONFIG_FILE"
  else
    log "kind: no cluster $CLUSTER"
  fi
  rm -f "$KUBECONFIG_FILE" "$KIND_STATE/cluster-$CLUSTER.yaml" "$LOADED_FILE"
  # kind leaves its docker network behind; remove it when nothing uses it any more.
  if docker network inspect kind >/dev/null 2>&1 &&
    [[ -z "$(docker network inspect --format '{{range .Containers}}{{.Name}} {{end}}' kind)" ]] &&
    [[ -z "$("$KIND" get clusters 2>/dev/null)" ]]; then
    run docker network rm kind >/dev/null
  fi
}

cmd_load() {
  tools
  exists || die "no cluster $CLUSTER: run 'make kind-up' first"
  local refs=("$@")
  if [[ ${#refs[@]} -eq 0 ]]; then
    mapfile -t refs < <("$REPO_ROOT/hack/images.sh" all-refs)
  fi
  local ref id todo=() ids=()
  for ref in "${refs[@]}"; do
    id="$(docker image inspect --format '{{.Id}}' "$ref" 2>/dev/null)" ||
      die "image $ref not built: run 'make images' first"
    if grep -qxF "$ref $id" "$LOADED_FILE" 2>/dev/null; then continue; fi
    todo+=("$ref")
    ids+=("$ref $id")
  done
  if [[ ${#todo[@]} -eq 0 ]]; then
    log "kind: all ${#refs[@]} images already loaded into $CLUSTER"
    return
  fi
  phase "kind: load ${#todo[@]} images into $CLUSTER" heartbeat "kind load (${#todo[@]} images)" run "$KIND" load docker-image --name "$CLUSTER" "${todo[@]}"
  printf '%s\n' "${ids[@]}" >>"$LOADED_FILE"
}

main() {
  local cmd="${1:-}"
  [[ $# -gt 0 ]] && shift
  case "$cmd" in
    up) cmd_up ;;
    node-image)
      tools
      node_image
      ;;
    down) cmd_down ;;
    load) cmd_load "$@" ;;
    kubeconfig) echo "$KUBECONFIG_FILE" ;;
    kubectl) tools && kctl "$@" ;;
    status) exists ;;
    *) die "usage: $0 up|node-image|down|load [ref...]|kubeconfig|kubectl ...|status" ;;
  esac
}

main "$@"
