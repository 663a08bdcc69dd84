#!/usr/bin/env bash
# Backups on real pods: the strategy NAME, trading on its SQLite journal, gets `spec.backup`
# to a volume, a schedule of every minute and a `backupNowAt`; the Jobs' pods run the
# project's `agent-runtime backup` on the real node. Run by tests/node/test.sh against a
# real-node cluster (KUBECONFIG), in two steps so that the wait for the cron slot overlaps
# the failover test:
#
#   tests/node/backup.sh NAMESPACE NAME now         the patch, then the on-demand Job's backup
#   tests/node/backup.sh NAMESPACE NAME scheduled   later: a backup of the CronJob's own Job
#
# `now` checks: the Job's pod ran the runtime image on the real node and exited 0;
# status.lastBackup names a backup with a size and rows, BackupSucceeded is True; and the
# backup claim's directory on the host (kwok's hostPath volume, made writable by services.py)
# holds that backup's data and manifest, whose size, rows and sha256 are the status's. Prints
# the time from the patch to status.lastBackup. `scheduled` checks that a Job of the CronJob
# `NAME-backup` succeeded the same way, that the status has its lastScheduleTime, and that
# every backup on the volume (two at least) is whole: data and manifest, the sha256 matching.
set -euo pipefail
ns=$1 name=$2 step=$3
say() { printf 'backup: %s\n' "$*" >&2; }
fail() { say "FAILED: $*"; exit 1; }
now() { date +%s.%N; }
since() { printf '%.1f' "$(echo "$(now) - $1" | bc)"; }
ts() { kubectl get ts "$name" -n "$ns" -o "jsonpath=$1" 2>/dev/null || true; }
version=$(sed -n 's/^appVersion: *"*\([^"]*\)"*/\1/p' charts/tradeplane/Chart.yaml)

