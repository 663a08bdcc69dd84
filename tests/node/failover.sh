#!/usr/bin/env bash
# Failover on real pods: a two-replica strategy on PostgreSQL, its leader pod deleted ROUNDS
# times, then an image change. Run by tests/node/test.sh (one round) and tests/node/bench.sh
# (twenty), against a real-node cluster (KUBECONFIG) where the operator is installed and
# NAMESPACE holds the quick start's `paper` BrokerAccount:
#
#   tests/node/failover.sh NAMESPACE ROUNDS
#
# Checks, each round: the standby takes the Lease and trades (a cycle completes under the new
# leader), and a LeaderChanged Event names both pods. After all rounds: no (cycle, symbol) was
# ordered twice in the shared journal. Then `spec.image` changes: a new pod is ready before
# any old one goes, and the rollout replaces the standby before the leader (whose pod the
# operator marked with a pod deletion cost). Prints each round's time from `kubectl delete pod` to the new
# leader's first cycle, and their median and p95.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
ns=$1 rounds=$2
name=ha-trend
say() { printf 'failover: %s\n' "$*" >&2; }
fail() { say "FAILED: $*"; exit 1; }
now() { date +%s.%N; }
since() { printf '%.2f' "$(echo "$(now) - $1" | bc)"; }

pg=$(mktemp -d /tmp/tradeplane-failover-pg.XXXXXX)
chmod 755 "$pg"
trap '"$repo/tests/postgres/down.sh" "$pg" >/dev/null 2>&1; rm -rf "$pg"' EXIT
url=$("$repo/tests/postgres/up.sh" "$pg" 2>/dev/null)
psql=("$(cat "$pg/bin")/psql" -qtA "$url")
kubectl create secret generic journal-postgres -n "$ns" --from-literal "url=$url" >/dev/null
kubectl apply --server-side -n "$ns" -f - >/dev/null <<YAML
apiVersion: tradeplane.io/v1alpha1
kind: TradingStrategy
metadata:
  name: $name
spec:
  symbols: [SPY, QQQ]
  brokerAccountRef: {name: paper}
  replicas: 2
  journal:
    backend: Postgres
    postgres: {urlSecretRef: {name: journal-postgres, key: url}}
  providers: [{name: rules, kind: Rules}]
  analysts:
    - {role: trend, providers: [rules], method: Trend}
    - {role: volatility, providers: [rules], method: Volatility}
  schedule: {intervalSeconds: 1}
YAML
trader_pods() {
  kubectl get pods -n "$ns" -l "tradeplane.io/strategy=$name,app.kubernetes.io/component=trader" \
    -o jsonpath='{range .items[?(@.status.phase=="Running")]}{.metadata.name} {.status.containerStatuses[0].ready} {.metadata.deletionTimestamp}{"\n"}{end}'
}
ts() { kubectl get ts "$name" -n "$ns" -o "jsonpath=$1" 2>/dev/null || true; }
for _ in $(seq 240); do
  ready=$(trader_pods | awk '$2 == "true" && $3 == ""' | wc -l)
  [ "$ready" = 2 ] && [ -n "$(ts '{.status.leader}')" ] && [ -n "$(ts '{.status.lastCycleTime}')" ] && break
  sleep 0.5
done
[ "$ready" = 2 ] || fail "$name: $ready of 2 trader pods ready after 120 s"
say "$name: 2 pods ready, leader $(ts '{.status.leader}')"

times=()
for round in $(seq "$rounds"); do
  leader=$(ts '{.status.leader}')
  # Both pods ready again (the replacement of the last round's leader is the new standby).
  for _ in $(seq 240); do
    [ "$(trader_pods | awk '$2 == "true" && $3 == ""' | wc -l)" = 2 ] && break
    sleep 0.5
  done
  deleted=$(now)
  kubectl delete pod -n "$ns" "$leader" --wait=false >/dev/null
  took=""
  for _ in $(seq 600); do
    holder=$(ts '{.status.leader}')
    cycle=$(ts '{.status.lastCycleTime}')
    if [ -n "$holder" ] && [ "$holder" != "$leader" ] && [ -n "$cycle" ] &&
      [ "$(date -d "$cycle" +%s)" -ge "${deleted%.*}" ]; then
      took=$(since "$deleted")
      break
    fi
    sleep 0.1
  done
  [ -n "$took" ] || fail "round $round: no other pod led and traded within 60 s of deleting $leader"
  times+=("$took")
  event=""
  for _ in $(seq 50); do
    event=$(kubectl get events -n "$ns" --field-selector "reason=LeaderChanged,involvedObject.name=$name" \
      -o jsonpath='{range .items[*]}{.message}{"\n"}{end}' | grep -F "$leader" | grep -F "$holder" | tail -n1 || true)
    [ -n "$event" ] && break
    sleep 0.2
  done
  [ -n "$event" ] || fail "round $round: no LeaderChanged Event names both $leader and $holder"
  say "round $round: $leader deleted → $holder leads and trades after ${took} s; Event: $event"
