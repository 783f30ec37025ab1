#!/usr/bin/env bash
# Build a kind node image from source when none can be pulled (no registry on the machine).
#
#   hack/machine/kind-node.sh image     make sure the node image exists; print its name
#   hack/machine/kind-node.sh binaries  only build the Go binaries (into the cache)
#   hack/machine/kind-node.sh tools     only kind and kubectl (with the rest of the Kubernetes build)
#   hack/machine/kind-node.sh name      print the node image name this recipe produces
#
# What kind's own `kind build node-image` + `kindest/base` do, from what this machine can
# reach (Go module proxy, Debian packages):
#   1. Go binaries from their modules, each through a small wrapper module so the pinned
#      versions (and, for Kubernetes, every k8s.io staging module) resolve: Kubernetes
#      (kubeadm, kubelet, kubectl, kube-apiserver, kube-controller-manager, kube-scheduler,
#      kube-proxy, with the version ldflags kubeadm reads), etcd, CoreDNS, kind itself;
#      the pause binary from Kubernetes' own pause.c, linked static.
#   2. One image per control-plane component, tagged exactly as `kubeadm config images
#      list` and containerd's sandbox_image name them, saved as archives.
#   3. The base: Debian bookworm (debootstrap -> docker import) with systemd, containerd,
#      runc, CNI plugins from Debian packages, plus kind's base files (entrypoint, systemd
#      units, containerd config) taken from kind's Go module at the pinned version.
#   4. The node: base + Kubernetes binaries + /kind/version, the image archives imported
#      into containerd inside a running build container, then `docker commit`.
# Every artifact is cached in $POLYETL_CACHE/kind/, keyed by the versions that make it.
set -o errexit -o nounset -o pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
source "$REPO_ROOT/hack/kind-versions.sh"

# GONOSUMDB: the checksum database answers 404 for some k8s.io staging modules (seen for
# k8s.io/kube-proxy v0.30.14) though the module proxy serves them; those are taken on the
# proxy's TLS alone. Every other module is verified against sum.golang.org as usual.
GO_ENV=(GOMODCACHE="$POLYETL_CACHE/go/mod" GOCACHE="$POLYETL_CACHE/go/build"
  GOFLAGS="-modcacherw -mod=mod" CGO_ENABLED=0 GOTOOLCHAIN=local GONOSUMDB=k8s.io)
BIN_ROOT="$POLYETL_CACHE/kind/bin"

# --------------------------------------------------------------------------- Go binaries

# go_build <dir name> <module> <version> <ldflags> <package>...: builds the packages of a
# pinned module through a throwaway wrapper module, into $BIN_ROOT/<dir name>/ (atomic:
# the directory appears whole or not at all). Extra `replace` lines come on stdin.
go_build() {
  local name="$1" module="$2" version="$3" ldflags="$4"
  shift 4
  local out="$BIN_ROOT/$name" replaces
  replaces="$(cat)" # read before any early return, or the writer dies of SIGPIPE
  if [[ -f "$out/.done" ]]; then
    return
  fi
  local work="$POLYETL_CACHE/kind/work/$name"
  rm -rf "$work" "$out.tmp"
  mkdir -p "$work" "$out.tmp" "$POLYETL_CACHE/go/mod" "$POLYETL_CACHE/go/build"
  {
    echo "module polyetl.invalid/build/$name"
    echo
    echo "go 1.22"
    echo
    echo "require $module $version"
    echo "$replaces"
  } >"$work/go.mod"
  printf 'package build\n\nimport _ "%s"\n' "$1" >"$work/tools.go"
  log "go build $name ($module $version): $*"
  local t0=$SECONDS
  # -mod=mod lets the build record go.sum itself (no `go mod tidy`, which would fetch the
  # test dependencies of the whole module graph).
  (cd "$work" && heartbeat "go build $name" run env "${GO_ENV[@]}" go build -trimpath -ldflags="$ldflags" -o "$out.tmp/" "$@")
  touch "$out.tmp/.done"
  rm -rf "$out"
  mv "$out.tmp" "$out"
  log "go build $name: $((SECONDS - t0))s"
}

