#!/usr/bin/env bash
# Build the task images, one per language, with one tag scheme (git sha, never "latest").
#
#   images.sh build [name...]   base images first (pulled, or built from Debian packages),
#                               then images/<lang>/Dockerfile with context tasks/<lang>, the
#                               support images (xcom sidecar) and the service images the local
#                               cluster overlay runs (chdb-http, s3-server); names filter
#   images.sh refs              print "<lang> <image ref>" for every task image
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
    read -r lang tool <<<"$entry"
    echo "$lang $(ref_of "$tool")"
  done
}

all_refs() {
  local entry lang tool name
  for entry in "${TASK_IMAGES[@]}"; do
    read -r lang tool <<<"$entry"
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
    read -r lang tool <<<"$entry"
    if [[ ${#wanted[@]} -gt 0 && ! " ${wanted[*]} " == *" $lang "* ]]; then continue; fi
    build_one "$lang" "$tool" "$REPO_ROOT/tasks/$lang" --label "org.polyetl.language=$lang"
    built+=("$(ref_of "$tool")")
  done
  for name in "${SUPPORT_IMAGES[@]}" "${PLATFORM_IMAGES[@]}" "${SERVICE_IMAGES[@]}"; do
    if [[ ${#wanted[@]} -gt 0 && ! " ${wanted[*]} " == *" $name "* ]]; then continue; fi
    build_one "$name" "$name" "$(context_of "$name")"
    built+=("$(ref_of "$name")")
  done
  echo
  printf '%-40s %s\n' IMAGE SIZE
  local ref
  for ref in "${built[@]}"; do
    printf '%-40s %s\n' "$ref" "$(docker image inspect --format '{{.Size}}' "$ref" | awk '{printf "%.1f MB", $1/1000/1000}')"
  done
}

main() {
  local cmd="${1:-build}"
  [[ $# -gt 0 ]] && shift
  case "$cmd" in
    build) build "$@" ;;
    refs) refs ;;
    all-refs) all_refs ;;
    tag) echo "$TAG" ;;
    *) echo "usage: $0 build [name...] | refs | all-refs | tag" >&2; exit 64 ;;
  esac
}

main "$@"
