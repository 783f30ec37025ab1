#!/usr/bin/env bash
# The S3-compatible server every test level talks to: Versity Gateway (versitygw) with its
# posix backend, built from its Go module at a pinned version (no image pull, no GitHub).
# Why this server and what it does and doesn't do: docs/s3-server.md.
#
#   hack/s3-server.sh install   build the pinned binary into the cache (once per version)
#   hack/s3-server.sh start     start it on 127.0.0.1:$S3_PORT with fresh data and new keys
#   hack/s3-server.sh stop      stop it and delete its state (data, keys, log)
#   hack/s3-server.sh status    say whether it runs
#   hack/s3-server.sh env       print the env file's path: set -a; . "$(hack/s3-server.sh env)"; set +a
set -o errexit -o nounset -o pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# The pin. A new version = change this line, rerun the tests, update docs/s3-server.md.
VGW_VERSION="v1.8.0"
VGW_MODULE="github.com/versity/versitygw/cmd/versitygw"

S3_PORT="${S3_PORT:-39000}"
S3_REGION="us-east-1"
S3_STATE_DIR="${S3_STATE_DIR:-$POLYETL_CACHE/s3-state}"
# Object metadata store: auto (xattrs when the data dir's filesystem takes user xattrs,
# else a sidecar dir), xattr, or sidecar.
S3_META="${S3_META:-auto}"
S3_START_TIMEOUT="${S3_START_TIMEOUT:-30}"
S3_STOP_TIMEOUT="${S3_STOP_TIMEOUT:-15}"

BIN_DIR="$POLYETL_CACHE/s3/versitygw-$VGW_VERSION/bin"
BIN="$BIN_DIR/versitygw"
ENV_FILE="$S3_STATE_DIR/s3.env"
PID_FILE="$S3_STATE_DIR/server.pid"
LOG_FILE="$S3_STATE_DIR/server.log"
# Only a dir holding this marker is ever deleted by stop (S3_STATE_DIR may be set by hand).
MARKER="$S3_STATE_DIR/.polyetl-s3-state"
# Not a valid bucket name (underscore), so it never shadows a ListObjects on a bucket.
HEALTH_PATH="/_health"

usage() {
  cat <<EOF
usage: hack/s3-server.sh <command>

A local S3-compatible server (Versity Gateway $VGW_VERSION, posix backend) for tests.

commands:
  install   build $VGW_MODULE@$VGW_VERSION into
            $BIN_DIR (skipped when there); print the binary's path
  start     install if needed, start on 127.0.0.1:\$S3_PORT with an empty data dir and
            random keys, wait until it answers, print the env file's path (no-op if running)
  stop      stop the server started by start, delete its state dir (no-op if not running)
  status    exit 0 and say so if it runs, else exit 1
  env       print the env file's path; load it with: set -a; . "\$(hack/s3-server.sh env)"; set +a

environment:
  S3_PORT           listen port on 127.0.0.1 (default 39000)
  S3_STATE_DIR      data, keys, pid and log (default \$POLYETL_CACHE/s3-state; one per server)
  S3_META           auto|xattr|sidecar: where object metadata lives (default auto)
  S3_START_TIMEOUT  seconds to wait for the server to answer (default 30)
  S3_STOP_TIMEOUT   seconds to wait for it to exit before SIGKILL (default 15)
  POLYETL_CACHE     build cache root (default \${XDG_CACHE_HOME:-\$HOME/.cache}/polyetl)
EOF
}

# ---------------------------------------------------------------------------------------- install

