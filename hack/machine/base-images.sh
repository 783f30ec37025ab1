#!/usr/bin/env bash
# Make sure every base image the Dockerfiles name exists in the local Docker engine.
#
# On a connected laptop they are pulled. Where no registry can be reached, each is built from
# Debian packages (debootstrap -> docker import) and tagged with the same name, so the
# Dockerfiles stay the same everywhere. BASE_IMAGES=pull|local|auto (default auto: pull,
# and build locally when the pull fails).
set -o errexit -o nounset -o pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

RUST_VERSION="${RUST_VERSION:-1.95}"
MODE="${BASE_IMAGES:-auto}"

DEBIAN_IMAGE="debian:12-slim"
PYTHON_IMAGE="python:3.11-slim-bookworm"
RUST_IMAGE="rust:${RUST_VERSION}-slim-bookworm"
ELIXIR_IMAGE="elixir:1.14-otp-25-slim"

WORK=""
cleanup() { [[ -n "$WORK" ]] && rm -rf "$WORK"; return 0; }
trap cleanup EXIT

have_image() { docker image inspect "$1" >/dev/null 2>&1; }

bootstrap() { debootstrap_rootfs "$1" "$2" "$WORK/debootstrap.log"; }

build_debian() {
  local dir="$WORK/debian"
  bootstrap "$dir" ""
  import_rootfs "$dir" "$DEBIAN_IMAGE" 'CMD ["bash"]'
}

build_python() {
  local dir="$WORK/python"
  bootstrap "$dir" "python3,python3-venv,ca-certificates"
  # The official image's interpreter lives in /usr/local/bin; Dockerfiles may rely on it.
  ln -sf /usr/bin/python3 "$dir/usr/local/bin/python3"
  ln -sf /usr/bin/python3 "$dir/usr/local/bin/python"
  import_rootfs "$dir" "$PYTHON_IMAGE" "ENV LANG=C.UTF-8" 'CMD ["bash"]'
}

build_rust() {
  local sysroot version
  sysroot="$(rustc --print sysroot)" || die "rustc not found: the local $RUST_IMAGE is made from the host's toolchain"
  version="$(rustc --version | awk '{print $2}')"
  [[ "$version" == "$RUST_VERSION".* ]] ||
    die "expected host rustc $RUST_VERSION.x to build $RUST_IMAGE, got: $version"
  local dir="$WORK/rust"
  bootstrap "$dir" "gcc,libc6-dev,ca-certificates,pkg-config"
  # Same layout as the official image: RUSTUP_HOME=/usr/local/rustup, CARGO_HOME=/usr/local/cargo.
  local tc="$dir/usr/local/rustup/toolchains/${version}-x86_64-unknown-linux-gnu"
  mkdir -p "$tc" "$dir/usr/local/cargo/bin"
  tar -C "$sysroot" -c --exclude=./share/doc . | tar -C "$tc" -x
  local b
  for b in "$tc"/bin/*; do ln -sf "${b#"$dir"}" "$dir/usr/local/cargo/bin/$(basename "$b")"; done
  import_rootfs "$dir" "$RUST_IMAGE" \
    "ENV RUSTUP_HOME=/usr/local/rustup" "ENV CARGO_HOME=/usr/local/cargo" \
    "ENV PATH=/usr/local/cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
    "ENV RUST_VERSION=$version" 'CMD ["bash"]'
}

build_elixir() {
  local dir="$WORK/elixir"
  bootstrap "$dir" "elixir,erlang-nox,erlang-dev,ca-certificates"
  import_rootfs "$dir" "$ELIXIR_IMAGE" "ENV LANG=C.UTF-8" 'CMD ["iex"]'
}

ensure() {
  local name="$1" builder="$2"
  if have_image "$name"; then
    log "base image $name: present"
    return
  fi
  if [[ "$MODE" != local ]] && timeout 60 docker pull "$name" >/dev/null 2>&1; then
    log "base image $name: pulled"
    return
  fi
  [[ "$MODE" == pull ]] && die "could not pull $name and BASE_IMAGES=pull"
  log "base image $name: building from Debian $DEBIAN_SUITE packages"
  local t0=$SECONDS
  phase "base image: $name" "$builder"
  log "base image $name: built in $((SECONDS - t0))s"
}

main() {
  case "$MODE" in auto | pull | local) ;; *) die "expected BASE_IMAGES to be one of auto, pull, local, got: \"$MODE\"" ;; esac
  lock base-images
  WORK="$(mktemp -d)"
  ensure "$DEBIAN_IMAGE" build_debian
  ensure "$PYTHON_IMAGE" build_python
  ensure "$RUST_IMAGE" build_rust
  ensure "$ELIXIR_IMAGE" build_elixir
}

main "$@"
