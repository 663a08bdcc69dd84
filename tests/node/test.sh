#!/usr/bin/env bash
# The real-node test (`make test` runs it after the image test): the product on real pods.
#
#   tests/node/test.sh
#
# Starts a private cluster with one real node (TP_REAL_NODES=1), installs the operator with the
# Helm chart (its image, imported into the node, runs as two leader-elected pods), runs
# examples/backtest/sweep.yaml's 16-point sweep as an Indexed Job of real pods and checks its
# status, pods, run identity and deletion (tests/node/backtest.sh), then applies
# examples/quickstart/ unchanged, and checks on the real pods:
#   * the operator's pods and the strategies' trader pods run the project's images on the real
#     node and their readiness probes pass;
#   * index-trend trades: LEADER, P&L and LAST CYCLE of `kubectl get ts` fill in, and
#     `kubectl logs` of its trader is JSON lines, journal entries among them;
#   * tech-momentum's analyses come from the AgentPool's worker pod, through the pool's
#     Service (the local Service proxy): its status fills in too;
#   * index-trend opens a position in its first cycle; `kubectl tradeplane status`, `journal`
#     and `explain` read its journal from the real pod through the API server's service proxy
#     (tests/node/plugin.sh); `kubectl tradeplane dashboard`'s pages in headless Chromium
#     show both strategies' P&L, the pool, the account and index-trend's fills
#     (tests/e2e/tests/dashboard_quickstart.rs); a patch to one-second cycles rolls out on
#     the real pods;
#   * `kubectl tradeplane suspend` halts trading: it returns once the operator reports Halted,
#     and no order follows;
#   * index-trend gets backups to a volume, every minute and a `backupNowAt`: the on-demand
#     Job's pod and, after the failover part, the CronJob's run the real `agent-runtime
#     backup`; the backups are in status.lastBackup and on the volume (tests/node/backup.sh);
#   * a two-replica strategy on PostgreSQL: `kubectl delete pod` of the leader → the standby
#     trades, no order twice, the Event names both pods; an image change brings a new pod up
#     first and replaces the standby before the leader, whose pod the operator marked
#     (tests/node/failover.sh);
#   * a Shadow strategy: a changed quant parameter runs as `<name>-shadow`'s real pod while
#     the live pod keeps its revision and the Lease, passes its analysis, and the promote
#     annotation rolls the live Deployment to it and removes the shadow (tests/node/shadow.sh);
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
state_dir=$cache/clusters/real-node-test-$$
export KUBECONFIG=$state_dir/kubeconfig
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
  awk -v s="$state_dir/" 'index($5, s) == 1 || $5 ~ /tradeplane-node/ || $5 ~ /^\/run\/mount/ {print "mount " $5}' /proc/self/mountinfo
  ls -d /sys/fs/cgroup/*/tradeplane-node 2>/dev/null | sed 's/^/cgroup /'
  ls -d /var/lib/kubelet /run/mount /run/tradeplane-node 2>/dev/null | sed 's/^/path /'
  ip -o addr show dev lo | grep -q " ${TP_NODE_IP:-10.249.16.1}/32 " && echo "the node's IP ${TP_NODE_IP:-10.249.16.1} on lo"
  local now
  now=$(cat /proc/sys/kernel/panic /proc/sys/kernel/panic_on_oops /proc/sys/vm/overcommit_memory | paste -sd' ')
  [ "$now" = "$before_sysctl" ] || echo "kernel settings panic/panic_on_oops/overcommit_memory are '$now', were '$before_sysctl'"
}
cleanup() {
  local rc=$?
  if [ $rc -ne 0 ] && [ -d "$state_dir/logs" ]; then
    for f in "$state_dir"/logs/{kubelet,admission,services}.log; do
      [ -f "$f" ] && { say "--- tail of $f"; tail -n 15 "$f" >&2; }
    done
  fi
  tests/cluster/down.sh "$state_dir"
  rm -rf "$state_dir"
}
trap cleanup EXIT

say "starting a cluster with a real node"
started=$SECONDS
TP_REAL_NODES=1 TP_NODES=1 tests/cluster/up.sh "$state_dir"
say "cluster and real node up in $((SECONDS - started)) s"

say "helm install (the chart's defaults: two leader-elected operator pods)"
helm install tradeplane charts/tradeplane --namespace tradeplane --create-namespace \
  --wait --timeout 180s >/dev/null
images=$(kubectl get pods -n tradeplane -o jsonpath='{range .items[*]}{.spec.nodeName} {.spec.containers[0].image} {.status.containerStatuses[0].ready}{"\n"}{end}')
say "operator pods (node, image, ready): $(paste -sd';' <<<"$images")"
[ "$(grep -c '^127.0.0.1 ghcr.io/tradeplane/operator:[^ ]* true$' <<<"$images")" = 2 ] ||
  fail "expected two ready operator pods on the real node"

say "a 16-point Backtest sweep as an Indexed Job on the real node (tests/node/backtest.sh)"
tests/node/backtest.sh tradeplane-backtest

kubectl create namespace "$ns" >/dev/null
applied=$(date +%s.%N)
# Seconds since $1 (default: the kubectl apply), one decimal.
elapsed() { printf '%.1f' "$(echo "$(date +%s.%N) - ${1:-$applied}" | bc)"; }
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
leader=$(wait_status 60 index-trend '{.status.leader}')
pnl=$(wait_status 60 index-trend '{.status.profitAndLoss}')
say "index-trend: leader $leader, P&L $pnl, last cycle $(kubectl get ts index-trend -n "$ns" -o jsonpath='{.status.lastCycleTime}') ($(elapsed) s after kubectl apply)"
pod=$(kubectl get pods -n "$ns" -l tradeplane.io/strategy=index-trend,app.kubernetes.io/component=trader \
  -o jsonpath='{.items[0].metadata.name}')
[ "$leader" = "$pod" ] || fail "the leader '$leader' is not the trader pod '$pod'"
kubectl wait --for=condition=Ready -n "$ns" "pod/$pod" --timeout 30s >/dev/null ||
  fail "$pod: the readiness probe (/readyz) did not pass in 30 s"
version=$(sed -n 's/^appVersion: *"*\([^"]*\)"*/\1/p' charts/tradeplane/Chart.yaml)
seen=$(kubectl get pod "$pod" -n "$ns" -o jsonpath='{.spec.nodeName} {.status.containerStatuses[0].ready} {.spec.containers[0].image}')
[ "$seen" = "127.0.0.1 true ghcr.io/tradeplane/agent-runtime:$version" ] ||
  fail "$pod is not a ready pod of the runtime image on the real node: $seen"
