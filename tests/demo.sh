#!/usr/bin/env bash
# `make demo`: the whole flow on a local control plane, then everything it started is stopped.
#
#   TRADEPLANE_DEMO_KEEP=1 make demo     leave the cluster running to explore (make cluster-down
#                                        STATE=... stops it; the command is printed)
#   TRADEPLANE_USE_EXISTING_CLUSTER=1 KUBECONFIG=... make demo
#                                        run against a cluster you already have
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
cache=${TRADEPLANE_CACHE:-$HOME/.cache/tradeplane}
state=$cache/clusters/demo
namespace=tradeplane-demo
step() { printf '\n== %s\n' "$*"; }
show() { printf '$ %s\n' "$*"; "$@"; }

# On a machine that can run a real node, the demo runs the product's images as real pods
# (tests/demo-real-node.sh); it exits 3, having started nothing, where that is impossible,
# and the demo then goes on here on kwok's simulated nodes. TRADEPLANE_DEMO_REAL_NODE=0 skips it.
if [ "${TRADEPLANE_USE_EXISTING_CLUSTER:-}" != 1 ] && [ "${TRADEPLANE_DEMO_REAL_NODE:-1}" = 1 ]; then
  rc=0
  tests/demo-real-node.sh || rc=$?
  [ $rc = 3 ] || exit $rc
  echo "the demo goes on with kwok's simulated nodes (a host process stands in for the trader pod)"
fi

if [ "${TRADEPLANE_USE_EXISTING_CLUSTER:-}" != 1 ]; then
  step "control-plane binaries (built once, cached under $cache)"
  bin=$(tests/cluster/build.sh)
  export PATH="$bin:$PATH"
  tests/cluster/down.sh "$state" # a demo interrupted earlier may have left one behind
fi

operator_pid=
pods_pid=
stop_operator() {
  if [ -n "$pods_pid" ]; then
    kill -TERM "$pods_pid" 2>/dev/null || true
    wait "$pods_pid" 2>/dev/null || true
    pods_pid=
  fi
  [ -n "$operator_pid" ] || return 0
  kill -TERM "$operator_pid" 2>/dev/null || true
  wait "$operator_pid" 2>/dev/null || true
  operator_pid=
}

step "build the operator, the runtime, the stand-in for its pods and the kubectl plugin"
cargo build --locked -q -p tradeplane-operator --bin tradeplane-operator
cargo build --locked -q -p tradeplane-agent-runtime --bin agent-runtime
cargo build --locked -q -p e2e --bin runtime-pods
cargo build --locked -q -p kubectl-tradeplane --bin kubectl-tradeplane
operator_bin=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/debug/tradeplane-operator

if [ "${TRADEPLANE_DEMO_KEEP:-}" = 1 ]; then
  trap 'stop_operator; printf "\nThe cluster keeps running: export KUBECONFIG=%s PATH=%s:\$PATH\nStop it with: make cluster-down STATE=%s\n" "$state/kubeconfig" "${bin:-}" "$state"' EXIT
else
  trap 'stop_operator; tests/cluster/down.sh "$state"' EXIT
fi

step "start the control plane"
tests/cluster/up.sh "$state"
export KUBECONFIG=$state/kubeconfig

step "the cluster: two kwok nodes, the system pods"
show kubectl get nodes,pods -A -o wide

step "install the Tradeplane CRDs (generated from operator/api by make crds)"
show kubectl apply --server-side -f crds/
# kubectl wait errors out (instead of waiting) on a CRD whose status has no conditions yet,
# which is how a CRD looks for a moment after it is created: so retry, for a minute at most.
crds=(crd/tradingstrategies.tradeplane.io crd/brokeraccounts.tradeplane.io crd/agentpools.tradeplane.io)
for attempt in $(seq 60); do
  kubectl wait --for=condition=Established --timeout=10s "${crds[@]}" >/dev/null 2>&1 && break
  [ "$attempt" = 60 ] && { echo "the CRDs did not become Established" >&2; exit 1; }
  sleep 1
done
show kubectl wait --for=condition=Established --timeout=10s "${crds[@]}"

