#!/usr/bin/env bash
# Stops the S3 server up.sh started in STATE_DIR (its data stays until STATE_DIR is removed).
set -euo pipefail
STATE_DIR=${1:?usage: down.sh STATE_DIR}
[ -f "$STATE_DIR/pid" ] || exit 0
pid=$(cat "$STATE_DIR/pid")
kill "$pid" 2>/dev/null || exit 0
for _ in $(seq 1 50); do
  kill -0 "$pid" 2>/dev/null || { rm -f "$STATE_DIR/pid"; exit 0; }
  sleep 0.1
done
kill -9 "$pid" 2>/dev/null || true
rm -f "$STATE_DIR/pid"
