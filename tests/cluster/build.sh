#!/usr/bin/env bash
# Builds the local control plane's binaries once and caches them outside the repository.
#
#   tests/cluster/build.sh          build what is missing, then print the bin directory
#
# The cache is ~/.cache/tradeplane/<versions>/bin (TRADEPLANE_CACHE moves the root), so a fresh
# clone and CI on the same machine reuse it. Binaries found in KUBEBUILDER_ASSETS (envtest's
# etcd, kube-apiserver, kubectl) are linked instead of built.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=versions.env
. "$here/versions.env"

cache_root=${TRADEPLANE_CACHE:-$HOME/.cache/tradeplane}
bin=$cache_root/k8s-$K8S_VERSION-etcd-$ETCD_VERSION-kwok-$KWOK_VERSION-helm-$HELM_VERSION/bin
mkdir -p "$bin"

log() { printf '[cluster-build] %s\n' "$*" >&2; }

if ! command -v go >/dev/null 2>&1; then
  log "error: no Go toolchain on PATH. The control plane is built from its Go modules:"
  log "  install Go >= 1.21 (GOTOOLCHAIN=auto then fetches the exact release it needs),"
  log "  or set KUBEBUILDER_ASSETS / KUBECONFIG (see README.md) to use binaries or a cluster you have."
  exit 1
fi
export CGO_ENABLED=0 GOFLAGS=-mod=readonly GOTOOLCHAIN=${GOTOOLCHAIN:-auto}

k8s_minor=${K8S_VERSION#v1.}; k8s_minor=${k8s_minor%%.*}
commit=0000000000000000000000000000000000000000
k8s_ldflags=""
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  k8s_ldflags+=" -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$k8s_minor"
  k8s_ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.gitCommit=$commit"
done
helm_ldflags="-X helm.sh/helm/v3/internal/version.version=$HELM_VERSION"
for pkg in helm.sh/helm/v3/pkg/chartutil helm.sh/helm/v3/pkg/lint/rules; do
  helm_ldflags+=" -X $pkg.k8sVersionMajor=1 -X $pkg.k8sVersionMinor=$k8s_minor"
done

# name | how to build it (run in a subshell, output to $out)
targets=(kube-apiserver kube-controller-manager kube-scheduler kubectl etcd kwok helm)
total=${#targets[@]}
n=0
started_all=$SECONDS
for name in "${targets[@]}"; do
  n=$((n + 1))
  out=$bin/$name
  if [ -x "$out" ]; then
    log "[$n/$total] $name: cached"
    continue
  fi
  if [ -n "${KUBEBUILDER_ASSETS:-}" ] && [ -x "$KUBEBUILDER_ASSETS/$name" ]; then
    ln -sf "$KUBEBUILDER_ASSETS/$name" "$out"
    log "[$n/$total] $name: from KUBEBUILDER_ASSETS"
    continue
  fi
  log "[$n/$total] $name: building ..."
  started=$SECONDS
  tmp=$out.tmp.$$
  case $name in
    kube-*|kubectl)
      (cd "$here/modules/kubernetes" &&
        go build -trimpath -ldflags "-s -w $k8s_ldflags" -o "$tmp" "k8s.io/kubernetes/cmd/$name") ;;
    etcd)
      (cd "$here/modules/etcd" &&
        go build -trimpath -ldflags "-s -w -X go.etcd.io/etcd/api/v3/version.GitSHA=release" \
          -o "$tmp" go.etcd.io/etcd/server/v3) ;;
    kwok)
      (export GOBIN GOFLAGS= && GOBIN=$(mktemp -d) &&
        go install -trimpath -ldflags "-s -w" "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION" &&
        mv "$GOBIN/kwok" "$tmp" && rmdir "$GOBIN") ;;
    helm)
      (export GOBIN GOFLAGS= && GOBIN=$(mktemp -d) &&
        go install -trimpath -ldflags "-s -w $helm_ldflags" "helm.sh/helm/v3/cmd/helm@$HELM_VERSION" &&
        mv "$GOBIN/helm" "$tmp" && rmdir "$GOBIN") ;;
  esac
  mv "$tmp" "$out"
  log "[$n/$total] $name: built in $((SECONDS - started))s"
done

# kwok needs Stage objects to move nodes and pods through their lifecycle; they ship in its
# module source. Collect the ones we use into one config file next to the binaries, every time
# (it is cheap), so a change of the list here takes effect without a rebuild. None of kwok's
# volume stages: they bound claims at once to volumes whose directories did not exist yet;
# volumes.py provisions instead. (The file's name says what it holds: checkouts from before
# still write and read kwok-stages.yaml, with the volume stages, in the same cache.)
stages=$bin/../kwok-node-pod-stages.yaml
src=$(GOFLAGS= go mod download -json "sigs.k8s.io/kwok@$KWOK_VERSION" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')
# A temporary file of this run's own: tests start private clusters side by side, and two
# runs sharing one name raced (the second `mv` found the file gone).
tmp=$(mktemp "$stages.XXXXXX")
for s in node/fast/node-initialize node/heartbeat-with-lease/node-heartbeat-with-lease \
  pod/fast/pod-ready pod/fast/pod-complete pod/fast/pod-delete; do
  cat "$src/kustomize/stage/$s.yaml"
  echo "---"
done > "$tmp"
chmod 644 "$tmp"
mv "$tmp" "$stages"
[ $n -gt 0 ] && log "done in $((SECONDS - started_all))s"
echo "$bin"