done

duplicates=$("${psql[@]}" -c "select cycle_id || ' ' || symbol || ' ×' || count(*) from orders where cycle_id is not null group by cycle_id, symbol having count(*) > 1")
orders=$("${psql[@]}" -c "select count(*) from orders")
[ -z "$duplicates" ] || fail "orders placed twice for the same cycle and symbol: $duplicates"
say "journal: $orders orders, none twice for one cycle and symbol"
sorted=$(printf '%s\n' "${times[@]}" | sort -n)
median=$(awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}' <<<"$sorted")
p95=$(awk '{a[NR]=$1} END {i = int(NR * 0.95 + 0.999); if (i > NR) i = NR; print a[i]}' <<<"$sorted")
say "leader pod deleted → standby trading, over $rounds: median ${median} s, p95 ${p95} s"

say "image change: the new pod comes up before an old one goes, and the standby goes first"
leader=$(ts '{.status.leader}')
# The operator marks the leader's pod with a deletion cost (it does so before the status
# names the leader), which the ReplicaSet ranks before the pods' ages.
cost=""
for _ in $(seq 100); do
  cost=$(kubectl get pod "$leader" -n "$ns" -o jsonpath='{.metadata.annotations.controller\.kubernetes\.io/pod-deletion-cost}')
  [ -n "$cost" ] && break
  sleep 0.1
done
[ "$cost" = 1000 ] || fail "the leader $leader carries pod-deletion-cost '$cost', not 1000"
old=$(trader_pods | awk '{print $1}')
kubectl patch ts "$name" -n "$ns" --type merge \
  -p "{\"spec\":{\"image\":\"localhost/tradeplane/agent-runtime:$(sed -n 's/^appVersion: *"*\([^"]*\)"*/\1/p' "$repo/charts/tradeplane/Chart.yaml")\"}}" >/dev/null
first_gone=""
for _ in $(seq 1200); do
  for pod in $old; do
    if ! trader_pods | awk '$3 == ""' | grep -q "^$pod "; then first_gone=$pod; break 2; fi
  done
  sleep 0.1
done
[ -n "$first_gone" ] || fail "no old pod was replaced within 120 s of the image change"
new_ready=$(trader_pods | awk '$2 == "true" && $3 == "" {print $1}' | grep -vxF -f <(tr ' ' '\n' <<<"$old") || true)
[ -n "$new_ready" ] || fail "an old pod ($first_gone) went before a new one was ready"
say "a new pod ($new_ready) was ready before the first old one went"
# Without the mark the ReplicaSet ranked pods ready for about as long alike (it compares
# their ages in powers of two) and removed the leader first in about one run of five.
[ "$first_gone" != "$leader" ] || fail "the first old pod replaced was the leader $leader, not its standby"
say "the first old pod replaced was the standby $first_gone (the leader $leader carries pod-deletion-cost $cost)"
for _ in $(seq 240); do
  image=$(kubectl get pods -n "$ns" -l "tradeplane.io/strategy=$name" -o jsonpath='{.items[*].spec.containers[0].image}')
  holder=$(ts '{.status.leader}')
  if ! grep -q ghcr.io <<<"$image" && [ -n "$holder" ] && ! grep -qw "$holder" <<<"$old"; then break; fi
  sleep 0.5
done
grep -q ghcr.io <<<"$image" && fail "pods of the old image remain 120 s after the change: $image"
say "rolled: every pod runs the new image, $holder leads"
