#!/usr/bin/env bash
# Regenerates the wrapper Go modules that pin kube-apiserver & co. and etcd.
#
# k8s.io/kubernetes and go.etcd.io/etcd/server/v3 replace their sibling modules with local
# paths, which `go install pkg@version` refuses. A module of ours can require them and
# replace each sibling with its published version instead. The list of siblings is read from
# the upstream go.mod so that a new minor that adds one (1.36 added cri-streaming) is covered.
# Run this only when bumping versions.env; the result (go.mod + go.sum) is committed so that
# builds verify against it.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../versions.env
. "$here/../versions.env"

upstream_gomod() { go mod download -json "$1@$2" | python3 -c 'import json,sys; print(json.load(sys.stdin)["GoMod"])'; }

# kubernetes: staging modules are published as v0.<minor>.<patch>.
k8s_mod=$(upstream_gomod k8s.io/kubernetes "$K8S_VERSION")
staging_version="v0.${K8S_VERSION#v1.}"
{
  echo "module tradeplane.io/tests/cluster/kubernetes"
  echo
  echo "go 1.26.0"
  echo
  echo "godebug default=go1.26"
  echo
  echo "require k8s.io/kubernetes $K8S_VERSION"
  echo
  echo "replace ("
  sed -n 's#^\t\(k8s.io/[a-z0-9-]*\) => ./staging/.*#\t\1 => \1 '"$staging_version"'#p' "$k8s_mod"
  echo ")"
} > "$here/kubernetes/go.mod"

# etcd: the server module replaces api, client/pkg, client/v3, pkg with ../ paths; all are
# published with the same version as the server.
etcd_mod=$(upstream_gomod go.etcd.io/etcd/server/v3 "$ETCD_VERSION")
{
  echo "module tradeplane.io/tests/cluster/etcd"
  echo
  echo "go 1.26.0"
  echo
  echo "require go.etcd.io/etcd/server/v3 $ETCD_VERSION"
  echo
  echo "replace ("
  sed -n 's#^\t\(go.etcd.io/etcd/[a-z0-9/]*\) => \.\./.*#\t\1 => \1 '"$ETCD_VERSION"'#p' "$etcd_mod"
  echo ")"
} > "$here/etcd/go.mod"

for m in kubernetes etcd; do
  (cd "$here/$m" && go mod tidy)
done