cmd_install() {
  lock s3-server-build # the tests and the image build may ask for it at once
  if [[ -x "$BIN" ]]; then
    echo "$BIN"
    return
  fi
  command -v go >/dev/null || die "go is needed to build versitygw (the module asks for go >= 1.25)"
  log "building versitygw $VGW_VERSION (cold: about 2 minutes on 2 cores; cached after)"
  # Module and build caches live in the cache too, so a rebuild (new version, deleted bin)
  # compiles only what changed. -modcacherw keeps the cache deletable with a plain rm -rf.
  local tmp_bin="$BIN_DIR.tmp.$$"
  rm -rf "$tmp_bin"
  mkdir -p "$tmp_bin" "$POLYETL_CACHE/go/mod" "$POLYETL_CACHE/go/build"
  # CGO off, as upstream's own Dockerfile builds it: a static binary, no C toolchain needed.
  phase_mark begin "S3 server: go install versitygw"
  if ! GOBIN="$tmp_bin" GOMODCACHE="$POLYETL_CACHE/go/mod" GOCACHE="$POLYETL_CACHE/go/build" \
    GOFLAGS="${GOFLAGS:-} -modcacherw" CGO_ENABLED=0 \
    heartbeat "go install versitygw" run go install -trimpath -ldflags="-s -w -X=main.Version=$VGW_VERSION" \
    "$VGW_MODULE@$VGW_VERSION"; then
    rm -rf "$tmp_bin"
    die "go install $VGW_MODULE@$VGW_VERSION failed"
  fi
  phase_mark end "S3 server: go install versitygw"
  # Appear whole or not at all: an interrupted build never leaves a half binary at $BIN.
  rm -rf "$BIN_DIR"
  mv "$tmp_bin" "$BIN_DIR"
  echo "$BIN"
}

# ------------------------------------------------------------------------------------ processes

# The pid from the pid file if that process is alive, is not a zombie, and is versitygw.
server_pid() {
  [[ -f "$PID_FILE" ]] || return 1
  local pid state
  pid="$(<"$PID_FILE")"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  # A zombie (exited, not yet reaped by whoever inherited it) counts as gone.
  state="$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null || true)"
  [[ "$state" != "Z" ]] || return 1
  # Guards against a recycled pid: never signal a process that isn't our server.
  if [[ -r "/proc/$pid/cmdline" ]]; then
    tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q versitygw || return 1
  fi
  echo "$pid"
}