logs=$(kubectl logs -n "$ns" "$pod")
lines=$(wc -l <<<"$logs")
records=$(jq -Rn '[inputs | (try fromjson catch null) | select(type == "object" and has("level"))] | length' <<<"$logs")
[ "$lines" = "$records" ] || fail "kubectl logs $pod: $((lines - records)) of $lines lines are not JSON log records"
grep -q '"message":"cycle complete"' <<<"$logs" || fail "kubectl logs $pod shows no completed cycle"
say "kubectl logs $pod: $(wc -l <<<"$logs") JSON lines, $(grep -c '"message":"cycle complete"' <<<"$logs") cycles"

say "tech-momentum: its analyses from the AgentPool's worker, through the pool's Service"
wait_status 120 tech-momentum '{.status.lastCycleTime}' >/dev/null
# Its first cycle may come before the proxy has seen the worker Ready; the next is 30 s later.
served=0
for _ in $(seq 75); do
  served=$(kubectl logs -n "$ns" deploy/quant-analysts-agents | grep -c '"strategy":"'"$ns"'/tech-momentum"' || true)
  [ "$served" -gt 0 ] && break
  sleep 1
done
[ "$served" -gt 0 ] || fail "the AgentPool's worker served tech-momentum no analysis in 75 s"
say "tech-momentum: leader $(kubectl get ts tech-momentum -n "$ns" -o jsonpath='{.status.leader}'), the worker served $served analyses"

# The quick start's index-trend buys in its first cycle (its replay starts as soon as it leads).
positions=""
for _ in $(seq 240); do
  positions=$(kubectl get ts index-trend -n "$ns" -o jsonpath='{.status.openPositions}' 2>/dev/null || true)
  [ -n "$positions" ] && [ "$positions" -gt 0 ] && break
  sleep 0.5
done
[ -n "$positions" ] && [ "$positions" -gt 0 ] || fail "index-trend holds no position 120 s after kubectl apply"
say "index-trend: $positions open position(s) $(elapsed) s after kubectl apply; decision: $(kubectl get ts index-trend -n "$ns" -o jsonpath='{.status.lastDecision.summary}')"

say "kubectl tradeplane: status, journal, explain and logs through the API server"
cargo build -q --locked -p kubectl-tradeplane
mkdir -p "$state_dir/plugin"
ln -sf "${CARGO_TARGET_DIR:-$repo/target}/debug/kubectl-tradeplane" "$state_dir/plugin/kubectl-tradeplane"
PATH=$state_dir/plugin:$PATH
tests/node/plugin.sh "$ns" index-trend

say "kubectl tradeplane dashboard: the quick start in headless Chromium (tests/e2e/tests/dashboard_quickstart.rs)"
tests/browser/install.sh >/dev/null
TRADEPLANE_QUICKSTART_NAMESPACE=$ns cargo test -q --locked -p e2e --test dashboard_quickstart -- --ignored ||
  fail "the console did not show the quick start as its strategies, pool, account and journal say"

