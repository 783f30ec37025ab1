#!/usr/bin/env bash
# The pins of the kind cluster, in one place (sourced by hack/kind*.sh).
#
# Kubernetes 1.30: the newest minor that Debian bookworm's containerd 1.6.20 and runc 1.1.5
# are tested with (CRI v1; containerd 1.6 is in Kubernetes' support matrix up to 1.30),
# so the node's runtime comes from Debian packages instead of a containerd build. kind
# v0.23.0 is the release whose default node image is Kubernetes 1.30; on a machine that
# can pull, that exact image (by digest) is used instead of a local build.
# shellcheck disable=SC2034 # read by the scripts that source this file

KIND_VERSION="v0.23.0"
KIND_NODE_IMAGE_UPSTREAM="kindest/node:v1.30.0@sha256:047357ac0cfea04663786a612ba1eaba9702bef25227a794b52890dd8bcd692e"

K8S_VERSION="v1.30.14"
# Recorded in the binaries' version info (kubeadm checks the version, not the commit).
K8S_GIT_COMMIT="0000000000000000000000000000000000000000"
K8S_BUILD_DATE="2025-06-17T00:00:00Z"
# What `kubeadm config images list` asks for at $K8S_VERSION, and kind's sandbox image.
ETCD_VERSION="v3.5.15"
ETCD_IMAGE_TAG="3.5.15-0"
COREDNS_VERSION="v1.11.3"
PAUSE_TAGS=("3.9" "3.7")
