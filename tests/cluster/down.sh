#!/usr/bin/env bash
# Stops a control plane started by up.sh and leaves no process behind.
#
#   tests/cluster/down.sh [STATE_DIR]
#
# Each component runs in its own session, so its whole process group is signalled: TERM first,
# KILL for whatever is still there after 10 seconds. etcd data and certificates are removed; the
# logs stay for post-mortems until the next up.sh. Stopping a cluster that is not running is
# not an error.
set -uo pipefail
state=${1:-${TRADEPLANE_STATE:-$HOME/.cache/tradeplane/clusters/default}}
[ -d "$state" ] || exit 0

log() { printf '[cluster-down] %s\n' "$*" >&2; }

# Reverse start order: clients of the API server go before it, and it goes before etcd.
pids=()
for name in kwok scheduler controller-manager apiserver etcd; do
  f=$state/pids/$name.pid
  [ -f "$f" ] || continue
  pid=$(cat "$f")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null
    pids+=("$pid")
  fi
done

deadline=$((SECONDS + 10))
for pid in "${pids[@]}"; do
  while kill -0 -- "-$pid" 2>/dev/null && [ $SECONDS -lt $deadline ]; do sleep 0.1; done
  if kill -0 -- "-$pid" 2>/dev/null; then
    log "process group $pid ignored TERM; killing it"
    kill -KILL -- "-$pid" 2>/dev/null
  fi
done

rm -rf "$state/pids" "$state/etcd" "$state/pki" "$state/kubeconfig" "$state/mode"
[ ${#pids[@]} -eq 0 ] || log "stopped ${#pids[@]} processes ($state)"
exit 0
