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
# until_true <tries> <command...>: retry every 0.2 s until the command succeeds; 1 if never.
until_true() {
  local tries="$1"
  shift
  while ((tries-- > 0)); do
    "$@" && return 0
    sleep 0.2
  done
  return 1
}

# heartbeat <label> <command...>: run the command; while it runs, say so every
# $HEARTBEAT_S (30) seconds with the time elapsed, so a long silent step (a Go build, an image
# load, a wait) never looks like a hang. The command's exit status is returned.
heartbeat() {
  local label="$1" t0 beat rc=0
  shift
  t0="$(date +%s)"
  (while sleep "${HEARTBEAT_S:-30}"; do log "$label: still working ($(($(date +%s) - t0))s)"; done) &
  beat=$!
  "$@" || rc=$?
  kill "$beat" 2>/dev/null || true
  wait "$beat" 2>/dev/null || true
  return "$rc"
}

# phase <name> <command...>: run the command as one timed phase of a run. When POLYETL_PHASES
# names a file (.ci/run sets it), a "begin" and an "end" line go there, and hack/phases.sh
# prints them as a table. A failing command ends the script (errexit) before its "end": the
# table shows that phase as failed. POLYETL_PHASE_PREFIX, when set, starts every name (the
# template test's copy marks its phases "template: ..."). Never call it after || or && (errexit would be off).
phase() {
  local name="$1"
  shift
  phase_mark begin "$name"
  "$@"
  phase_mark end "$name"
}
phase_mark() {
  [[ -n "${POLYETL_PHASES:-}" ]] || return 0
  printf '%s\t%s\t%s%s\n' "$(date +%s.%N)" "$1" "${POLYETL_PHASE_PREFIX:-}" "$2" >>"$POLYETL_PHASES"
}

# to_log <file> <command...>: the command's output (both streams) into the file.
to_log() {
  local file="$1"
  shift
  "$@" >"$file" 2>&1
}

# random_hex <bytes>: that many random bytes as lowercase hex (keys and passwords).
random_hex() { od -An -N"$1" -tx1 /dev/urandom | tr -d ' \n'; }

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

# lock <name> / unlock <name>: take the lock $POLYETL_CACHE/locks/<name> (waiting while another
# run holds it) / give it back; a script's locks are given back when it exits. Runs that
# share the cache (the e2e cluster made in the background by `make test`, `make demo` in
# another terminal) take turns instead of building the same thing twice at once.
declare -A POLYETL_LOCKS=()
lock() {
  local name="$1" fd
  mkdir -p "$POLYETL_CACHE/locks"
  exec {fd}>"$POLYETL_CACHE/locks/$name"
  if ! flock --nonblock "$fd"; then
    log "$name: another run is building it; waiting for that run"
    flock "$fd"
  fi
  POLYETL_LOCKS[$name]="$fd"
}
unlock() {
  local fd="${POLYETL_LOCKS[$1]:?unlock $1: not locked}"
  exec {fd}>&-
  unset "POLYETL_LOCKS[$1]"
}

IMAGE_PREFIX="${IMAGE_PREFIX:-polyetl}"

# image_ref <name> <build tag>: the ref of one of this project's images. PostgreSQL is tagged
# by its major version and a hash of its build files instead of the build's tag, so a deploy
# of a new build leaves the metadata database's pod (and Airflow's run history) alone unless
# that image itself changed.
image_ref() {
  case "$1" in
    postgres) echo "$IMAGE_PREFIX/postgres:15-$(cat "$REPO_ROOT"/images/postgres/* | sha256sum | cut -c1-12)" ;;
    *) echo "$IMAGE_PREFIX/$1:$2" ;;
  esac
}
# The task images, one per language: "<language dir> <tool name> <size budget>". A new
# language = one line. The budget is in whole MB (10^6 bytes of `docker image inspect`'s
# .Size): `images.sh build` marks an image over it, and the contract suite fails on it
# (tests/contract/test_image_size.py). What the sizes are made of: each Dockerfile's head.
# shellcheck disable=SC2034 # read by the scripts that source this file
TASK_IMAGES=(
  "python pytask 200"
  "rust rstask 30"
  "elixir extask 80"
)
# Images the platform needs besides the tasks (context: images/<name>), same tag scheme.
# xcom-sidecar replaces the KubernetesPodOperator's default alpine sidecar (not pullable here).
# shellcheck disable=SC2034
SUPPORT_IMAGES=(
  "xcom-sidecar"
)
# Airflow itself (api-server, scheduler, dag-processor, triggerer, workers), from the root lock
# with taskpods and the DAGs inside: the same image on every cluster (no official equivalent).
# shellcheck disable=SC2034
PLATFORM_IMAGES=(
  "airflow"
)
# The services the pipelines talk to, for clusters that can't pull their official images
# (k8s/overlays/local): ClickHouse's HTTP interface over chDB, the S3 server, and PostgreSQL
# (Airflow's metadata database) from Debian's packages.
# shellcheck disable=SC2034
SERVICE_IMAGES=(
  "chdb-http"
  "s3-server"
  "postgres"
)

# ---------------------------------------------------------------- rootfs from Debian packages

DEBIAN_SUITE="${DEBIAN_SUITE:-bookworm}"
DEBIAN_MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"

# debootstrap_rootfs <dir> <comma-separated packages> <log file>: a minimal Debian rootfs
# with extra packages; the .debs are cached in $POLYETL_CACHE/debootstrap-debs.
debootstrap_rootfs() {
  local dir="$1" include="$2" logfile="$3"
  command -v debootstrap >/dev/null || die "debootstrap is needed (apt-get install debootstrap, or make setup)"
  mkdir -p "$POLYETL_CACHE/debootstrap-debs"
  local args=(--variant=minbase "--cache-dir=$POLYETL_CACHE/debootstrap-debs")
  [[ -n "$include" ]] && args+=("--include=$include")
  lock debootstrap-debs # one debootstrap at a time fills the shared .deb cache
  heartbeat "debootstrap $(basename "$dir")" to_log "$logfile" run debootstrap "${args[@]}" "$DEBIAN_SUITE" "$dir" "$DEBIAN_MIRROR" ||
    { tail -20 "$logfile" >&2; die "debootstrap failed for $dir (log: $logfile)"; }
  unlock debootstrap-debs
  # What the official slim images leave out: apt lists, docs, man pages.
  rm -rf "$dir"/var/lib/apt/lists/* "$dir"/var/cache/apt/*.bin "$dir"/usr/share/doc/* \
    "$dir"/usr/share/man/* "$dir"/usr/share/info/*
}

# import_rootfs <dir> <image name> [--change line...]: docker import a rootfs directory.
import_rootfs() {
  local dir="$1" name="$2"
  shift 2
  local changes=(--change "LABEL org.polyetl.local-base=true") c
  for c in "$@"; do changes+=(--change "$c"); done
  tar --numeric-owner -C "$dir" -c . | run docker import "${changes[@]}" - "$name" >/dev/null
}
