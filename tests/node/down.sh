#!/usr/bin/env bash
# Stops the real node tests/node/up.sh started for STATE_DIR and removes every trace of it on
# the host: processes, mounts, cgroups, the kubelet's hard-coded paths, kernel settings.
#
#   tests/node/down.sh STATE_DIR
#
# Order matters: pods go first while the kubelet still runs (it stops their sandboxes and
# unmounts their volumes), then the kubelet, then what containerd still holds, then
# containerd, and last the mounts and cgroups nothing uses any more. Safe to run twice.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
state=$1
node=$state/node
run=${TP_NODE_RUN:-/run/tradeplane-node}
lock=${TP_NODE_LOCK:-/run/lock/tradeplane-real-node.lock}
cgroot=tradeplane-node
log() { printf '[node-down] %s\n' "$*" >&2; }
[ -d "$node" ] || exit 0
bin=$("$here/build.sh" 2>/dev/null)
command -v kubectl >/dev/null 2>&1 || PATH=$("$here/../cluster/build.sh" 2>/dev/null):$PATH
pidof_() { local f=$state/pids/$1.pid; [ -f "$f" ] && kill -0 "$(cat "$f")" 2>/dev/null && cat "$f"; }

# 1. Pods, while the kubelet runs: their deletion is what unmounts the volumes.
if kubelet_pid=$(pidof_ kubelet) && [ -f "$state/kubeconfig" ]; then
  kubectl --kubeconfig "$state/kubeconfig" delete mutatingwebhookconfiguration tradeplane-local-real-node \
    --ignore-not-found >/dev/null 2>&1
  # Cordoned, the node gets no replacement for a pod deleted below (kwok's nodes are tainted,
  # so replacements stay Pending).
  kubectl --kubeconfig "$state/kubeconfig" cordon 127.0.0.1 >/dev/null 2>&1
  kubectl --kubeconfig "$state/kubeconfig" delete pods -A --field-selector spec.nodeName=127.0.0.1 \
    --grace-period 5 --wait=true --timeout 40s >/dev/null 2>&1 ||
    log "not every pod on the node was deleted in 40s; removing them below"
fi
stop() {
  local name=$1 pid
  pid=$(pidof_ "$name") || return 0
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid"
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$pid" 2>/dev/null && { log "$name ignored TERM for 10s; killing it"; kill -KILL -- "-$pid" 2>/dev/null; }
  rm -f "$state/pids/$name.pid"
}
stop kubelet
stop admission
stop services

# 2. What containerd still runs (pods the API server could not delete): their tasks,
#    containers and sandboxes, through the CRI's own records.
if [ -S "$run/containerd.sock" ] && pidof_ containerd >/dev/null; then
  ctr=("$bin/ctr" --address "$run/containerd.sock" -n k8s.io)
  for id in $("${ctr[@]}" tasks list -q 2>/dev/null); do
    "${ctr[@]}" tasks kill -s KILL "$id" >/dev/null 2>&1
  done
  sleep 0.3
  for id in $("${ctr[@]}" tasks list -q 2>/dev/null); do
    "${ctr[@]}" tasks delete -f "$id" >/dev/null 2>&1
  done
  for id in $("${ctr[@]}" containers list -q 2>/dev/null); do
    "${ctr[@]}" containers delete "$id" >/dev/null 2>&1
  done
fi
stop containerd
# Shims outlive containerd by design; each sits in its own process group under our bin dir.
for pid in $(pgrep -f "^$bin/containerd-shim-runc-v2 " 2>/dev/null); do
  kill -KILL "$pid" 2>/dev/null
done

# 3. Mounts under the node's directories and the run dir, deepest first.
for _ in 1 2 3; do
  mounts=$(awk -v a="$node/" -v b="$run/" -v c="/run/mount" '
    index($5, a) == 1 || $5 == substr(a, 1, length(a) - 1) || index($5, b) == 1 || index($5, c) == 1 { print $5 }' \
    /proc/self/mountinfo | sort -r)
  [ -n "$mounts" ] || break
  while read -r m; do umount -l "$m" 2>/dev/null; done <<<"$mounts"
done

# 4. Cgroups: the node's root in every hierarchy, leaves first.
for h in /sys/fs/cgroup/*/; do
  [ -d "$h$cgroot" ] || continue
  find "$h$cgroot" -depth -type d -exec rmdir {} \; 2>/dev/null
  [ -d "$h$cgroot" ] && log "cgroup $h$cgroot is still busy"
done

# 5. Files: the node's own directories and the paths the kubelet hard-codes. (The volumes'
#    directories are the cluster's: tests/cluster/down.sh removes them.)
rm -rf "$node/kubelet" "$run" /var/lib/kubelet/device-plugins /run/mount
rmdir /var/lib/kubelet 2>/dev/null
find /var/log/containers -maxdepth 1 -xtype l -delete 2>/dev/null
rmdir /var/log/containers 2>/dev/null

# 6. The node's IP on lo, when tests/node/up.sh put it there.
if [ -f "$node/added-address" ]; then
  ip addr del "$(cat "$node/added-address")/32" dev lo 2>/dev/null || log "the node's IP stayed on lo"
fi

# 7. Kernel settings, as they were before the kubelet started.
[ -f "$node/sysctl.saved" ] && { "$here/restore-sysctl.sh" "$node/sysctl.saved" || log "kernel settings not restored"; }
rm -rf "$node"
rm -f "$lock.owner"
log "real node stopped and removed"
exit 0
