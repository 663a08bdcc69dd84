#!/usr/bin/env bash
# A shadow revision promoted on real pods. Run by tests/node/test.sh against a real-node
# cluster (KUBECONFIG) where the operator is installed and NAMESPACE holds the quick start's
# `paper` BrokerAccount:
#
#   tests/node/shadow.sh NAMESPACE
#
# Applies a one-replica strategy with `rollout: {strategy: Shadow}` on replayed bars at a
# cycle a second, waits until it trades, then changes a quant parameter (a minimum confidence
# a hair higher, so the decisions agree) and checks, with kubectl:
#   * the live Deployment keeps its revision while `<name>-shadow` runs the new one as a real
#     pod on the node, with no API token; the Lease stays with the live pod;
#   * the analysis passes (verdict Succeeded, the default onSuccess: Wait keeps the live pods
#     on the old revision until the promote);
#   * `tradeplane.io/promote-shadow=<shadowRevision>` rolls the live Deployment to the shadow's
#     revision: a new live pod leads and completes a cycle, the shadow's Deployment, Service,
#     ServiceAccount and Secrets are gone (the chart's RBAC lets the operator delete them),
#     and the verdict is Promoted.
# Prints the time from the patch to the verdict and from the promote to the new pod's first
# cycle. Deletes the strategy at the end.
set -euo pipefail
ns=$1
name=shadow-trend
say() { printf 'real-node shadow: %s\n' "$*" >&2; }
fail() { say "FAILED: $*"; kubectl get ts,deploy,pods -n "$ns" -o wide >&2 || true; exit 1; }
now() { date +%s.%N; }
since() { printf '%.1f' "$(echo "$(now) - $1" | bc)"; }
ts() { kubectl get ts "$name" -n "$ns" -o "jsonpath=$1" 2>/dev/null || true; }
live_revision() {
  kubectl get deploy "$name-trader" -n "$ns" \
    -o jsonpath='{.spec.template.metadata.annotations.tradeplane\.io/revision}' 2>/dev/null || true
}
# Polls `$2` (a command) every half second until it succeeds, for up to $1 seconds in all
# (its own kubectl calls included).
until_true() {
  local deadline=$((SECONDS + $1)); shift
  until "$@"; do
    [ $SECONDS -lt $deadline ] || return 1
    sleep 0.5
  done
}

kubectl apply --server-side -n "$ns" -f - >/dev/null <<YAML
apiVersion: tradeplane.io/v1alpha1
kind: TradingStrategy
metadata:
  name: $name
spec:
  symbols: [SPY, QQQ]
  brokerAccountRef: {name: paper}
  providers: [{name: rules, kind: Rules}]
  analysts:
    - {role: trend, providers: [rules], method: Trend}
  decision: {minConfidence: 0.2}
  schedule: {intervalSeconds: 1}
  marketData: {source: Replay, replay: {barsPerCycle: 3}}
  rollout:
    strategy: Shadow
    analysis: {minCycles: 5}
YAML
trading() { [ -n "$(ts '{.status.leader}')" ] && [ -n "$(ts '{.status.lastCycleTime}')" ]; }
until_true 180 trading || fail "$name: no leader and no cycle 180 s after kubectl apply"
live_pod=$(ts '{.status.leader}')
before=$(live_revision)
say "$name trades: leader $live_pod, live revision $before"

patched=$(now)
kubectl patch ts "$name" -n "$ns" --type merge -p '{"spec":{"decision":{"minConfidence":0.2001}}}' >/dev/null
shadow_pod() {
  kubectl get pods -n "$ns" -l "tradeplane.io/strategy=$name,app.kubernetes.io/component=shadow" \
    -o jsonpath='{range .items[?(@.status.phase=="Running")]}{.metadata.name}{"\n"}{end}' | head -1
}
has_shadow_pod() { [ -n "$(shadow_pod)" ]; }
until_true 120 has_shadow_pod || fail "no running $name-shadow pod 120 s after the patch"
pod=$(shadow_pod)
seen=$(kubectl get pod "$pod" -n "$ns" -o jsonpath='{.spec.nodeName} {.spec.automountServiceAccountToken}')
[ "$seen" = "127.0.0.1 false" ] || fail "the shadow's pod $pod is not on the real node without an API token: $seen"
say "the shadow runs as $pod on the real node ($(since "$patched") s after the patch)"

judged() { case $(ts '{.status.rollout.verdict}') in Succeeded | Failed) return 0 ;; esac; return 1; }
until_true 120 judged || fail "no verdict 120 s after the patch: $(ts '{.status.rollout}')"
verdict=$(ts '{.status.rollout.verdict}')
[ "$verdict" = Succeeded ] || fail "the agreeing change's shadow $verdict: $(ts '{.status.rollout.reason}')"
say "verdict Succeeded $(since "$patched") s after the patch: $(ts '{.status.rollout.cyclesCompared}') cycles compared, agreement $(ts '{.status.rollout.agreement}')"
[ "$(live_revision)" = "$before" ] || fail "the live Deployment rolled before the promote: $(live_revision)"
holder=$(kubectl get lease "$name-leader" -n "$ns" -o jsonpath='{.spec.holderIdentity}')
[ "$holder" = "$live_pod" ] || fail "the Lease is held by '$holder', not the live pod $live_pod"

shadow_revision=$(ts '{.status.rollout.shadowRevision}')
promoted=$(now)
kubectl annotate ts "$name" -n "$ns" --overwrite "tradeplane.io/promote-shadow=$shadow_revision" >/dev/null
rolled() {
  local leader
  leader=$(ts '{.status.leader}')
  [ "$(live_revision)" != "$before" ] && [ -n "$leader" ] && [ "$leader" != "$live_pod" ] &&
    [ "$(ts '{.status.rollout.verdict}')" = Promoted ] &&
    ! kubectl get deploy "$name-shadow" -n "$ns" >/dev/null 2>&1
}
until_true 180 rolled || fail "not promoted 180 s after the annotation: revision $(live_revision), leader $(ts '{.status.leader}'), rollout $(ts '{.status.rollout}')"
# The rest of the shadow goes with it: its copy of the providers' keys most of all.
shadow_children() {
  kubectl get "secret/$name-shadow-config" "secret/$name-shadow-credentials" "service/$name-shadow" \
    "serviceaccount/$name-shadow-runtime" -n "$ns" -o name --ignore-not-found
}
shadow_gone() { [ -z "$(shadow_children)" ]; }
until_true 30 shadow_gone || fail "the shadow's children outlived it: $(shadow_children | paste -sd' ')"
new_pod=$(ts '{.status.leader}')
after_cycle=$(ts '{.status.lastCycleTime}')
cycled() { [ "$(ts '{.status.lastCycleTime}')" != "$after_cycle" ]; }
until_true 60 cycled || fail "$new_pod completed no cycle after the promote"
seen=$(kubectl get pod "$new_pod" -n "$ns" -o jsonpath='{.spec.nodeName} {.metadata.annotations.tradeplane\.io/revision}')
[ "$seen" = "127.0.0.1 $(live_revision)" ] || fail "the new leader $new_pod is not a real pod of the promoted revision: $seen"
say "promoted: $new_pod leads on revision $(live_revision) and trades ($(since "$promoted") s after the annotation); $name-shadow is gone"

kubectl delete ts "$name" -n "$ns" --wait=true --timeout=60s >/dev/null