build_kubernetes() {
  local mod="$POLYETL_CACHE/go/mod/cache/download/k8s.io/kubernetes/@v/$K8S_VERSION.mod"
  if [[ ! -f "$BIN_ROOT/kubernetes-$K8S_VERSION/.done" && ! -f "$mod" ]]; then
    (cd /tmp && heartbeat "go mod download k8s.io/kubernetes" run env "${GO_ENV[@]}" go mod download k8s.io/kubernetes@"$K8S_VERSION")
  fi
  local minor="${K8S_VERSION#v1.}"
  minor="${minor%%.*}"
  local pkg x flags=""
  # The values kubeadm and `kubectl version` read; "clean" so kubeadm trusts the version.
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    for x in "gitVersion=$K8S_VERSION" "gitMajor=1" "gitMinor=$minor" \
      "gitCommit=$K8S_GIT_COMMIT" "gitTreeState=clean" "buildDate=$K8S_BUILD_DATE"; do
      flags+=" -X $pkg.$x"
    done
  done
  # The staging modules are `replace`d to ./staging in kubernetes' go.mod, which a
  # dependent module ignores: pin each to its published v0.<minor>.<patch> instead.
  sed -n 's#^\s*\(k8s.io/[a-z0-9-]*\) => ./staging/src/.*#\1#p' "$mod" |
    awk -v v="v0.${K8S_VERSION#v1.}" 'BEGIN {print "\nreplace ("} {print "\t" $1 " => " $1 " " v} END {print ")"}' |
    go_build "kubernetes-$K8S_VERSION" k8s.io/kubernetes "$K8S_VERSION" "-s -w$flags" \
      k8s.io/kubernetes/cmd/kubeadm k8s.io/kubernetes/cmd/kubelet k8s.io/kubernetes/cmd/kubectl \
      k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
      k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kube-proxy
}

build_etcd() {
  go_build "etcd-$ETCD_VERSION" go.etcd.io/etcd/server/v3 "$ETCD_VERSION" \
    "-s -w -X go.etcd.io/etcd/api/v3/version.GitSHA=polyetl" go.etcd.io/etcd/server/v3 </dev/null
  # go names the binary of .../server/v3 "server".
  local dir="$BIN_ROOT/etcd-$ETCD_VERSION"
  [[ -x "$dir/etcd" ]] || mv "$dir/server" "$dir/etcd"
}

build_coredns() {
  go_build "coredns-$COREDNS_VERSION" github.com/coredns/coredns "$COREDNS_VERSION" \
    "-s -w -X github.com/coredns/coredns/coremain.GitCommit=polyetl" github.com/coredns/coredns </dev/null
}

build_kind() {
  go_build "kind-$KIND_VERSION" sigs.k8s.io/kind "$KIND_VERSION" "-s -w" sigs.k8s.io/kind </dev/null
}

# The pause container: Kubernetes' own pause.c (from the module just downloaded), static.
build_pause() {
  local out="$BIN_ROOT/pause-$K8S_VERSION"
  [[ -f "$out/.done" ]] && return
  local src="$POLYETL_CACHE/go/mod/k8s.io/kubernetes@$K8S_VERSION/build/pause/linux/pause.c"
  [[ -f "$src" ]] || die "pause.c not found at $src (build the Kubernetes binaries first)"
  rm -rf "$out" && mkdir -p "$out"
  run gcc -Os -Wall -Werror -static -DVERSION="${PAUSE_TAGS[0]}-polyetl" -o "$out/pause" "$src"
  strip "$out/pause"
  touch "$out/.done"
}

binaries() {
  build_kubernetes
  build_etcd
  build_coredns
  build_kind
  build_pause
}

# ------------------------------------------------------------------ component images

IMAGES_DIR="$POLYETL_CACHE/kind/images/$K8S_VERSION"

