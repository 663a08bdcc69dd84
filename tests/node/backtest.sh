#!/usr/bin/env bash
# A parameter sweep on the real node (tests/node/test.sh calls it once the operator is
# installed), against a real-node cluster (KUBECONFIG):
#
#   tests/node/backtest.sh NAMESPACE
#
# Creates NAMESPACE, puts 400 daily bars (tests/node/bars.py, the same every time) in the
# ConfigMap aapl-daily and applies examples/backtest/sweep.yaml unchanged: 16 points
# (fastPeriod × slowPeriod) as one Indexed Job, four pods at a time, each a real
# `agent-runtime backtest` in the runtime image on the real kubelet and containerd. Waits for
# the Backtest's Complete condition, then checks with kubectl:
#   * every run Succeeded with its statistics, over all 400 bars, and the sweep's points
#     reached the pods (not every run traded alike); a run's statistics in the status are the
#     ones its pod printed (kubectl logs);
#   * `kubectl get bt` fills PROGRESS 16/16, RETURN, SHARPE, MAX DD and TRADES, from the best
#     run; status.bestRuns are the keepBest highest Sharpe ratios, best first;
#   * the Job's pods ran on the real node, non-root with a read-only root filesystem, no
#     privilege escalation and no capability (their pod spec);
#   * the runs' ServiceAccount may patch this Backtest's status and nothing else: not its
#     spec, not another Backtest's status (`kubectl auth can-i --as`, then a real patch with a
#     token of the account, refused);
#   * deleting the Backtest deletes its Job, the Job's pods and the runs' ConfigMap.
# Prints the time from `kubectl apply` to Complete. Deletes NAMESPACE at the end.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
ns=$1
name=sma-sweep bars=400
say() { printf 'real-node backtest: %s\n' "$*" >&2; }
fail() { say "FAILED: $*"; exit 1; }
now() { date +%s.%N; }
since() { printf '%.1f' "$(echo "$(now) - $1" | bc)"; }
tmp=$(mktemp -d /tmp/tradeplane-node-backtest.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

kubectl create namespace "$ns" >/dev/null
"$here/bars.py" "$bars" >"$tmp/AAPL.csv"
kubectl create configmap aapl-daily -n "$ns" --from-file="$tmp/AAPL.csv" >/dev/null
applied=$(now)
kubectl apply -n "$ns" -f "$repo/examples/backtest/sweep.yaml" >/dev/null
# kubectl wait's own log lines (a watch it restarts) go to a file, shown only on failure.
if ! kubectl wait -n "$ns" "bt/$name" --for=condition=Complete --timeout=120s >/dev/null 2>"$tmp/wait.log"; then
  cat "$tmp/wait.log" >&2
  kubectl get bt,job,pods -n "$ns" -o wide >&2
  fail "bt/$name not Complete 120 s after kubectl apply: $(kubectl get bt "$name" -n "$ns" -o jsonpath='{.status.conditions}')"
fi
complete=$(since "$applied")
# A run reports Succeeded just before its process exits: the Job completes a moment later.
kubectl wait -n "$ns" "job/$name-backtest" --for=condition=Complete --timeout=60s >/dev/null 2>"$tmp/wait.log" ||
  fail "job/$name-backtest not Complete 60 s after bt/$name: $(kubectl get job "$name-backtest" -n "$ns" -o jsonpath='{.status}') $(cat "$tmp/wait.log")"
say "bt/$name: 16 runs of $bars bars Complete $complete s after kubectl apply, its Job $(since "$applied") s"

bt=$(kubectl get bt "$name" -n "$ns" -o json)
runs=$(jq -c '.status.runs | sort_by(.index)' <<<"$bt")
[ "$(jq 'length' <<<"$runs")" = 16 ] || fail "status.runs has $(jq length <<<"$runs") entries, not 16"
[ "$(jq '[.[].index]' -c <<<"$runs")" = "[$(seq -s, 0 15)]" ] || fail "status.runs indexes: $(jq -c '[.[].index]' <<<"$runs")"
not_ok=$(jq -c --argjson bars "$bars" '[.[] | select(.phase != "Succeeded" or .stats.bars != $bars
  or ([.stats.totalReturn, .stats.sharpe, .stats.maxDrawdown, .stats.trades, .stats.buyAndHoldReturn,
       .stats.barsPerSecond] | any(. == null)))]' <<<"$runs")
[ "$not_ok" = "[]" ] || fail "runs not Succeeded with statistics over $bars bars: $not_ok"
kinds=$(jq '[.[].stats | [.trades, .totalReturn]] | unique | length' <<<"$runs")
[ "$kinds" -gt 1 ] || fail "all 16 runs traded alike: the sweep's points did not reach the pods"

# The status of one run is what its pod printed: run 5 (fastPeriod 10, slowPeriod 50).
pod=$(kubectl get pods -n "$ns" -l batch.kubernetes.io/job-completion-index=5 -o jsonpath='{.items[0].metadata.name}')
printed=$(kubectl logs -n "$ns" "$pod" | jq -sc '[.[] | select(type == "object" and has("totalReturn"))][0] | [.totalReturn, .trades, .bars]')
stored=$(jq -c '.[5].stats | [.totalReturn, .trades, .bars]' <<<"$runs")
[ "$printed" = "$stored" ] || fail "run 5: its pod $pod printed $printed, the status has $stored"

