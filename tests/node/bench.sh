#!/usr/bin/env bash
# Real-node benchmarks (`make bench` runs this after the cargo benches). Prints figures; asserts
# only that each step worked. Skipped, with the reason, where no real node can run.
#
#   * node start-up: containerd ready, kubelet /healthz, node Ready (tests/node/up.sh's timings);
#   * a 64-point Backtest sweep of real pods at parallelism 1 and 2: wall time, per-run pod
#     time, the ratio (tests/node/bench-backtest.sh; first, while the node runs nothing else);
#   * `kubectl apply` of the quick start, as it is → index-trend's first cycle, and → its first
#     paper order (a replay runs its first cycle as soon as it leads, and the quick start's
#     index-trend buys in that cycle);
#   * memory (RSS): kubelet, containerd, the shims, each runtime pod;
#   * failover on real pods (leader pod deleted → standby trading): median and p95 over
#     TRADEPLANE_BENCH_FAILOVERS (default 20), tests/node/failover.sh.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
cd "$repo"
say() { printf 'real-node bench: %s\n' "$*" >&2; }
if ! reason=$("$here/check.sh"); then say "SKIPPED: $reason"; exit 0; fi
cache=${TRADEPLANE_CACHE:-$HOME/.cache/tradeplane}
PATH=$("$repo/tests/cluster/build.sh"):$PATH
node_bin=$("$here/build.sh")
[ -f build/images/agent-runtime.oci.tar ] || tests/image/build.sh >&2
state=$cache/clusters/real-node-bench-$$
export KUBECONFIG=$state/kubeconfig
trap 'tests/cluster/down.sh "$state"; rm -rf "$state"' EXIT
ns=tradeplane-bench
now() { date +%s.%N; }
since() { printf '%.1f' "$(echo "$(now) - $1" | bc)"; }

TP_REAL_NODES=1 TP_NODES=1 tests/cluster/up.sh "$state" 2>/dev/null
say "node start-up (s from start): $(paste -sd' ' "$state/node/timings")"
helm install tradeplane charts/tradeplane --namespace tradeplane --create-namespace --wait --timeout 180s >/dev/null
tests/node/bench-backtest.sh tradeplane-bench-backtest
kubectl create namespace "$ns" >/dev/null
applied=$(now)
kubectl apply --server-side -n "$ns" -f examples/quickstart/ >/dev/null
first_cycle="" first_order="" cycle="" positions=""
# One read for both: the first cycle's status write may carry the first position too.
for _ in $(seq 1200); do
  read -r cycle positions < <(kubectl get ts index-trend -n "$ns" -o jsonpath='{.status.lastCycleTime} {.status.openPositions}{"\n"}') || true
  [ -n "$first_cycle" ] || { [ -n "$cycle" ] && first_cycle=$(since "$applied"); }
  [ -n "$positions" ] && [ "$positions" -gt 0 ] && { first_order=$(since "$applied"); break; }
  sleep 0.1
done
say "kubectl apply → index-trend's first cycle ${first_cycle:-never} s, first paper order ${first_order:-never (120 s)} s"

rss() { # KiB of resident memory of the processes $@
  local total=0 pid kb
  for pid in "$@"; do
    kb=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
    total=$((total + ${kb:-0}))
  done
  echo $((total / 1024))
}
shims=$(for pid in $(ls /proc | grep -E '^[0-9]+$'); do
  if [ "$(readlink "/proc/$pid/exe" 2>/dev/null)" = "$node_bin/containerd-shim-runc-v2" ]; then echo "$pid"; fi; done)
say "RSS MiB: kubelet $(rss "$(cat "$state/pids/kubelet.pid")"), containerd $(rss "$(cat "$state/pids/containerd.pid")"), $(wc -w <<<"$shims") shims $(rss $shims) together"
for uid_name in $(kubectl get pods -A --field-selector spec.nodeName=127.0.0.1 -o jsonpath='{range .items[*]}{.metadata.uid}={.metadata.namespace}/{.metadata.name}{"\n"}{end}'); do
  uid=${uid_name%%=*} pod=${uid_name#*=}
  dir=$(find /sys/fs/cgroup/memory/tradeplane-node -maxdepth 3 -type d -name "pod$uid" 2>/dev/null | head -n1 || true)
  [ -n "$dir" ] || continue
  say "RSS MiB: $pod $(rss $(find "$dir" -name cgroup.procs -exec cat {} + 2>/dev/null | sort -u))"
done

tests/node/failover.sh "$ns" "${TRADEPLANE_BENCH_FAILOVERS:-20}"
