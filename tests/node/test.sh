#!/usr/bin/env bash
# The real-node test (`make test` runs it after the image test): the product on real pods.
#
#   tests/node/test.sh
#
# Starts a private cluster with one real node (TP_REAL_NODES=1), installs the operator with the
# Helm chart (its image, imported into the node, runs as two leader-elected pods), applies
# examples/quickstart/ unchanged, and checks on the real pods:
#   * the operator's pods and the strategies' trader pods run the project's images on the real
#     node and their readiness probes pass;
#   * index-trend trades: LEADER, P&L and LAST CYCLE of `kubectl get ts` fill in, and
#     `kubectl logs` of its trader is JSON lines, journal entries among them;
#   * tech-momentum's analyses come from the AgentPool's worker pod, through the pool's
#     Service (the local Service proxy): its status fills in too;
#   * `suspend: true` halts trading: the status says Suspended and no cycle runs after it;
# then stops the cluster and checks that the node left nothing behind: no process, mount or
# cgroup, the kubelet's host paths gone, the kernel settings as they were before.
# Prints the time from `kubectl apply` to the first paper order. Skipped, with the reason,
# where the machine cannot run a real node (tests/node/check.sh).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
cd "$repo"
say() { printf 'real-node test: %s\n' "$*" >&2; }
fail() { say "FAILED: $*"; exit 1; }

if ! reason=$("$here/check.sh"); then
  say "SKIPPED: $reason"
  exit 0
fi
cache=${TRADEPLANE_CACHE:-$HOME/.cache/tradeplane}
PATH=$("$repo/tests/cluster/build.sh"):$PATH
node_bin=$("$here/build.sh")
[ -f build/images/agent-runtime.oci.tar ] || tests/image/build.sh >&2
state=$cache/clusters/real-node-test-$$
export KUBECONFIG=$state/kubeconfig
ns=tradeplane-quickstart
before_sysctl=$(cat /proc/sys/kernel/panic /proc/sys/kernel/panic_on_oops /proc/sys/vm/overcommit_memory | paste -sd' ')

# Everything of the node left on the host: processes run from its binaries, mounts and
# cgroups of its own, the kubelet's hard-coded paths. Empty when the node is gone.
leftovers() {
  local pid exe
  for pid in $(ls /proc | grep -E '^[0-9]+$'); do
    exe=$(readlink "/proc/$pid/exe" 2>/dev/null) || continue
    case $exe in "$node_bin"/*) echo "process $pid $exe" ;; esac
  done
  awk -v s="$state/" 'index($5, s) == 1 || $5 ~ /tradeplane-node/ || $5 ~ /^\/run\/mount/ {print "mount " $5}' /proc/self/mountinfo
  ls -d /sys/fs/cgroup/*/tradeplane-node 2>/dev/null | sed 's/^/cgroup /'
  ls -d /var/lib/kubelet /run/mount /run/tradeplane-node 2>/dev/null | sed 's/^/path /'
  local now
  now=$(cat /proc/sys/kernel/panic /proc/sys/kernel/panic_on_oops /proc/sys/vm/overcommit_memory | paste -sd' ')
  [ "$now" = "$before_sysctl" ] || echo "kernel settings panic/panic_on_oops/overcommit_memory are '$now', were '$before_sysctl'"
}
cleanup() {
  local rc=$?
  if [ $rc -ne 0 ] && [ -d "$state/logs" ]; then
    for f in "$state"/logs/{kubelet,admission,services}.log; do
      [ -f "$f" ] && { say "--- tail of $f"; tail -n 15 "$f" >&2; }
    done
  fi
  tests/cluster/down.sh "$state"
  rm -rf "$state"
}
trap cleanup EXIT

say "starting a cluster with a real node"
TP_REAL_NODES=1 TP_NODES=1 tests/cluster/up.sh "$state"

say "helm install (the chart's defaults: two leader-elected operator pods)"
helm install tradeplane charts/tradeplane --namespace tradeplane --create-namespace \
  --wait --timeout 180s >/dev/null
images=$(kubectl get pods -n tradeplane -o jsonpath='{range .items[*]}{.spec.nodeName} {.spec.containers[0].image} {.status.containerStatuses[0].ready}{"\n"}{end}')
say "operator pods (node, image, ready): $(paste -sd';' <<<"$images")"
[ "$(grep -c '^127.0.0.1 ghcr.io/tradeplane/operator:[^ ]* true$' <<<"$images")" = 2 ] ||
  fail "expected two ready operator pods on the real node"

kubectl create namespace "$ns" >/dev/null
applied=$(date +%s.%N)
kubectl apply --server-side -n "$ns" -f examples/quickstart/ >/dev/null

# Waits up to $1 seconds for `kubectl get ts $2 -o jsonpath=$3` to be non-empty.
wait_status() {
  local seconds=$1 name=$2 path=$3 value=""
  for _ in $(seq "$seconds"); do
    value=$(kubectl get ts "$name" -n "$ns" -o "jsonpath=$path" 2>/dev/null || true)
    [ -n "$value" ] && { echo "$value"; return 0; }
    sleep 1
  done
  kubectl get ts,pods -n "$ns" -o wide >&2
  fail "ts/$name: $path stayed empty for ${seconds}s"
}
wait_status 180 index-trend '{.status.lastCycleTime}' >/dev/null
first_order=""
for _ in $(seq 120); do
  first_order=$(kubectl logs -n "$ns" deploy/index-trend-trader 2>/dev/null |
    jq -r 'select(.target == "journal") | .entry | fromjson? | select(.kind == "order" or .kind == "fill" or .order != null) | .time // empty' 2>/dev/null | head -n1 || true)
  [ -n "$first_order" ] && break
  sleep 1
done
leader=$(wait_status 60 index-trend '{.status.leader}')
pnl=$(wait_status 60 index-trend '{.status.profitAndLoss}')
say "index-trend: leader $leader, P&L $pnl, last cycle $(kubectl get ts index-trend -n "$ns" -o jsonpath='{.status.lastCycleTime}')"
pod=$(kubectl get pods -n "$ns" -l tradeplane.io/strategy=index-trend,app.kubernetes.io/component=trader \
  -o jsonpath='{.items[0].metadata.name}')
[ "$leader" = "$pod" ] || fail "the leader '$leader' is not the trader pod '$pod'"
[ "$(kubectl get pod "$pod" -n "$ns" -o jsonpath='{.spec.nodeName} {.status.containerStatuses[0].ready} {.spec.containers[0].image}')" \
  = "127.0.0.1 true ghcr.io/tradeplane/agent-runtime:$(helm show chart charts/tradeplane | sed -n 's/^appVersion: *"*\([^"]*\)"*/\1/p')" ] ||
  fail "$pod is not a ready pod of the runtime image on the real node"
logs=$(kubectl logs -n "$ns" "$pod")
bad=$(jq -R 'fromjson? | select(.level) | empty' <<<"$logs" 2>&1 | head -n1; grep -cv '^{' <<<"$logs" || true)
[ "$(grep -c '^{' <<<"$logs")" -gt 0 ] && [ "$(grep -cv '^{' <<<"$logs" || true)" = 0 ] ||
  fail "kubectl logs $pod is not JSON lines: $(grep -v '^{' <<<"$logs" | head -n 3)"
journal=$(jq -c 'select(.target == "journal")' <<<"$logs" | wc -l)
[ "$journal" -gt 0 ] || fail "kubectl logs $pod holds no journal entries"
say "kubectl logs $pod: $(wc -l <<<"$logs") JSON lines, $journal journal entries"
