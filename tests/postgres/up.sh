#!/usr/bin/env bash
# Starts a throwaway PostgreSQL for tests: `tests/postgres/up.sh STATE_DIR`.
#
# Installs Debian's `postgresql` package when initdb is missing, initialises a cluster in
# STATE_DIR/data as the `postgres` user (PostgreSQL refuses to run as root), starts it on
# 127.0.0.1 on a free port with its unix socket in STATE_DIR and fsync off (the data is
# thrown away), creates the database `tradeplane` and writes the connection URL to
# STATE_DIR/url. Stop it with down.sh STATE_DIR. STATE_DIR must be reachable by the
# `postgres` user (e.g. under /tmp).
set -euo pipefail

STATE_DIR=${1:?usage: up.sh STATE_DIR}
mkdir -p "$STATE_DIR"
STATE_DIR=$(cd "$STATE_DIR" && pwd)

find_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }
BIN=$(find_bin)
if [ -z "$BIN" ] || [ ! -x "$BIN/initdb" ]; then
  echo "up.sh: installing postgresql" >&2
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
  BIN=$(find_bin)
fi
[ -x "$BIN/pg_ctl" ] || { echo "up.sh: no pg_ctl under /usr/lib/postgresql/*/bin" >&2; exit 1; }

if [ "$(id -u)" -eq 0 ]; then
  id postgres >/dev/null 2>&1 || useradd --system --home-dir /var/lib/postgresql postgres
  chown -R postgres "$STATE_DIR"
  as_pg() { runuser -u postgres -- "$@"; }
else
  as_pg() { "$@"; }
fi

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null \
    || echo $((20000 + RANDOM % 20000))
}

as_pg "$BIN/initdb" -D "$STATE_DIR/data" -U postgres -A trust --no-sync -E UTF8 \
  >"$STATE_DIR/initdb.log" 2>&1 || { cat "$STATE_DIR/initdb.log" >&2; exit 1; }

for attempt in 1 2 3 4 5; do
  PORT=$(free_port)
  if as_pg "$BIN/pg_ctl" -D "$STATE_DIR/data" -l "$STATE_DIR/postgres.log" -w -t 60 \
      -o "-p $PORT -h 127.0.0.1 -k $STATE_DIR -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
      start >&2; then
    break
  fi
  [ "$attempt" -eq 5 ] && { cat "$STATE_DIR/postgres.log" >&2; exit 1; }
done

for _ in $(seq 1 60); do
  as_pg "$BIN/pg_isready" -q -h 127.0.0.1 -p "$PORT" && break
  sleep 0.5
done
as_pg "$BIN/createdb" -h 127.0.0.1 -p "$PORT" -U postgres tradeplane

echo "postgres://postgres@127.0.0.1:$PORT/tradeplane" >"$STATE_DIR/url"
echo "$BIN" >"$STATE_DIR/bin"
cat "$STATE_DIR/url"