# The pods of JOB must include one that ran `agent-runtime backup` from the runtime image on
# the real node and exited 0.
check_pods() {
  local job=$1 pods pod
  pods=$(kubectl get pods -n "$ns" -l "job-name=$job" -o json | jq -r '.items[] |
    "\(.spec.nodeName) \(.spec.containers[0].image) \(.spec.containers[0].args[0]) \(.status.containerStatuses[0].state.terminated.exitCode // "running")"')
  say "job/$job pods (node, image, mode, exit code): $(paste -sd';' <<<"$pods")"
  # A pod that failed (the Job retries once) says why in its last lines.
  for pod in $(kubectl get pods -n "$ns" -l "job-name=$job" -o json |
    jq -r '.items[] | select((.status.containerStatuses[0].state.terminated.exitCode // 0) != 0) | .metadata.name'); do
    say "$pod failed; its last lines:"
    kubectl logs -n "$ns" "$pod" --tail 8 >&2 || true
  done
  grep -qx "127.0.0.1 ghcr.io/tradeplane/agent-runtime:$version backup 0" <<<"$pods" ||
    fail "no pod of job/$job ran 'agent-runtime backup' from the runtime image on the real node and exited 0"
}

# The backup claim's directory on the host.
backup_dir() {
  local volume dir
  volume=$(kubectl get pvc "$name-backups" -n "$ns" -o jsonpath='{.spec.volumeName}')
  dir=$(kubectl get pv "$volume" -o jsonpath='{.spec.hostPath.path}')
  [ -n "$dir" ] && [ -d "$dir" ] || fail "the backup claim's volume '$volume' has no host directory ('$dir')"
  echo "$dir"
}

# Backup NAME in DIR is whole: its data file's size and sha256 are its manifest's. Prints
# "size rows sha256:…" as the manifest says.
check_files() {
  local dir=$1 backup=$2 manifest data seen
  manifest=$dir/$backup.manifest.json data=$dir/$backup.jsonl.gz
  [ -f "$manifest" ] && [ -f "$data" ] || fail "$dir lacks $backup's data or manifest: $(ls "$dir" | paste -sd' ')"
  seen=$(jq -r '"\(.data.sizeBytes) \(.rows) sha256:\(.data.sha256)"' "$manifest")
  [ "$(stat -c %s "$data") sha256:$(sha256sum "$data" | cut -d' ' -f1)" = "${seen%% *} ${seen##* }" ] ||
    fail "$data is $(stat -c %s "$data") bytes, sha256:$(sha256sum "$data" | cut -d' ' -f1); its manifest says $seen"
  gzip -t "$data" || fail "$data is not a whole gzip stream"
  echo "$seen"
}

backup_succeeded() {
  local condition
  condition=$(kubectl get ts "$name" -n "$ns" -o json |
    jq -r '.status.conditions[] | select(.type == "BackupSucceeded") | "\(.status) \(.reason)"')
  [ "${condition%% *}" = True ] || fail "BackupSucceeded is '$condition', not True"
}

if [ "$step" = now ]; then
  at=$(date -u +%FT%TZ)
  patched=$(now)
  kubectl patch ts "$name" -n "$ns" --type merge -p "$(jq -cn --arg at "$at" \
    '{spec: {backup: {schedule: "* * * * *", destination: {volume: {storageSize: "1Gi"}}, backupNowAt: $at}}}')" >/dev/null
  # 30 s: a warm node takes about 7 (the pod's start most of it); a reconcile that failed and
  # waited for its backoff before making the Job takes a minute and more.
  backup="" deadline=$((SECONDS + 30))
  while [ "$SECONDS" -lt "$deadline" ]; do
    [ "$(ts '{.status.lastBackupNowAt}')" = "$at" ] && backup=$(ts '{.status.lastBackup.name}')
    [ -n "$backup" ] && break
    # A first attempt may fail and be reported: the volume's directory is made writable by
    # services.py's one-second poll, which a fast pod can beat; the Job's retry then succeeds.
    failure=$(ts '{.status.lastBackupFailure.message}')
    [ -z "$failure" ] || [ -n "${said:-}" ] || { say "an attempt failed: $failure"; said=1; }
    sleep 0.2
  done
  took=$(since "$patched")
  if [ -z "$backup" ]; then
    kubectl get jobs,pods -n "$ns" -l app.kubernetes.io/component=backup -o wide >&2 || true
    kubectl logs -n "$ns" -l app.kubernetes.io/component=backup --tail 20 >&2 || true
    fail "$name: no status.lastBackup for backupNowAt $at within 30 s"
  fi
  record=$(kubectl get ts "$name" -n "$ns" -o json | jq -c '.status.lastBackup')
  reported=$(jq -r '"\(.sizeBytes // 0) \(.rows // 0) \(.checksum // "")"' <<<"$record")
  say "$name: status.lastBackup $backup (bytes, rows, checksum: $reported), ${took} s after the patch"
  read -r size rows _ <<<"$reported"
  [ "$size" -gt 0 ] && [ "$rows" -gt 0 ] || fail "status.lastBackup has no size or no rows: $record"
  backup_succeeded
  # The pod that did it: the Job started for this backupNowAt.
  job=$(kubectl get jobs -n "$ns" -o json | jq -r --arg at "$at" \
    '.items[] | select(.metadata.annotations["tradeplane.io/backup-now-at"] == $at) | .metadata.name')
  [ -n "$job" ] || fail "no Job carries the annotation tradeplane.io/backup-now-at=$at"
  check_pods "$job"
  dir=$(backup_dir)
  seen=$(check_files "$dir" "$backup")
  [ "$seen" = "$reported" ] || fail "$dir/$backup.manifest.json says '$seen', the status '$reported'"
  say "$dir: $backup.jsonl.gz and its manifest, as the status says ($(jq -r '"strategy \(.strategy), journal \(.journalBackend)"' "$dir/$backup.manifest.json"))"
  exit 0
fi

[ "$step" = scheduled ] || fail "unknown step '$step' (now or scheduled)"
# A Job of the CronJob (its owner) that succeeded; the slot is at most a minute after `now`.
waited=$(now)
job=""
for _ in $(seq 450); do
  job=$(kubectl get jobs -n "$ns" -o json | jq -r --arg cron "$name-backup" '.items[] |
    select(any(.metadata.ownerReferences[]?; .kind == "CronJob" and .name == $cron)) |
    select((.status.succeeded // 0) > 0) | .metadata.name' | head -n1)
  [ -n "$job" ] && break
  sleep 0.2
done
[ -n "$job" ] || {
  kubectl get cronjobs,jobs,pods -n "$ns" -o wide >&2 || true
  fail "no Job of cronjob/$name-backup succeeded within 90 s"
}
say "cronjob/$name-backup: job/$job succeeded ($(since "$waited") s of waiting for it)"
check_pods "$job"
scheduled=""
for _ in $(seq 50); do
  scheduled=$(ts '{.status.lastScheduleTime}')
  [ -n "$scheduled" ] && break
  sleep 0.2
done
[ -n "$scheduled" ] || fail "status.lastScheduleTime is empty after job/$job"
backup_succeeded
dir=$(backup_dir)
count=0
for manifest in "$dir"/*.manifest.json; do
  [ -f "$manifest" ] || continue
  check_files "$dir" "$(basename "$manifest" .manifest.json)" >/dev/null
  count=$((count + 1))
done
[ "$count" -ge 2 ] || fail "$dir holds $count backups, not the on-demand and the scheduled one"
say "$name: lastScheduleTime $scheduled, lastBackup $(ts '{.status.lastBackup.name}'); $dir holds $count whole backups"
