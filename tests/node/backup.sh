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
# Each step checks the backup of one Job, found by the pod that reported it: the backup
# process writes its pod's name into status.backupReport. The on-demand Job and a cron slot's
# can run side by side, so "the latest backup" may be either's.
#
# `now` checks, for the Job started for this backupNowAt: a report from its pod, Succeeded;
# the Job complete, every pod of it on the real node, from the runtime image, exit code 0 (the
# volume is made writable before its claim is bound, so a first attempt has no reason to
# fail: a failed pod, which the Job's retry would hide, fails the test); status.lastBackup names that backup with the
# report's size, rows and checksum; BackupSucceeded is True; the backup claim's directory on
# the host holds its data and manifest, whose size, rows and sha256 are the report's. Prints
# the times from the patch to the report and to status.lastBackup. `scheduled` checks the
# same of a Job of the CronJob `NAME-backup`, that the status has its lastScheduleTime, and
# that every backup on the volume (two at least) is whole: data and manifest, sha256 matching.
set -euo pipefail
ns=$1 name=$2 step=$3
say() { printf 'backup: %s\n' "$*" >&2; }
fail() { say "FAILED: $*"; exit 1; }
now() { date +%s.%N; }
since() { printf '%.1f' "$(echo "${2:-$(now)} - $1" | bc)"; }
ts() { kubectl get ts "$name" -n "$ns" -o "jsonpath=$1" 2>/dev/null || true; }
version=$(sed -n 's/^appVersion: *"*\([^"]*\)"*/\1/p' charts/tradeplane/Chart.yaml)
[ "$step" = now ] || [ "$step" = scheduled ] || fail "unknown step '$step' (now or scheduled)"

# Every version of the strategy's backup status while this step runs, one JSON line each with
# the time it was seen. Two reports (the on-demand Job's and a cron slot's) can follow each
# other faster than a poll, and the operator, which debounces for a second, may then turn only
# the second into status.lastBackup: so the checks below read every version, not the latest.
record=$(mktemp)
setsid bash -c 'kubectl get ts "$1" -n "$2" --watch -o json |
  jq --unbuffered -c "{t: now, report: .status.backupReport, last: .status.lastBackup,
                       nowAt: .status.lastBackupNowAt}"' _ "$name" "$ns" >"$record" 2>/dev/null &
watcher=$!
trap 'kill -TERM -- "-$watcher" 2>/dev/null; rm -f "$record"' EXIT
for _ in $(seq 100); do
  [ -s "$record" ] && break
  sleep 0.1
done
[ -s "$record" ] || fail "kubectl get ts $name --watch printed nothing in 10 s"
# The first recorded version the jq filter (the last argument; jq options before it) selects,
# through it; nothing when none does. A line being written is skipped. (Not first(...): in jq
# 1.6 the `?` of fromjson? catches the break that first() stops with.)
first_seen() { jq -ncR "${@:1:$#-1}" "[inputs | fromjson? | ${!#}] | .[0] // empty" "$record"; }