# One-second cycles for the halt check below: a config change, so a rollout on the real pods.
say "index-trend at one cycle a second: the rollout"
revisions() { kubectl get ts index-trend -n "$ns" -o jsonpath='{.status.currentRevision} {.status.desiredRevision}'; }
read -r before _ <<<"$(revisions)"
patched=$(date +%s.%N)
kubectl patch ts index-trend -n "$ns" --type merge -p '{"spec":{"schedule":{"intervalSeconds":1}}}' >/dev/null
for _ in $(seq 180); do
  read -r current desired <<<"$(revisions)"
  [ "$current" = "$desired" ] && [ "$current" != "$before" ] && break
  sleep 0.5
done
[ "$current" = "$desired" ] && [ "$current" != "$before" ] ||
  fail "index-trend's rollout to one-second cycles did not finish in 90 s (revision $before → $current, desired $desired)"
say "index-trend: rolled to one-second cycles $(elapsed "$patched") s after the patch"

say "kubectl tradeplane suspend halts trading: the operator's phase, then the runtime's own trading state"
suspended=$(date +%s.%N)
# The plugin writes spec.suspend and returns only once the real operator reports Halted.
said=$(kubectl tradeplane suspend index-trend -n "$ns" --timeout 90s) ||
  fail "kubectl tradeplane suspend did not see the operator confirm: $said"
grep -q "suspended" <<<"$said" || fail "kubectl tradeplane suspend said: $said"
[ "$(kubectl get ts index-trend -n "$ns" -o jsonpath='{.spec.suspend}/{.status.phase}')" = true/Halted ] ||
  fail "suspend returned before the operator reported Halted"
seen=""
for _ in $(seq 120); do
  seen=$(kubectl get ts index-trend -n "$ns" -o jsonpath='{.status.phase}/{.status.tradingState}')
  [ "$seen" = Halted/Halted ] && break
  sleep 0.5
done
[ "$seen" = Halted/Halted ] || fail "index-trend is '$seen' (phase/tradingState), not Halted/Halted, 60 s after suspend: true"
say "index-trend: Halted/Halted $(elapsed "$suspended") s after the patch"
# The runtime that reported Halted: the trader pod that is Ready now. The halt's config change
# replaces the pod, and the kubelet may report the new one Running and Ready only after the
# runtime in it has written its status, so wait for it; a pod being deleted does not count.
ready_trader() {
  kubectl get pods -n "$ns" -l tradeplane.io/strategy=index-trend,app.kubernetes.io/component=trader -o json |
    jq -r '[.items[] | select(.metadata.deletionTimestamp == null and .status.phase == "Running")
            | select(any(.status.conditions[]?; .type == "Ready" and .status == "True"))]
           | sort_by(.metadata.creationTimestamp) | last | .metadata.name // empty'
}
pod=""
for _ in $(seq 120); do
  pod=$(ready_trader)
  [ -n "$pod" ] && break
  sleep 0.5
done
[ -n "$pod" ] || fail "no Ready index-trend trader pod 60 s after it halted"
say "index-trend's pods now: $(kubectl get pods -n "$ns" -l tradeplane.io/strategy=index-trend --no-headers | awk '{print $1, $2, $3}' | paste -sd';'); watching $pod"
orders() { { kubectl logs -n "$ns" "$pod" 2>/dev/null || true; } | jq -s '[.[] | select(.message == "cycle complete")] | [length, (map(.orders) | add // 0)]' -c; }
before=$(orders)
sleep 5
after=$(orders)
[ "$(jq '.[0]' <<<"$after")" -gt "$(jq '.[0]' <<<"$before")" ] || fail "no cycle ran in the 5 s after halting ($before → $after): nothing shows that orders stopped"
[ "$(jq '.[1]' <<<"$after")" = "$(jq '.[1]' <<<"$before")" ] || fail "index-trend sent orders while halted ([cycles, orders] $before → $after)"
say "index-trend: cycles go on, orders stopped ([cycles, orders] $before → $after)"

say "backups to a volume: the backupNowAt Job's pod runs agent-runtime backup (tests/node/backup.sh)"
tests/node/backup.sh "$ns" index-trend now

say "two replicas on PostgreSQL: the leader pod deleted, then an image change (tests/node/failover.sh)"
tests/node/failover.sh "$ns" 1

say "the backup CronJob's pod (its minute has come during the failover part)"
tests/node/backup.sh "$ns" index-trend scheduled

say "a shadow revision: analysed beside the live pod, then promoted (tests/node/shadow.sh)"
tests/node/shadow.sh "$ns"

say "stopping the cluster; then nothing of the node may be left"
trap - EXIT
tests/cluster/down.sh "$state_dir"
rm -rf "$state_dir"
left=$(leftovers)
[ -z "$left" ] || fail "the real node left behind: $left"
say "passed: no process, mount, cgroup, host path or kernel setting left behind"
