#!/usr/bin/env bash
# Make sure a Docker engine answers. On our build machines nothing starts dockerd for us, so
# `start` launches Debian's dockerd in the background (log in the cache dir) and waits until
# it answers; on a laptop with Docker Desktop or a systemd-managed engine it does nothing.
set -o errexit -o nounset -o pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() { echo "usage: $0 start|status" >&2; exit 64; }

start() {
  if docker info >/dev/null 2>&1; then
    log "docker engine: running"
    return
  fi
  command -v dockerd >/dev/null || die "no Docker engine answers and dockerd is not installed: run 'make setup'"
  mkdir -p "$POLYETL_CACHE"
  log "docker engine: starting dockerd (log: $POLYETL_CACHE/dockerd.log)"
  nohup dockerd >"$POLYETL_CACHE/dockerd.log" 2>&1 &
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