# The best runs: the three highest Sharpe ratios (ties by index), best first.
expected=$(jq -c '[.[] | {index, sharpe: .stats.sharpe}] | sort_by(-.sharpe, .index) | [.[:3][].index]' <<<"$runs")
best=$(jq -c '[.status.bestRuns[].index]' <<<"$bt")
[ "$best" = "$expected" ] || fail "status.bestRuns are runs $best, the highest Sharpe ratios are $expected"
read -r top_return top_sharpe top_dd top_trades < <(jq -r --argjson i "$(jq '.[0]' <<<"$best")" \
  '.[] | select(.index == $i) | .stats | [(.totalReturn * 100), .sharpe, (.maxDrawdown * 100), .trades] | @tsv' <<<"$runs")
want=$(printf '16/16 %+.2f%% %.2f %.2f%% %s' "$top_return" "$top_sharpe" "$top_dd" "$top_trades")
row=$(kubectl get bt "$name" -n "$ns" --no-headers)
seen=$(awk '{print $2, $3, $4, $5, $6, $7}' <<<"$row")
[ "$seen" = "Complete $want" ] || fail "kubectl get bt: '$row'; expected PHASE PROGRESS RETURN SHARPE MAX DD TRADES 'Complete $want' (best run $(jq '.[0]' <<<"$best"))"
say "kubectl get bt: $row"
say "best runs by Sharpe: $(jq -r '[.status.bestRuns[] | "run \(.index) (\(.params | to_entries | map("\(.key | sub(".*\\."; ""))=\(.value)") | join(" "))) \(.sharpe * 100 | round / 100)"] | join("; ")' <<<"$bt")"

# The pods: on the real node, hardened, all 16 Succeeded.
pods=$(kubectl get pods -n "$ns" -l batch.kubernetes.io/job-name="$name-backtest" -o json)
[ "$(jq '.items | length' <<<"$pods")" = 16 ] || fail "the Job has $(jq '.items | length' <<<"$pods") pods, not 16"
soft=$(jq -c '[.items[] | select(.spec.nodeName != "127.0.0.1" or .status.phase != "Succeeded"
  or (.spec.securityContext.runAsNonRoot != true) or ((.spec.securityContext.runAsUser // 0) == 0)
  or (.spec.containers[0].securityContext.readOnlyRootFilesystem != true)
  or (.spec.containers[0].securityContext.allowPrivilegeEscalation != false)
  or (.spec.containers[0].securityContext.capabilities.drop != ["ALL"])) | .metadata.name]' <<<"$pods")
[ "$soft" = "[]" ] || fail "pods not Succeeded on the real node as a non-root user with a read-only root filesystem: $soft"
say "16 pods Succeeded on node 127.0.0.1: uid $(jq -r '.items[0].spec.securityContext.runAsUser' <<<"$pods"), read-only root filesystem, image $(jq -r '.items[0].spec.containers[0].image' <<<"$pods")"

# The runs' identity: this Backtest's status only.
# Another Backtest, the same strategy run once (no sweep). (kubectl patch reads the object
# first: the refusal may name get rather than patch; both are the Role saying no.)
kubectl create --dry-run=client -o json -f "$repo/examples/backtest/sweep.yaml" |
  jq '.metadata.name = "other" | del(.metadata.namespace, .spec.sweep)' | kubectl apply -n "$ns" -f - >/dev/null
account=system:serviceaccount:$ns:$name-run
can() { kubectl auth can-i "$@" -n "$ns" --as="$account"; }
[ "$(can patch "backtests.tradeplane.io/$name" --subresource=status)" = yes ] ||
  fail "$account may not patch its own Backtest's status"
for what in "backtests.tradeplane.io/other --subresource=status" "backtests.tradeplane.io/$name" \
  "backtests.tradeplane.io/other" "jobs.batch/$name-backtest"; do
  # shellcheck disable=SC2086 # the subresource flag is meant to split off
  [ "$(can patch $what || true)" = no ] || fail "$account may patch $what"
done
token=$(kubectl create token "$name-run" -n "$ns" --duration=10m)
# The cluster's kubeconfig with the token in place of the admin's credentials.
as_run=(kubectl --token="$token" -n "$ns")
"${as_run[@]}" get bt "$name" --subresource=status -o name >/dev/null ||
  fail "a token of $account cannot read its own Backtest's status"
"${as_run[@]}" get bt "$name" -o name >/dev/null 2>&1 && fail "the run token may read the Backtest itself, not only its status"
if out=$("${as_run[@]}" patch bt other --subresource=status --type=merge \
  -p '{"status":{"phase":"Complete"}}' 2>&1); then
  fail "a token of $account patched bt/other's status: $out"
fi
grep -q "User \"$account\" cannot" <<<"$out" || fail "patching bt/other's status with the run token failed, but not as forbidden: $out"
say "$account: patch own status yes; other Backtest, spec, Job no; a real patch of bt/other with its token: forbidden"

# Deleting the Backtest deletes its children.
kubectl delete bt "$name" -n "$ns" --wait=true >/dev/null
for child in "job/$name-backtest" "configmap/$name-runs"; do
  kubectl wait -n "$ns" "$child" --for=delete --timeout=60s >/dev/null 2>&1 ||
    fail "$child still there 60 s after kubectl delete bt $name"
done
for _ in $(seq 60); do
  left=$(kubectl get pods -n "$ns" -l batch.kubernetes.io/job-name="$name-backtest" -o name)
  [ -z "$left" ] && break
  sleep 1
done
[ -z "$left" ] || fail "the Job's pods still there 60 s after kubectl delete bt $name: $left"
say "kubectl delete bt $name: its Job, the Job's 16 pods and $name-runs gone"
kubectl delete namespace "$ns" --wait=false >/dev/null