# The first report from a pod of one of JOBS (a Job's pods are JOB-xxxxx), as {t, report}.
report_of() {
  [ -n "$1" ] || return 0
  first_seen --arg jobs "$1" '($jobs | split(" ")) as $jobs |
    select(.report.pod // "" | . as $pod | any($jobs[]; . as $job | $pod | test("^" + $job + "-[a-z0-9]{5}$")))
    | {t, report}'
}

# Waits up to SECONDS for a report from a pod of the Jobs that `JOBS_COMMAND` prints, and
# prints it; returns 1 when none came.
wait_report() {
  local seconds=$1 jobs_command=$2 found="" deadline
  deadline=$((SECONDS + seconds))
  while [ "$SECONDS" -lt "$deadline" ]; do
    found=$(report_of "$($jobs_command)")
    [ -n "$found" ] && break
    sleep 0.3
  done
  [ -n "$found" ] && echo "$found"
}

# A report of failure (FOUND, as report_of prints it) fails the test with the process's own
# message: the Job's retry must not be needed.
succeeded() {
  [ "$(jq -r '.report.outcome' <<<"$1")" = Succeeded ] ||
    fail "pod $(jq -r '.report.pod' <<<"$1") reported a failed backup: $(jq -r '.report.message // "(no message)"' <<<"$1")"
}

# JOB completed, and every one of its pods ran `agent-runtime backup` from the runtime image on
# the real node and exited 0, POD (the one that reported) among them. A failed pod fails the
# test, its last lines printed: the Job's retry would hide a volume that was not ready.
check_pods() {
  local job=$1 reported=$2 pods failed pod
  kubectl wait -n "$ns" --for=condition=Complete "job/$job" --timeout 30s >/dev/null ||
    fail "job/$job did not complete within 30 s of its pod's report"
  pods=$(kubectl get pods -n "$ns" -l "job-name=$job" -o json | jq -r '.items[] |
    "\(.metadata.name) \(.spec.nodeName) \(.spec.containers[0].image) \(.spec.containers[0].args[0]) \(.status.containerStatuses[0].state.terminated.exitCode // "running")" +
    " \(.status.containerStatuses[0].state.terminated | if . then "\(.startedAt)..\(.finishedAt)" else "" end)"')
  say "job/$job pods (name, node, image, mode, exit code, ran): $(paste -sd';' <<<"$pods")"
  failed=$(awk '$5 != "0" {print $1}' <<<"$pods")
  for pod in $failed; do
    say "$pod did not succeed; its last lines:"
    kubectl logs -n "$ns" "$pod" --tail 8 >&2 || true
  done
  [ -z "$failed" ] || fail "job/$job: not every pod succeeded ($(paste -sd' ' <<<"$failed")); its first must"
  grep -q "^$reported 127.0.0.1 ghcr.io/tradeplane/agent-runtime:$version backup 0 " <<<"$pods" ||
    fail "the reporting pod $reported is not a pod of job/$job that ran 'agent-runtime backup' from the runtime image on the real node and exited 0"
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

# The reported backup REPORT (JSON) is whole in the claim's directory, as the report says.
check_reported_files() {
  local report=$1 backup reported dir seen size rows
  backup=$(jq -r '.name' <<<"$report")
  reported=$(jq -r '"\(.sizeBytes // 0) \(.rows // 0) \(.checksum // "")"' <<<"$report")
  read -r size rows _ <<<"$reported"
  [ "$size" -gt 0 ] && [ "$rows" -gt 0 ] || fail "the report of $backup has no size or no rows: $report"
  dir=$(backup_dir)
  seen=$(check_files "$dir" "$backup")
  [ "$seen" = "$reported" ] || fail "$dir/$backup.manifest.json says '$seen', the report '$reported'"
  say "$dir: $backup.jsonl.gz and its manifest, as reported (bytes, rows, checksum: $reported; $(jq -r '"strategy \(.strategy), journal \(.journalBackend)"' "$dir/$backup.manifest.json"))"
}

# The names of the Jobs of the CronJob (their owner), on one line.
cron_jobs() {
  kubectl get jobs -n "$ns" -o json | jq -r --arg cron "$name-backup" '[.items[] |
    select(any(.metadata.ownerReferences[]?; .kind == "CronJob" and .name == $cron)) | .metadata.name] | join(" ")'
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
  now_job() {
    kubectl get jobs -n "$ns" -o json | jq -r --arg at "$at" \
      '.items[] | select(.metadata.annotations["tradeplane.io/backup-now-at"] == $at) | .metadata.name'
  }
  # 30 s: a warm node takes about 7 (the pod's start most of it); a reconcile that failed and
  # waited for its backoff before making the Job takes a minute and more.
  if ! found=$(wait_report 30 now_job); then
    kubectl get jobs,pods -n "$ns" -l app.kubernetes.io/component=backup -o wide >&2 || true
    kubectl logs -n "$ns" -l app.kubernetes.io/component=backup --tail 20 >&2 || true
    fail "$name: no report from a pod of the Job for backupNowAt $at ('$(now_job)') within 30 s"
  fi
  succeeded "$found"
  job=$(now_job)
  report=$(jq -c '.report' <<<"$found")
  pod=$(jq -r '.pod' <<<"$report") backup=$(jq -r '.name' <<<"$report")
  say "job/$job (backupNowAt $at): pod $pod reported $backup, $(since "$patched" "$(jq -r '.t' <<<"$found")") s after the patch"
  check_pods "$job" "$pod"
  check_reported_files "$report"

  # status.lastBackup: this backup, with the report's figures, and lastBackupNowAt this value.
  # Only if a cron slot's report came within the operator's debounce may lastBackup name that
  # newer backup instead, never this one.
  last="" deadline=$((SECONDS + 30))
  while [ "$SECONDS" -lt "$deadline" ]; do
    last=$(first_seen --arg at "$at" --arg b "$backup" 'select(.nowAt == $at and .last.name == $b) | {t, last}')
    [ -n "$last" ] && break
    newer=$(first_seen --arg at "$at" --arg pod "$pod" --argjson t "$(jq '.t' <<<"$found")" '
      select(.t > $t and .nowAt == $at and .report.outcome == "Succeeded" and .report.pod != $pod
             and .last.name == .report.name) | {t, last, report}')
    if [ -n "$newer" ]; then
      other=$(jq -r '.report.pod' <<<"$newer")
      [[ " $(cron_jobs) " == *" ${other%-*} "* ]] ||
        fail "status.lastBackup names $(jq -r '.last.name' <<<"$newer") of pod $other, not of the CronJob, never $backup"
      say "status.lastBackup went to $(jq -r '.last.name' <<<"$newer") of pod $other (a cron slot), whose report followed $pod's within the operator's debounce"
      last=$newer report=$(jq -c '.report' <<<"$newer")
      break
    fi
    sleep 0.3
  done
  [ -n "$last" ] || fail "status.lastBackup did not name $backup (with lastBackupNowAt $at) within 30 s: $(ts '{.status.lastBackup}')"
  expected=$(jq -c '{name, sizeBytes, rows, checksum}' <<<"$report")
  [ "$(jq -c '.last | {name, sizeBytes, rows, checksum}' <<<"$last")" = "$expected" ] ||
    fail "status.lastBackup is $(jq -c '.last' <<<"$last"), the report says $expected"
  say "status.lastBackup $(jq -r '.last.name' <<<"$last"), $(since "$patched" "$(jq -r '.t' <<<"$last")") s after the patch"
  backup_succeeded
  exit 0
fi

# scheduled: a Job of the CronJob; the slot is at most a minute after `now`, and its report
# may have come already (then it is the first version recorded).
waited=$(now)
if ! found=$(wait_report 90 cron_jobs); then
  kubectl get cronjobs,jobs,pods -n "$ns" -o wide >&2 || true
  fail "no report from a pod of a Job of cronjob/$name-backup within 90 s"
fi
succeeded "$found"
report=$(jq -c '.report' <<<"$found")
pod=$(jq -r '.pod' <<<"$report")
job=${pod%-*}
say "cronjob/$name-backup: job/$job's pod $pod reported $(jq -r '.name' <<<"$report") ($(since "$waited") s of waiting for it)"
check_pods "$job" "$pod"
check_reported_files "$report"
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