# 0 when the health endpoint answers 200 (or, without curl, when the port accepts).
answers() {
  local port="$1"
  if command -v curl >/dev/null; then
    curl --silent --fail --output /dev/null --max-time 2 "http://127.0.0.1:$port$HEALTH_PATH"
  else
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null
  fi
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# 0 when the filesystem holding $1 takes user.* extended attributes (the default metadata
# store). tmpfs before Linux 6.6 and some overlay setups don't.
xattr_ok() {
  local probe="$1/.xattr-probe"
  : >"$probe"
  local rc=1
  if command -v python3 >/dev/null; then
    python3 -c 'import os, sys; os.setxattr(sys.argv[1], "user.polyetl.probe", b"1")' \
      "$probe" 2>/dev/null && rc=0
  elif command -v setfattr >/dev/null; then
    setfattr -n user.polyetl.probe -v 1 "$probe" 2>/dev/null && rc=0
  fi
  rm -f "$probe"
  return "$rc"
}

# ------------------------------------------------------------------------------------- commands

cmd_start() {
  local pid
  if pid="$(server_pid)"; then
    echo "s3 server already running (pid $pid); env file: $ENV_FILE" >&2
    echo "$ENV_FILE"
    return
  fi
  [[ "$S3_PORT" =~ ^[0-9]+$ ]] || die "S3_PORT must be a number, got '$S3_PORT'"
  port_in_use "$S3_PORT" && die "port $S3_PORT on 127.0.0.1 is taken by something else: set S3_PORT"
  cmd_install >/dev/null

  # A fresh state dir every start: no objects or keys survive from an earlier run.
  if [[ -d "$S3_STATE_DIR" && -n "$(ls -A "$S3_STATE_DIR")" && ! -f "$MARKER" ]]; then
    die "$S3_STATE_DIR is not empty and was not made by this script: set S3_STATE_DIR"
  fi
  rm -rf "$S3_STATE_DIR"
  (umask 077 && mkdir -p "$S3_STATE_DIR/data")
  : >"$MARKER"

  local meta_args=() meta="$S3_META"
  if [[ "$meta" == auto ]]; then
    if xattr_ok "$S3_STATE_DIR/data"; then meta=xattr; else meta=sidecar; fi
  fi
  case "$meta" in
    xattr) ;;
    sidecar)
      mkdir -p "$S3_STATE_DIR/meta"
      meta_args=(--sidecar "$S3_STATE_DIR/meta")
      ;;
    *) die "S3_META must be auto, xattr or sidecar, got '$S3_META'" ;;
  esac

  # New keys every start; they go to the env file (mode 600) and the server's environment,
  # never to a command line (visible in ps) or the log.
  local access secret
  access="PE$(random_hex 9 | tr 'a-f' 'A-F')"
  secret="$(random_hex 20)"
  (
    umask 077
    cat >"$ENV_FILE" <<EOF
AWS_ACCESS_KEY_ID=$access
AWS_SECRET_ACCESS_KEY=$secret
AWS_REGION=$S3_REGION
AWS_DEFAULT_REGION=$S3_REGION
S3_ENDPOINT_URL=http://127.0.0.1:$S3_PORT
AWS_ENDPOINT_URL_S3=http://127.0.0.1:$S3_PORT
EOF
  )

  log "starting versitygw $VGW_VERSION on 127.0.0.1:$S3_PORT (metadata: $meta, state: $S3_STATE_DIR)"
  # setsid: its own session, so a Ctrl-C or hangup meant for the caller doesn't reach it
  # (not on macOS, which has no setsid: there it shares the caller's session).
  local detach=()
  command -v setsid >/dev/null && detach=(setsid)
  (
    export ROOT_ACCESS_KEY_ID="$access" ROOT_SECRET_ACCESS_KEY="$secret"
    exec "${detach[@]}" "$BIN" --port "127.0.0.1:$S3_PORT" --region "$S3_REGION" \
      --health "$HEALTH_PATH" --quiet posix "${meta_args[@]}" "$S3_STATE_DIR/data" \
      </dev/null >"$LOG_FILE" 2>&1
  ) &
  echo "$!" >"$PID_FILE"

  # Bounded wait: give up after S3_START_TIMEOUT, or at once if the server has exited.
  local deadline=$((SECONDS + S3_START_TIMEOUT))
  until answers "$S3_PORT"; do
    if ! server_pid >/dev/null; then
      tail -n 30 "$LOG_FILE" >&2 || true
      die "versitygw exited during start-up (log above: $LOG_FILE)"
    fi
    if ((SECONDS >= deadline)); then
      tail -n 30 "$LOG_FILE" >&2 || true
      cmd_stop >/dev/null 2>&1 || true
      die "versitygw did not answer on 127.0.0.1:$S3_PORT within ${S3_START_TIMEOUT}s"
    fi
    sleep 0.1
  done
  log "s3 server ready: http://127.0.0.1:$S3_PORT (pid $(<"$PID_FILE"))"
  echo "$ENV_FILE"
}

cmd_stop() {
  local pid
  if pid="$(server_pid)"; then
    log "stopping s3 server (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    local deadline=$((SECONDS + S3_STOP_TIMEOUT))
    while server_pid >/dev/null; do
      if ((SECONDS >= deadline)); then
        log "still running after ${S3_STOP_TIMEOUT}s: SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
        sleep 0.5
        break
      fi
      sleep 0.1
    done
  else
    log "s3 server not running"
  fi
  if [[ -d "$S3_STATE_DIR" ]]; then
    if [[ -f "$MARKER" ]]; then
      rm -rf "$S3_STATE_DIR"
    else
      log "leaving $S3_STATE_DIR alone: not made by this script"
    fi
  fi
}

cmd_status() {
  local pid
  if pid="$(server_pid)"; then
    echo "running: pid $pid, $(grep '^S3_ENDPOINT_URL=' "$ENV_FILE" | cut -d= -f2-), env file $ENV_FILE"
  else
    echo "not running"
    return 1
  fi
}

cmd_env() {
  if [[ ! -f "$ENV_FILE" ]] || ! server_pid >/dev/null; then
    die "s3 server not running (state dir $S3_STATE_DIR): run hack/s3-server.sh start"
  fi
  echo "$ENV_FILE"
}

main() {
  local cmd="${1:-}"
  case "$cmd" in
    install) cmd_install ;;
    start) cmd_start ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    env) cmd_env ;;
    -h | --help | help)
      usage
      ;;
    "")
      usage >&2
      exit 2
      ;;
    *)
      usage >&2
      die "unknown command: $cmd"
      ;;
  esac
}

main "$@"
