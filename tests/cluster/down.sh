#!/usr/bin/env bash
# Stops a control plane started by up.sh and leaves no process behind.
#
#   tests/cluster/down.sh [STATE_DIR]
#
# Each component runs in its own session, so its whole process group is signalled: TERM first,
# KILL for whatever is still there after 10 seconds. etcd data, certificates and the volumes'
# directories are removed; the logs stay for post-mortems until the next up.sh. Stopping a
# cluster that is not running is not an error.
set -uo pipefail
state=${1:-${TRADEPLANE_STATE:-$HOME/.cache/tradeplane/clusters/default}}
[ -d "$state" ] || exit 0

log() { printf '[cluster-down] %s\n' "$*" >&2; }

# True while any process of group $1 is alive. A zombie does not count: an exited component
# whose parent has not reaped it yet holds no port and no file, and waiting on it would cost
# the whole grace period.
group_alive() {
  local p st
  for p in $(pgrep -g "$1" 2>/dev/null); do
    st=$(sed 's/.*) //' "/proc/$p/stat" 2>/dev/null | cut -d' ' -f1)
    [ -n "$st" ] && [ "$st" != Z ] && return 0
  done
  return 1
}

# A real node first, while the API server still answers (its pods are deleted through it).
if [ -d "$state/node" ]; then
  "$(dirname "$0")/../node/down.sh" "$state"
fi

# Reverse start order: clients of the API server go before it, and it goes before etcd. etcd
# gets TERM only once the rest has gone: an API server shutting down still writes (a real
# node's pods and leases keep it busy), and with etcd gone under it, it hung out its 10 s.
stopped=0
stop_group() { # NAME...: TERM to each, then wait (KILL after 10 s)
  local name f pid i pids=() names=()
  for name in "$@"; do
    f=$state/pids/$name.pid
    [ -f "$f" ] || continue
    pid=$(cat "$f")
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null
      pids+=("$pid") names+=("$name")
    fi
  done
  local deadline=$((SECONDS + 10))
  for i in "${!pids[@]}"; do
    pid=${pids[$i]}
    while group_alive "$pid" && [ $SECONDS -lt $deadline ]; do sleep 0.1; done
    if group_alive "$pid"; then
      log "${names[$i]} (process group $pid) ignored TERM for 10s; killing it"
      kill -KILL -- "-$pid" 2>/dev/null
    fi
  done
  stopped=$((stopped + ${#pids[@]}))
}
stop_group volumes kwok scheduler controller-manager apiserver
stop_group etcd

# The volumes' directories too: a real node's pods, which used them, are gone (node/down.sh).
rm -rf "$state/pids" "$state/etcd" "$state/pki" "$state/kubeconfig" "$state/mode" "$state/volumes"
[ $stopped -eq 0 ] || log "stopped $stopped processes ($state)"
exit 0
