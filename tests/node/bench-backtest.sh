#!/usr/bin/env bash
# The 64-point sweep on real pods, at parallelism 1 and 2 (tests/node/bench.sh runs it in
# `make bench`, before the quick start, so the node runs nothing else), against a real-node
# cluster (KUBECONFIG) where the operator is installed:
#
#   tests/node/bench-backtest.sh NAMESPACE
#
# examples/backtest/sweep.yaml's strategy (one Trend seat, next-open fills) over BARS daily
# bars (default 10,000, tests/node/bars.py, in a ConfigMap), swept over fastPeriod (4 values)
# × slowPeriod (16 values): one Indexed Job of 64 pods, once at parallelism 1 and once at 2.
# Prints for each: the wall time from `kubectl create` to the Backtest's Complete condition,
# the median pod time (created → container finished, from the pods' whole-second timestamps),
# the median time of the backtest itself inside the pod (bars / barsPerSecond of its status),
# and the ratio of the two wall times (on 2 cores the ideal is about 2). Figures, never
# asserted: a run that does not succeed stops the bench.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
ns=$1
bars=${BARS:-10000}
say() { printf 'real-node backtest bench: %s\n' "$*" >&2; }
fail() { say "FAILED: $*"; exit 1; }
now() { date +%s.%N; }
tmp=$(mktemp -d /tmp/tradeplane-node-bench-backtest.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

kubectl create namespace "$ns" >/dev/null
"$here/bars.py" "$bars" >"$tmp/AAPL.csv"
kubectl create configmap aapl-daily -n "$ns" --from-file="$tmp/AAPL.csv" >/dev/null
say "each run: $bars daily bars of one symbol ($(wc -c <"$tmp/AAPL.csv") bytes of CSV from a ConfigMap), one Trend seat, next-open fills; 64 points: fastPeriod 5,10,15,20 × slowPeriod 30,35,…,105"

# The example's Backtest with 64 points at parallelism $2, named $1.
manifest() {
  kubectl create --dry-run=client -o json -f "$repo/examples/backtest/sweep.yaml" |
    jq --arg name "$1" --argjson parallelism "$2" '.metadata.name = $name | del(.metadata.namespace)
      | .spec.sweep.axes[1].values = [range(30; 110; 5)] | .spec.sweep.parallelism = $parallelism'
}

# jq: the median of an array of numbers.
median='def median: sort | if length == 0 then null elif length % 2 == 1 then .[length / 2 | floor]
  else (.[length / 2 - 1] + .[length / 2]) / 2 end;'

# Runs the sweep at parallelism $1; prints its wall time in seconds on stdout.
sweep() {
  local parallelism=$1 name=bench-p$1 created wall
  manifest "$name" "$parallelism" >"$tmp/$name.json"
  created=$(now)
  kubectl create -n "$ns" -f "$tmp/$name.json" >/dev/null
  # kubectl wait's own log lines (a watch it restarts) go to a file, shown only on failure.
  kubectl wait -n "$ns" "bt/$name" --for=condition=Complete --timeout=900s >/dev/null 2>"$tmp/wait.log" ||
    fail "bt/$name not Complete in 900 s: $(kubectl get bt "$name" -n "$ns" -o jsonpath='{.status.progress} {.status.conditions}') $(cat "$tmp/wait.log")"
  wall=$(echo "$(now) - $created" | bc)
  local bt pods
  bt=$(kubectl get bt "$name" -n "$ns" -o json)
  [ "$(jq '[.status.runs[] | select(.phase == "Succeeded")] | length' <<<"$bt")" = 64 ] ||
    fail "bt/$name: not all 64 runs Succeeded"
  kubectl wait -n "$ns" "job/$name-backtest" --for=condition=Complete --timeout=60s >/dev/null 2>"$tmp/wait.log" ||
    fail "job/$name-backtest not Complete 60 s after bt/$name: $(cat "$tmp/wait.log")"
  pods=$(kubectl get pods -n "$ns" -l batch.kubernetes.io/job-name="$name-backtest" -o json)
  local pod_median engine_median
  pod_median=$(jq "$median"' [.items[] | (.status.containerStatuses[0].state.terminated.finishedAt | fromdateiso8601)
    - (.metadata.creationTimestamp | fromdateiso8601)] | median' <<<"$pods")
  engine_median=$(jq "$median"' [.status.runs[].stats | .bars / .barsPerSecond] | median' <<<"$bt")
  say "$(printf '64 points, parallelism %s: %.1f s from kubectl create to Complete (%.2f s a point); per run: median pod time %.1f s (created → container finished, 1 s resolution), median backtest time in the pod %.3f s (its barsPerSecond: start-up excluded)' \
    "$parallelism" "$wall" "$(echo "$wall / 64" | bc -l)" "$pod_median" "$engine_median")"
  kubectl delete bt "$name" -n "$ns" --wait=true >/dev/null
  kubectl wait -n "$ns" pods -l batch.kubernetes.io/job-name="$name-backtest" --for=delete --timeout=120s >/dev/null 2>&1 || true
  echo "$wall"
}

p1=$(sweep 1)
p2=$(sweep 2)
say "$(printf '64 points: parallelism 1 %.1f s, parallelism 2 %.1f s: p1/p2 %.2f× (ideal on 2 cores ~2×)' "$p1" "$p2" "$(echo "$p1 / $p2" | bc -l)")"
kubectl delete namespace "$ns" --wait=false >/dev/null
