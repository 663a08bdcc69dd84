#!/usr/bin/env bash
# Builds the real node's binaries once and caches them beside the control plane's, in a
# directory of their own (so the control plane's cache key and binaries never change):
#
#   tests/node/build.sh      build what is missing, then print the node's bin directory
#
# ~/.cache/tradeplane/node-k8s-<v>-containerd-<v>-runc-<v>/bin holds kubelet (from the same
# wrapper module and pinned version as kube-apiserver), containerd, containerd-shim-runc-v2,
# ctr, runc, and pause.oci.tar: the pause image, compiled here from the kubernetes module's
# own build/pause/linux/pause.c, static and stripped, as an OCI archive containerd imports.
# Nothing is pulled from a container registry; everything comes from the Go module proxy and
# Debian (gcc, libseccomp-dev for runc's seccomp support, installed when missing).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cluster=$here/../cluster
# shellcheck source=../cluster/versions.env
. "$cluster/versions.env"
# shellcheck source=versions.env
. "$here/versions.env"

cache_root=${TRADEPLANE_CACHE:-$HOME/.cache/tradeplane}
bin=$cache_root/node-k8s-$K8S_VERSION-containerd-$CONTAINERD_VERSION-runc-$RUNC_VERSION/bin
mkdir -p "$bin"
log() { printf '[node-build] %s\n' "$*" >&2; }

command -v go >/dev/null 2>&1 || { log "error: no Go toolchain on PATH"; exit 1; }
export GOTOOLCHAIN=${GOTOOLCHAIN:-auto}

# Debian packages a target needs, installed only when that target is built.
need_deb() {
  local pkg=$1 probe=$2
  [ -e "$probe" ] && return 0
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    log "error: $pkg is needed and cannot be installed here (needs root and apt-get)"; exit 1
  fi
  log "installing $pkg (Debian's package)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$pkg" >&2
}

k8s_minor=${K8S_VERSION#v1.}; k8s_minor=${k8s_minor%%.*}
commit=0000000000000000000000000000000000000000
k8s_ldflags=""
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  k8s_ldflags+=" -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$k8s_minor"
  k8s_ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.gitCommit=$commit"
done
containerd_ldflags="-X github.com/containerd/containerd/v2/version.Version=$CONTAINERD_VERSION"
containerd_ldflags+=" -X github.com/containerd/containerd/v2/version.Revision=release"

# go install MODULE/CMD@VERSION into a temporary GOBIN, moved to $tmp.
go_install() {
  local pkg=$1 name=$2; shift 2
  local gobin
  gobin=$(mktemp -d)
  GOBIN=$gobin GOFLAGS= go install -trimpath "$@" "$pkg" && mv "$gobin/$name" "$tmp"
  rmdir "$gobin"
}

targets=(kubelet containerd containerd-shim-runc-v2 ctr runc pause.oci.tar)
total=${#targets[@]}
n=0
started_all=$SECONDS
for name in "${targets[@]}"; do
  n=$((n + 1))
  out=$bin/$name
  if [ -e "$out" ]; then
    log "[$n/$total] $name: cached"
    continue
  fi
  log "[$n/$total] $name: building ..."
  started=$SECONDS
  tmp=$out.tmp.$$
  case $name in
    kubelet)
      (cd "$cluster/modules/kubernetes" && CGO_ENABLED=0 GOFLAGS=-mod=readonly \
        go build -trimpath -ldflags "-s -w $k8s_ldflags" -o "$tmp" k8s.io/kubernetes/cmd/kubelet) ;;
    containerd|containerd-shim-runc-v2|ctr)
      CGO_ENABLED=0 go_install "github.com/containerd/containerd/v2/cmd/$name@$CONTAINERD_VERSION" \
        "$name" -tags "no_btrfs no_devmapper no_zfs" -ldflags "-s -w $containerd_ldflags" ;;
    runc)
      need_deb libseccomp-dev /usr/include/seccomp.h
      CGO_ENABLED=1 go_install "github.com/opencontainers/runc@$RUNC_VERSION" runc \
        -tags "seccomp urfave_cli_no_docs" -ldflags "-s -w -X main.version=${RUNC_VERSION#v}" ;;
    pause.oci.tar)
      command -v gcc >/dev/null 2>&1 || need_deb gcc /usr/bin/gcc
      "$here/pause-image.sh" "$tmp" ;;
  esac
  mv "$tmp" "$out"
  log "[$n/$total] $name: built in $((SECONDS - started))s"
done
log "done in $((SECONDS - started_all))s"
echo "$bin"