step "start the operator as a local process (logs: $state/logs/operator.log)"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$operator_bin" --log-format text --listen "127.0.0.1:$port" --lease-namespace default \
  --runtime-image ghcr.io/tradeplane/agent-runtime:demo >"$state/logs/operator.log" 2>&1 &
operator_pid=$!
for attempt in $(seq 60); do
  curl -sf "http://127.0.0.1:$port/metrics" | grep -q '^tradeplane_operator_leader 1' && break
  [ "$attempt" = 60 ] && { tail -n 20 "$state/logs/operator.log" >&2; echo "the operator did not start leading" >&2; exit 1; }
  sleep 0.5
done
echo "operator leading (pid $operator_pid, metrics on http://127.0.0.1:$port/metrics)"

step "the paper-trading quick start: a paper BrokerAccount, a rules-only AgentPool, two strategies"
show kubectl create namespace "$namespace"
show kubectl apply --server-side --validate=strict -n "$namespace" -f examples/quickstart/

step "the API refuses what cannot work, e.g. two replicas on a SQLite journal"
if kubectl patch ts index-trend -n "$namespace" --type=merge -p '{"spec":{"replicas":2}}' 2>&1; then
  echo "expected the API server to refuse two replicas without a PostgreSQL journal" >&2
  exit 1
fi

step "kubectl scale works on an AgentPool (the scale subresource)"
show kubectl scale ap quant-analysts -n "$namespace" --replicas=2
show kubectl get ap quant-analysts -n "$namespace" -o jsonpath='{.spec.replicas}{"\n"}'

step "wait until the operator has made everything Ready (kwok runs the pods)"
show kubectl wait --for=condition=Ready --timeout=180s -n "$namespace" ba --all
show kubectl wait --for=condition=Ready --timeout=180s -n "$namespace" ap --all
show kubectl wait --for=condition=Ready --timeout=180s -n "$namespace" ts --all

step "the children the operator made"
show kubectl get deploy,svc,pvc,secret,pdb,hpa,cronjob,lease,sa,role,rolebinding -n "$namespace" -l app.kubernetes.io/managed-by=tradeplane-operator

step "run the runtime for index-trend's trader pod (kwok's pods run nothing: a host process stands in, with the config the operator rendered and a token for the strategy's ServiceAccount)"
target_dir=$(dirname "$operator_bin")
TRADEPLANE_RUNTIME_BIN="$target_dir/agent-runtime" "$target_dir/runtime-pods" "$namespace" index-trend \
  >"$state/logs/runtime-pods.log" 2>&1 &
pods_pid=$!
for attempt in $(seq 90); do
  leader=$(kubectl get ts index-trend -n "$namespace" -o jsonpath='{.status.lastCycleTime}' 2>/dev/null || true)
  [ -n "$leader" ] && break
  [ "$attempt" = 90 ] && { cat "$state/logs/runtime-pods.log" >&2; echo "index-trend never reported a cycle" >&2; exit 1; }
  sleep 1
done
sleep 3
show kubectl get lease index-trend-leader -n "$namespace" -o jsonpath='{.spec.holderIdentity}{"\n"}'

step "what kubectl shows (tech-momentum's analyses come from the AgentPool, whose workers the stand-in does not run: its runtime columns stay empty until real nodes run the pods)"
show kubectl get ts,ba,ap -n "$namespace"
show kubectl get ts -n "$namespace" -o wide
show kubectl explain tradingstrategy.spec.journal.backend

# The console is a long-running server, so the demo only prints how to start it. It reads the
# cluster with the kubeconfig given; the operator and the runtime's stand-in stop with the demo,
# so on a kept cluster it shows the objects and their last status, and says the journal is
# unreachable.
step "the web console (docs/dashboard.md)"
console="KUBECONFIG=$KUBECONFIG $target_dir/kubectl-tradeplane dashboard -n $namespace"
if [ "${TRADEPLANE_DEMO_KEEP:-}" = 1 ]; then
  echo "open it with (it prints http://127.0.0.1:9898/ and serves until Ctrl-C):"
else
  echo "this demo stops its cluster now; run it with TRADEPLANE_DEMO_KEEP=1, then open the console with:"
fi
echo "  $console"
