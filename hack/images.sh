#!/usr/bin/env bash
# Build the task images, one per language, with one tag scheme (git sha, never "latest").
#
#   images.sh build [name...]   base images first (pulled, or built from Debian packages),
#                               then images/<lang>/Dockerfile with context tasks/<lang>, the
#                               support images (xcom sidecar) and the service images the local
#                               cluster overlay runs (chdb-http, s3-server); names filter
#   images.sh refs              print "<lang> <image ref>" for every task image
#   images.sh budgets           print "<image ref> <size budget in MB>" for every task image
#   images.sh all-refs          print the ref of every image `build` makes
#   images.sh tag               print the tag of this build
#
# A CA bundle for HTTPS inside builds (BUILD_CA_FILE; default: the host's bundle when it
# exists) is passed as the build secret "cacert": never a build arg, never in a layer.
set -o errexit -o nounset -o pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

TAG="$(image_tag)"
BUILD_CA_FILE="${BUILD_CA_FILE:-${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}}"

ref_of() { image_ref "$1" "$TAG"; }

refs() {
  local entry lang tool
  for entry in "${TASK_IMAGES[@]}"; do
    read -r lang tool _ <<<"$entry"
    echo "$lang $(ref_of "$tool")"
  done
}

# The size budgets of hack/lib.sh (TASK_IMAGES), for the contract suite's size test.
budgets() {
  local entry lang tool budget
  for entry in "${TASK_IMAGES[@]}"; do
    read -r lang tool budget <<<"$entry"
    echo "$(ref_of "$tool") $budget"
  done
}

# budget_of <image name>: its size budget in MB (hack/lib.sh TASK_IMAGES); empty for none.
budget_of() {
  local entry lang tool budget
  for entry in "${TASK_IMAGES[@]}"; do
    read -r lang tool budget <<<"$entry"
    if [[ "$tool" == "$1" ]]; then echo "$budget"; fi
  done
}

all_refs() {
  local entry lang tool name
  for entry in "${TASK_IMAGES[@]}"; do
    read -r lang tool _ <<<"$entry"
    ref_of "$tool"
  done
  for name in "${SUPPORT_IMAGES[@]}" "${PLATFORM_IMAGES[@]}" "${SERVICE_IMAGES[@]}"; do ref_of "$name"; done
}

# The build context of a support or service image: images/<name>, except the S3 server's,
# which is a directory holding only its binary (built from the Go module, cached), and
# Airflow's: the root project's lock, manifest, sources and DAGs, nothing else of the repo.
context_of() {
  case "$1" in
    airflow)
      local dir="$POLYETL_CACHE/image-context/airflow"
      rm -rf "$dir" && mkdir -p "$dir"
      (cd "$REPO_ROOT" && cp -r pyproject.toml uv.lock README.md src dags "$dir/")
      find "$dir" -name __pycache__ -type d -prune -exec rm -rf {} +
      echo "$dir"
      ;;
    s3-server)
      local bin dir="$POLYETL_CACHE/image-context/s3-server"
      bin="$("$REPO_ROOT/hack/s3-server.sh" install)"
      rm -rf "$dir" && mkdir -p "$dir" && cp "$bin" "$dir/versitygw"
      echo "$dir"
      ;;
    *) echo "$REPO_ROOT/images/$1" ;;
  esac
}

# build_one <dockerfile dir> <image name> <context dir> [extra build args...]
build_one() {
  local dir="$1" name="$2" context="$3" ref
  shift 3
  ref="$(ref_of "$name")"
  local version="$TAG" revision
  revision="$(git -C "$REPO_ROOT" rev-parse HEAD 2>/dev/null || echo unknown)"
  if [[ "$ref" != *":$TAG" ]]; then
    # Tagged by its content (image_ref): one image per content, whatever the commit.
    if docker image inspect "$ref" >/dev/null 2>&1; then
      log "image $ref: present (tagged by its content)"
      return
    fi
    version="${ref##*:}" revision="content-tagged"
  fi
  local args=(build --file "$REPO_ROOT/images/$dir/Dockerfile" --tag "$ref" "$@"
    --build-arg "VERSION=$version" --build-arg "REVISION=$revision")
  [[ -s "$BUILD_CA_FILE" ]] && args+=(--secret "id=cacert,src=$BUILD_CA_FILE")
  [[ -n "${CI:-}" ]] && args+=(--progress=plain)
  log "image $ref"
  local t0=$SECONDS
  DOCKER_BUILDKIT=1 phase "image: $name" run "$(docker_build_client)" "${args[@]}" "$context"
  log "image $ref: built in $((SECONDS - t0))s"
}

build() {
  "$REPO_ROOT/hack/machine/docker.sh" start
  "$REPO_ROOT/hack/machine/base-images.sh"
  local wanted=("$@") entry lang tool name built=()
  for entry in "${TASK_IMAGES[@]}"; do
    read -r lang tool _ <<<"$entry"
    if [[ ${#wanted[@]} -gt 0 && ! " ${wanted[*]} " == *" $lang "* ]]; then continue; fi
    build_one "$lang" "$tool" "$REPO_ROOT/tasks/$lang" --label "org.polyetl.language=$lang"
    built+=("$tool")
  done
  for name in "${SUPPORT_IMAGES[@]}" "${PLATFORM_IMAGES[@]}" "${SERVICE_IMAGES[@]}"; do
    if [[ ${#wanted[@]} -gt 0 && ! " ${wanted[*]} " == *" $name "* ]]; then continue; fi
    build_one "$name" "$name" "$(context_of "$name")"
    built+=("$name")
  done
  size_table "${built[@]}"
}

# size_table <image name...>: each image's size (MB = 10^6 bytes), and its budget when it has
# one (hack/lib.sh TASK_IMAGES), marked when exceeded: the contract suite fails on that.
size_table() {
  local name ref size budget over=()
  echo
  printf '%-40s %10s %10s\n' IMAGE SIZE BUDGET
  for name in "$@"; do
    ref="$(ref_of "$name")"
    size="$(docker image inspect --format '{{.Size}}' "$ref")"
    budget="$(budget_of "$name")"
    if [[ -n "$budget" ]] && ((size > budget * 1000000)); then over+=("$ref"); fi
    awk -v ref="$ref" -v size="$size" -v budget="$budget" 'BEGIN {
      printf "%-40s %7.1f MB %10s%s\n", ref, size / 1e6, (budget == "" ? "-" : budget " MB"),
        (budget != "" && size > budget * 1e6 ? "  OVER BUDGET" : "") }'
  done
  if ((${#over[@]} > 0)); then
    log "over their size budget (hack/lib.sh TASK_IMAGES): ${over[*]}"
  fi
}

main() {
  local cmd="${1:-build}"
  [[ $# -gt 0 ]] && shift
  case "$cmd" in
    build)
      lock images # another terminal's `make images` or `make demo` may be building them
      build "$@"
      ;;
    refs) refs ;;
    budgets) budgets ;;
    all-refs) all_refs ;;
    tag) echo "$TAG" ;;
    *) echo "usage: $0 build [name...] | refs | budgets | all-refs | tag" >&2; exit 64 ;;
  esac
}

main "$@"
