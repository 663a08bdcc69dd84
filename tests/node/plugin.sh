#!/usr/bin/env bash
# `kubectl tradeplane` on the real node (tests/node/test.sh calls it once a strategy traded):
#
#   tests/node/plugin.sh NAMESPACE STRATEGY
#
# Runs the plugin as a user runs it — `kubectl tradeplane ...`, found on PATH by kubectl, with
# the cluster's kubeconfig — so the journal comes from the strategy's real pod through the API
# server's service proxy: the Service's Endpoints list the pod at the node's IP. Checks that
#   * `status` shows the Lease's holder as leader, the journal's figures (no "unavailable"
#     part) and the strategy's open position;
#   * `journal --kind orders` lists the orders the runtime journalled, and `explain` of the
#     first one's cycle shows that cycle's decision, each analyst's report, the risk check and
#     the order itself;
#   * `logs` prints the leader's JSON log lines as readable `time level message key=value`.
set -euo pipefail
ns=$1 strategy=$2
say() { printf 'real-node plugin: %s\n' "$*" >&2; }
fail() { say "FAILED: $*"; exit 1; }

command -v kubectl-tradeplane >/dev/null || fail "kubectl-tradeplane is not on PATH (test.sh puts it there)"
kubectl plugin list 2>/dev/null | grep -q "kubectl-tradeplane" ||
  fail "kubectl does not find kubectl-tradeplane on PATH"

status=$(kubectl tradeplane status "$strategy" -n "$ns")
leader=$(kubectl get lease "$strategy-leader" -n "$ns" -o jsonpath='{.spec.holderIdentity}')
grep -q "^Leader  *$leader" <<<"$status" || fail "status does not name the Lease holder $leader as leader:
$status"
! grep -q "unavailable" <<<"$status" || fail "a part of status is unavailable:
$status"
grep -q "^Positions  *[A-Z]" <<<"$status" || fail "status shows no position:
$status"
say "status $strategy: $(wc -l <<<"$status") lines; leader $leader; $(grep '^Positions' <<<"$status")"

orders=$(kubectl tradeplane journal "$strategy" -n "$ns" --kind orders -o json)
count=$(jq 'length' <<<"$orders")
[ "$count" -gt 0 ] || fail "journal --kind orders lists no order"
cycle=$(jq -r '.[0].item.cycleId' <<<"$orders")
order=$(jq -r '.[0].item.clientOrderId' <<<"$orders")
explained=$(kubectl tradeplane explain "$strategy" "$cycle" -n "$ns")
# The order's line fits 80 columns, so its client order id may end in "…": match its start.
for expected in "$cycle" "${order:0:24}" "Risk"; do
  grep -q -- "$expected" <<<"$explained" || fail "explain $cycle does not show '$expected':
$explained"
done
detail=$(kubectl tradeplane explain "$strategy" "$cycle" -n "$ns" -o json)
for role in $(jq -r '.decisions[].analysts[].role' <<<"$detail" | sort -u); do
  grep -q -- "$role" <<<"$explained" || fail "explain $cycle does not show the report of $role"
done
say "journal: $count orders; explain $cycle: $(wc -l <<<"$explained") lines, order $order"

# logs: the leader's JSON lines as `time level message key=value`, no JSON left.
logs=$(kubectl tradeplane logs "$strategy" -n "$ns" --tail 50)
grep -Eq '^[0-9T:.-]+Z INFO  cycle complete .*cycle_id=' <<<"$logs" || fail "logs shows no readable completed cycle:
$logs"
! grep -q '^{' <<<"$logs" || fail "logs left JSON lines as they were:
$logs"
say "logs: $(wc -l <<<"$logs") readable lines from the leader"