# image_from <context dir> <dockerfile text> <tag>...: build, then save all tags to one archive.
image_from() {
  local ctx="$1" dockerfile="$2"
  shift 2
  local tags=() t
  for t in "$@"; do tags+=(--tag "$t"); done
  printf '%s\n' "$dockerfile" >"$ctx/Dockerfile"
  DOCKER_BUILDKIT=1 heartbeat "docker build $(basename "$ctx")" run "$(docker_build_client)" build --quiet "${tags[@]}" "$ctx" >/dev/null
  run docker save --output "$IMAGES_DIR.tmp/$(basename "$ctx").tar" "$@"
}

# Static Go binary in an empty image, on PATH as the static pod manifests call it.
static_image() {
  local name="$1" binary="$2" tag="$3"
  local ctx="$WORK/images/$name"
  mkdir -p "$ctx" && cp "$binary" "$ctx/"
  image_from "$ctx" "FROM scratch
COPY $(basename "$binary") /usr/local/bin/
ENV PATH=/usr/local/bin:/usr/bin:/bin
ENTRYPOINT [\"/usr/local/bin/$(basename "$binary")\"]" "$tag"
}

component_images() {
  [[ -f "$IMAGES_DIR/.done" ]] && return
  local k8s="$BIN_ROOT/kubernetes-$K8S_VERSION" c ctx
  rm -rf "$IMAGES_DIR.tmp" && mkdir -p "$IMAGES_DIR.tmp"
  "$REPO_ROOT/hack/machine/base-images.sh" >/dev/null
  for c in kube-apiserver kube-controller-manager kube-scheduler; do
    static_image "$c" "$k8s/$c" "registry.k8s.io/$c:$K8S_VERSION"
  done
  static_image etcd "$BIN_ROOT/etcd-$ETCD_VERSION/etcd" "registry.k8s.io/etcd:$ETCD_IMAGE_TAG"
  # kube-proxy programs iptables: Debian's iptables (nft backend, as on the node) + conntrack.
  ctx="$WORK/images/kube-proxy"
  mkdir -p "$ctx" && cp "$k8s/kube-proxy" "$ctx/"
  image_from "$ctx" "FROM debian:12-slim
RUN apt-get update && apt-get install -y --no-install-recommends iptables conntrack ipset kmod \\
 && rm -rf /var/lib/apt/lists/*
COPY kube-proxy /usr/local/bin/
ENTRYPOINT [\"/usr/local/bin/kube-proxy\"]" "registry.k8s.io/kube-proxy:$K8S_VERSION"
  ctx="$WORK/images/coredns"
  mkdir -p "$ctx" && cp "$BIN_ROOT/coredns-$COREDNS_VERSION/coredns" "$ctx/"
  image_from "$ctx" "FROM scratch
COPY coredns /coredns
EXPOSE 53 53/udp
ENTRYPOINT [\"/coredns\"]" "registry.k8s.io/coredns/coredns:$COREDNS_VERSION"
  ctx="$WORK/images/pause"
  mkdir -p "$ctx" && cp "$BIN_ROOT/pause-$K8S_VERSION/pause" "$ctx/"
  local pause_tags=() t
  for t in "${PAUSE_TAGS[@]}"; do pause_tags+=("registry.k8s.io/pause:$t"); done
  image_from "$ctx" 'FROM scratch
COPY pause /pause
USER 65535:65535
ENTRYPOINT ["/pause"]' "${pause_tags[@]}"
  touch "$IMAGES_DIR.tmp/.done"
  rm -rf "$IMAGES_DIR" && mv "$IMAGES_DIR.tmp" "$IMAGES_DIR"
}

# ------------------------------------------------------------------------- node image

# The node's Debian packages: what kind's base image installs, with containerd, runc and
# the CNI plugins from Debian instead of upstream builds.
NODE_PACKAGES="systemd,containerd,runc,containernetworking-plugins,conntrack,iptables,nftables,\
iproute2,ethtool,util-linux,mount,kmod,libseccomp2,pigz,bash,ca-certificates,curl,jq,procps,\
socat,ebtables"

# Changes to this recipe change the node image's tag, so a stale image is never reused.
recipe_hash() {
  cat "$REPO_ROOT/hack/machine/kind-node.sh" "$REPO_ROOT/hack/kind-versions.sh" | sha256sum | cut -c1-12
}

node_image_name() { echo "$IMAGE_PREFIX/kind-node:$K8S_VERSION-$(recipe_hash)"; }

# kind's base image steps (images/base/Dockerfile at $KIND_VERSION) on the rootfs dir.
apply_kind_base() {
  local dir="$1"
  local files="$POLYETL_CACHE/go/mod/sigs.k8s.io/kind@$KIND_VERSION/images/base/files"
  [[ -d "$files" ]] || (cd /tmp && run env "${GO_ENV[@]}" go mod download "sigs.k8s.io/kind@$KIND_VERSION")
  install -m 0755 "$files"/usr/local/bin/* "$dir/usr/local/bin/"
  mkdir -p "$dir/kind" && cp -r "$files/kind/." "$dir/kind/" && chmod -R u+w "$dir/kind"
  find "$dir/kind" -type f -exec chmod 0644 {} + && chmod 0755 "$dir"/kind/bin/*
  cp -r "$files/etc/." "$dir/etc/" && chmod -R u+w,go+r "$dir/etc"
  chroot "$dir" /bin/bash -euc '
    find /lib/systemd/system/sysinit.target.wants/ -name systemd-tmpfiles-setup.service -delete
    rm -f /lib/systemd/system/multi-user.target.wants/* /etc/systemd/system/*.wants/* \
      /lib/systemd/system/local-fs.target.wants/* /lib/systemd/system/sockets.target.wants/*udev* \
      /lib/systemd/system/sockets.target.wants/*initctl* /lib/systemd/system/basic.target.wants/*
    echo "ReadKMsg=no" >> /etc/systemd/journald.conf
    ln -sf /lib/systemd/systemd /sbin/init
    systemctl enable kubelet.service containerd.service undo-mount-hacks.service
    systemctl mask systemd-binfmt.service
    mkdir -p /etc/kubernetes/manifests
    # kind expects upstream install paths; Debian puts them elsewhere.
    ln -sf /usr/bin/containerd /usr/local/bin/containerd
    mkdir -p /opt/cni && rm -rf /opt/cni/bin && ln -s /usr/lib/cni /opt/cni/bin
    # Pods may not lower their OOM score below containerd'"'"'s own: that needs
    # CAP_SYS_RESOURCE, which a node on a host with a reduced bounding set lacks (runc then
    # fails every sandbox). Rootless kind does the same; elsewhere it changes nothing
    # (containerd runs at -999, the lowest a pod asks for is -998).
    sed -i "s/restrict_oom_score_adj = false/restrict_oom_score_adj = true/" /etc/containerd/config.toml
    grep -q "restrict_oom_score_adj = true" /etc/containerd/config.toml
    ctr oci spec \
      | jq ".hooks.createContainer[.hooks.createContainer| length] |= . + {\"path\": \"/kind/bin/mount-product-files.sh\"}" \
      | jq "del(.process.rlimits)" > /etc/containerd/cri-base.json
  ' >/dev/null
}

# Storage: no provisioner image is built; the default class binds pre-created local PVs.
STORAGE_MANIFEST='apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: standard
  annotations:
    storageclass.kubernetes.io/is-default-class: "true"
provisioner: kubernetes.io/no-provisioner
volumeBindingMode: WaitForFirstConsumer'

# Its socket stops answering once it has shut down (its zombie stays: sleep never reaps).
build_containerd_stopped() { ! docker exec "$BUILD_CONTAINER" ctr version >/dev/null 2>&1; }

build_node() {
  local name="$1" dir="$WORK/node" k8s="$BIN_ROOT/kubernetes-$K8S_VERSION"
  log "kind node image $name: assembling"
  debootstrap_rootfs "$dir" "$NODE_PACKAGES" "$WORK/debootstrap.log"
  apply_kind_base "$dir"
  install -m 0755 "$k8s/kubeadm" "$k8s/kubelet" "$k8s/kubectl" "$dir/usr/bin/"
  printf '%s' "$K8S_VERSION" >"$dir/kind/version"
  mkdir -p "$dir/kind/manifests"
  printf '%s\n' "$STORAGE_MANIFEST" >"$dir/kind/manifests/default-storage.yaml"

  local rootfs_image
  rootfs_image="$IMAGE_PREFIX/kind-node-rootfs:$(recipe_hash)"
  import_rootfs "$dir" "$rootfs_image" "ENV container=docker" \
    'ENTRYPOINT ["/usr/local/bin/entrypoint", "/sbin/init"]'
  # Import the component images into containerd's k8s.io namespace, as kind's builder
  # does: containerd runs in a build container, content only (no unpack: the build
  # container's root is overlayfs, and kind gives /var its own volume at run time).
  BUILD_CONTAINER="$(docker run -d --privileged --entrypoint sleep "$rootfs_image" infinity)"
  docker exec "$BUILD_CONTAINER" bash -c 'nohup containerd >/var/log/containerd-build.log 2>&1 &'
  until_true 50 docker exec "$BUILD_CONTAINER" ctr version >/dev/null 2>&1 ||
    die "containerd did not start in the node build container"
  local archive
  for archive in "$IMAGES_DIR"/*.tar; do
    docker exec -i "$BUILD_CONTAINER" ctr --namespace=k8s.io images import \
      --label=io.cri-containerd.pinned=pinned --all-platforms --no-unpack --digests - <"$archive" >/dev/null ||
      die "importing $archive into the node's containerd failed"
  done
  log "kind node image: preloaded $(docker exec "$BUILD_CONTAINER" ctr --namespace=k8s.io images list -q | grep -vc '^sha256:') image refs"
  docker exec "$BUILD_CONTAINER" pkill containerd
  until_true 50 build_containerd_stopped || die "containerd did not stop in the node build container"
  run docker commit --change 'ENTRYPOINT [ "/usr/local/bin/entrypoint", "/sbin/init" ]' \
    "$BUILD_CONTAINER" "$rootfs_image-committed" >/dev/null
  docker rm -f "$BUILD_CONTAINER" >/dev/null
  BUILD_CONTAINER=""
  # systemd halts on SIGRTMIN+3; neither import nor commit can set a stop signal.
  printf 'FROM %s\nSTOPSIGNAL SIGRTMIN+3\n' "$rootfs_image-committed" |
    DOCKER_BUILDKIT=1 run "$(docker_build_client)" build --quiet --tag "$name" - >/dev/null
  docker rmi "$rootfs_image" "$rootfs_image-committed" >/dev/null
}

WORK=""
BUILD_CONTAINER=""
cleanup() {
  [[ -n "$BUILD_CONTAINER" ]] && docker rm -f "$BUILD_CONTAINER" >/dev/null 2>&1
  docker image ls --quiet "$IMAGE_PREFIX/kind-node-rootfs" | xargs -r docker rmi -f >/dev/null 2>&1
  [[ -n "$WORK" ]] && rm -rf "$WORK"
  return 0
}

node_image() {
  local name
  name="$(node_image_name)"
  if docker image inspect "$name" >/dev/null 2>&1; then
    echo "$name"
    return
  fi
  [[ $EUID -eq 0 ]] || die "building the kind node image needs root (debootstrap, chroot)"
  WORK="$(mktemp -d)"
  trap cleanup EXIT
  local t0=$SECONDS
  phase "kind node image: Go binaries" binaries
  phase "kind node image: component images" component_images
  phase "kind node image: the node" build_node "$name"
  log "kind node image $name: ready in $((SECONDS - t0))s"
  echo "$name"
}

main() {
  case "${1:-}" in
    binaries) binaries ;;
    tools)
      build_kubernetes
      build_kind
      ;;
    image) node_image ;;
    name) node_image_name ;;
    *) die "usage: $0 image|binaries|tools|name" ;;
  esac
}

main "$@"
