#!/usr/bin/env bash
# Install what the project needs on a fresh Debian 12 machine, then start the Docker engine.
# Safe to re-run: each step checks first and does nothing when already satisfied.
#
#   Debian packages: docker.io (engine), debootstrap (local base images), Elixir/Erlang
#     with dialyzer, build tools, Chromium (the browser test of Airflow's UI drives it
#     through Playwright; Playwright's own browser download can't work without the internet).
#   Python: uv (pinned), then the root and tasks/python environments from their lock files.
#   Rust and Go toolchains are expected on the machine (rustup / Go); this checks them.
set -o errexit -o nounset -o pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

UV_VERSION="${UV_VERSION:-0.13.9}"
APT_PACKAGES=(
  docker.io iptables debootstrap ca-certificates curl git make gcc libc6-dev
  elixir erlang-nox erlang-dev erlang-dialyzer erlang-src shellcheck jq
  chromium fonts-dejavu-core
)

apt_packages() {
  local missing=() p
  for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [[ ${#missing[@]} -eq 0 ]]; then
    log "debian packages: present"
    return
  fi
  [[ $EUID -eq 0 ]] || die "missing Debian packages (${missing[*]}): run as root or install them"
  log "debian packages: installing ${missing[*]}"
  heartbeat "apt-get update" run apt-get update -qq
  DEBIAN_FRONTEND=noninteractive heartbeat "apt-get install" run apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

python_tools() {
  if [[ "$(uv --version 2>/dev/null | awk '{print $2}')" != "$UV_VERSION" ]]; then
    log "uv: installing $UV_VERSION"
    run python3 -m pip install -q "uv==$UV_VERSION"
  fi
  log "python: syncing locked environments"
  (cd "$REPO_ROOT" && heartbeat "uv sync (root)" run uv sync --frozen -q)
  (cd "$REPO_ROOT/tasks/python" && heartbeat "uv sync (tasks/python)" run uv sync --frozen -q)
}

toolchains() {
  command -v cargo >/dev/null || die "cargo not found: install Rust with rustup (stable, with clippy and rustfmt)"
  cargo clippy --version >/dev/null 2>&1 || die "clippy missing: rustup component add clippy"
  cargo fmt --version >/dev/null 2>&1 || die "rustfmt missing: rustup component add rustfmt"
  command -v go >/dev/null || die "go not found: the S3 server is built from its Go module"
  log "toolchains: $(cargo --version | cut -d' ' -f1-2), $(go version | cut -d' ' -f3), elixir $(elixir --version | tail -1 | cut -d' ' -f2)"
}

main() {
  phase "setup: Debian packages" apt_packages
  toolchains
  phase "setup: Python environments" python_tools
  phase "setup: Docker engine" "$REPO_ROOT/hack/machine/docker.sh" start
}

main "$@"
