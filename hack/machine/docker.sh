#!/usr/bin/env bash
# Make sure a Docker engine answers. On our build machines nothing starts dockerd for us, so
# `start` launches Debian's dockerd in the background (log in the cache dir) and waits until
# it answers; on a laptop with Docker Desktop or a systemd-managed engine it does nothing.
set -o errexit -o nounset -o pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

usage() { echo "usage: $0 start|status" >&2; exit 64; }

PID_FILE="$POLYETL_CACHE/dockerd.pid"
CLAMP_RUNTIME="polyetl-runc"

# True when root lacks capabilities the kernel has (a reduced bounding set): then runc fails
# every --privileged container unless dockerd runs them through hack/machine/runc-capclamp.
restricted_caps() {
  local last bnd
  last="$(cat /proc/sys/kernel/cap_last_cap 2>/dev/null)" || return 1
  bnd="$(awk '/^CapBnd:/ {print $2}' /proc/self/status)"
  (((0x$bnd & ((1 << (last + 1)) - 1)) != ((1 << (last + 1)) - 1)))
}

start() {
  local flags=()
  if restricted_caps; then
    mkdir -p "$POLYETL_CACHE/bin"
    install -m 0755 "$REPO_ROOT/hack/machine/runc-capclamp" "$POLYETL_CACHE/bin/$CLAMP_RUNTIME"
    flags=(--add-runtime "$CLAMP_RUNTIME=$POLYETL_CACHE/bin/$CLAMP_RUNTIME" --default-runtime "$CLAMP_RUNTIME")
  fi
  if docker info >/dev/null 2>&1; then
    if [[ ${#flags[@]} -gt 0 && "$(docker info --format '{{.DefaultRuntime}}')" != "$CLAMP_RUNTIME" ]]; then
      if ! { [[ -f "$PID_FILE" ]] && kill -0 "$(<"$PID_FILE")" 2>/dev/null; }; then
        die "this machine's root lacks capabilities (CapBnd) and the running dockerd was not started with hack/machine/runc-capclamp; stop it and rerun 'make setup'"
      fi
      log "docker engine: restarting dockerd with the capability clamp (privileged containers need it here)"
      local pid
      pid="$(<"$PID_FILE")"
      kill "$pid"
      timeout 60 bash -c "while kill -0 $pid 2>/dev/null; do sleep 0.5; done" || die "dockerd ($pid) did not stop"
    else
      log "docker engine: running"
      return
    fi
  fi
  command -v dockerd >/dev/null || die "no Docker engine answers and dockerd is not installed: run 'make setup'"
  mkdir -p "$POLYETL_CACHE"
  log "docker engine: starting dockerd (log: $POLYETL_CACHE/dockerd.log)"
  nohup dockerd "${flags[@]}" >"$POLYETL_CACHE/dockerd.log" 2>&1 &
  echo $! >"$PID_FILE"
  # dockerd has no --wait; poll its API, bounded.
  if ! timeout 90 bash -c 'until docker info >/dev/null 2>&1; do sleep 0.5; done'; then
    tail -20 "$POLYETL_CACHE/dockerd.log" >&2
    die "dockerd did not answer within 90s"
  fi
  log "docker engine: ready"
}

main() {
  [[ $# -eq 1 ]] || usage
  case "$1" in
    start) start ;;
    status) docker info --format 'docker {{.ServerVersion}} ({{.Driver}})' ;;
    *) usage ;;
  esac
}

main "$@"
