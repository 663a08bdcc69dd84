#!/usr/bin/env bash
# A backup on real pods: the strategy NAME, trading on its SQLite journal, gets `spec.backup`
# to a volume and a `backupNowAt`; the Job's pod runs the project's `agent-runtime backup` on
# the real node. Run by tests/node/test.sh against a real-node cluster (KUBECONFIG):
#
#   tests/node/backup.sh NAMESPACE NAME
#
# Checks: the Job's pod ran the runtime image on the real node and exited 0; status.lastBackup
# names a backup with a size and rows, BackupSucceeded is True; and the backup claim's
# directory on the host (kwok's hostPath volume, made writable by services.py) holds that
# backup's data and manifest, whose size, rows and sha256 are the status's. Prints the time
# from the patch to status.lastBackup.
#
# The on-demand Job and the CronJob's Jobs have the same pod (one function renders both), so
# this is also what a scheduled backup runs; waiting for a cron slot would only add time.
set -euo pipefail
ns=$1 name=$2
say() { printf 'backup: %s\n' "$*" >&2; }
fail() { say "FAILED: $*"; exit 1; }
now() { date +%s.%N; }
since() { printf '%.1f' "$(echo "$(now) - $1" | bc)"; }
ts() { kubectl get ts "$name" -n "$ns" -o "jsonpath=$1" 2>/dev/null || true; }

at=$(date -u +%FT%TZ)
patched=$(now)
kubectl patch ts "$name" -n "$ns" --type merge -p "$(jq -cn --arg at "$at" \
  '{spec: {backup: {destination: {volume: {storageSize: "1Gi"}}, backupNowAt: $at}}}')" >/dev/null
backup=""
for _ in $(seq 300); do
  [ "$(ts '{.status.lastBackupNowAt}')" = "$at" ] && backup=$(ts '{.status.lastBackup.name}')
  [ -n "$backup" ] && break
  # A failure is reported too: stop at once, with its reason.
  failure=$(ts '{.status.lastBackupFailure.message}')
  [ -z "$failure" ] || fail "$name: the backup failed: $failure"
  sleep 0.2
done
took=$(since "$patched")
if [ -z "$backup" ]; then
  kubectl get jobs,pods -n "$ns" -l app.kubernetes.io/component=backup -o wide >&2 || true
  kubectl logs -n "$ns" -l app.kubernetes.io/component=backup --tail 20 >&2 || true
  fail "$name: no status.lastBackup for backupNowAt $at within 60 s"
fi
record=$(kubectl get ts "$name" -n "$ns" -o json | jq -c '.status.lastBackup')
size=$(jq -r '.sizeBytes // 0' <<<"$record")
rows=$(jq -r '.rows // 0' <<<"$record")
checksum=$(jq -r '.checksum // ""' <<<"$record")
say "$name: status.lastBackup $backup, $size bytes, $rows rows, $checksum, ${took} s after the patch"
[ "$size" -gt 0 ] && [ "$rows" -gt 0 ] || fail "status.lastBackup has no size or no rows: $record"
condition=$(kubectl get ts "$name" -n "$ns" -o json |
  jq -r '.status.conditions[] | select(.type == "BackupSucceeded") | "\(.status) \(.reason)"')
[ "${condition%% *}" = True ] || fail "BackupSucceeded is '$condition', not True"

# The pod that did it: the Job started for this backupNowAt, on the real node, the runtime
# image, `agent-runtime backup`, exited 0.
job=$(kubectl get jobs -n "$ns" -o json | jq -r --arg at "$at" \
  '.items[] | select(.metadata.annotations["tradeplane.io/backup-now-at"] == $at) | .metadata.name')
[ -n "$job" ] || fail "no Job carries the annotation tradeplane.io/backup-now-at=$at"
version=$(sed -n 's/^appVersion: *"*\([^"]*\)"*/\1/p' charts/tradeplane/Chart.yaml)
pods=$(kubectl get pods -n "$ns" -l "job-name=$job" -o json | jq -r '.items[] |
  "\(.spec.nodeName) \(.spec.containers[0].image) \(.spec.containers[0].args[0]) \(.status.containerStatuses[0].state.terminated.exitCode // "running")"')
say "job/$job pods (node, image, mode, exit code): $(paste -sd';' <<<"$pods")"
grep -qx "127.0.0.1 ghcr.io/tradeplane/agent-runtime:$version backup 0" <<<"$pods" ||
  fail "no pod of job/$job ran 'agent-runtime backup' from the runtime image on the real node and exited 0"

# The files, in the backup claim's directory on the host.
volume=$(kubectl get pvc "$name-backups" -n "$ns" -o jsonpath='{.spec.volumeName}')
dir=$(kubectl get pv "$volume" -o jsonpath='{.spec.hostPath.path}')
[ -n "$dir" ] && [ -d "$dir" ] || fail "the backup claim's volume '$volume' has no host directory ('$dir')"
manifest=$dir/$backup.manifest.json data=$dir/$backup.jsonl.gz
[ -f "$manifest" ] && [ -f "$data" ] || fail "$dir lacks $backup's data or manifest: $(ls -l "$dir" | tail -n +2 | paste -sd';')"
sha=$(sha256sum "$data" | cut -d' ' -f1)
seen=$(jq -r '"\(.data.sizeBytes) \(.rows) sha256:\(.data.sha256)"' "$manifest")
[ "$seen" = "$size $rows $checksum" ] || fail "$manifest says '$seen', the status '$size $rows $checksum'"
[ "sha256:$sha" = "$checksum" ] || fail "$data hashes to sha256:$sha, the status says $checksum"
[ "$(stat -c %s "$data")" = "$size" ] || fail "$data is $(stat -c %s "$data") bytes, the status says $size"
gzip -t "$data" || fail "$data is not a whole gzip stream"
say "$dir: $backup.jsonl.gz ($size bytes, sha256 as reported) and its manifest ($rows rows, $(jq -r '.strategy' "$manifest"), journal $(jq -r '.journalBackend' "$manifest"))"
