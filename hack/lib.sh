#!/usr/bin/env bash
# Shared helpers for hack/ scripts: repo root, cache dir, logging, and the docker client to
# build with. Sourced, never executed.

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# Everything slow to rebuild lives here, outside the repo, keyed by version in its paths.
# Correctness never depends on it: delete it and the next run rebuilds.
POLYETL_CACHE="${POLYETL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/polyetl}"
export REPO_ROOT POLYETL_CACHE

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }
# Echo a command, then run it: scripts show what they do (the way httpx's scripts/ do).
run() { printf '+ %s\n' "$*" >&2; "$@"; }

# The docker client used for builds. BuildKit is required (build secrets, cache mounts).
# A client with the buildx plugin (any laptop) is used as is; otherwise Debian's docker.io
# client, whose built-in BuildKit needs no plugin. Pulled from nowhere either way.
docker_build_client() {
  if [[ -n "${DOCKER:-}" ]]; then
    echo "$DOCKER"
  elif docker buildx version >/dev/null 2>&1; then
    echo docker
  elif [[ -x /usr/bin/docker ]]; then
    echo /usr/bin/docker
  else
    echo docker
  fi
}

# One tag scheme for every image: the short git sha, "-dirty" when the tree has changes,
# never "latest". TAG in the environment wins (CI and releases pin it).
image_tag() {
  if [[ -n "${TAG:-}" ]]; then
    echo "$TAG"
    return
  fi
  local sha
  if ! sha="$(git -C "$REPO_ROOT" rev-parse --short=12 HEAD 2>/dev/null)"; then
    echo "dev"
    return
  fi
  if [[ -n "$(git -C "$REPO_ROOT" status --porcelain --untracked-files=no 2>/dev/null)" ]]; then
    sha="${sha}-dirty"
  fi
  echo "$sha"
}

IMAGE_PREFIX="${IMAGE_PREFIX:-polyetl}"
# The task images, one per language: "<language dir> <tool name>". A new language = one line.
# shellcheck disable=SC2034 # read by the scripts that source this file
TASK_IMAGES=(
  "python pytask"
  "rust rstask"
  "elixir extask"
)
