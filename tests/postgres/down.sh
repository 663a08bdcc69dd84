#!/usr/bin/env bash
# Stops the PostgreSQL that up.sh started in STATE_DIR: `tests/postgres/down.sh STATE_DIR`.
# Succeeds when it is not running. Leaves STATE_DIR for the caller to remove.
set -euo pipefail

STATE_DIR=${1:?usage: down.sh STATE_DIR}
[ -d "$STATE_DIR/data" ] || exit 0
BIN=$(cat "$STATE_DIR/bin" 2>/dev/null || ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
if [ "$(id -u)" -eq 0 ]; then
  as_pg() { runuser -u postgres -- "$@"; }
else
  as_pg() { "$@"; }
fi
if as_pg "$BIN/pg_ctl" -D "$STATE_DIR/data" status >/dev/null 2>&1; then
  as_pg "$BIN/pg_ctl" -D "$STATE_DIR/data" -m immediate -w -t 30 stop >&2
fi
