#!/usr/bin/env bash
# Starts a throwaway S3-compatible server for tests: `tests/s3/up.sh STATE_DIR [BUCKET]`.
#
# Runs versitygw (built and cached by build.sh) on 127.0.0.1 on a free port, serving
# STATE_DIR/data through its posix backend, with an access key and secret generated for this
# run; creates BUCKET (default `backups`) through the S3 API itself. Writes STATE_DIR/env
# (S3_ENDPOINT, S3_REGION, S3_BUCKET, S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY, one per line,
# shell syntax) and STATE_DIR/pid, and prints the endpoint. Stop it with down.sh STATE_DIR.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
STATE_DIR=${1:?usage: up.sh STATE_DIR [BUCKET]}
BUCKET=${2:-backups}
mkdir -p "$STATE_DIR/data"
STATE_DIR=$(cd "$STATE_DIR" && pwd)
gw=$("$here/build.sh")

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null \
    || echo $((20000 + RANDOM % 20000))
}
random_hex() { od -An -tx1 -N"$1" /dev/urandom | tr -d ' \n'; }

access=tp$(random_hex 8)
secret=$(random_hex 20)
region=us-east-1
for attempt in 1 2 3 4 5; do
  port=$(free_port)
  # Keys through the environment, not argv: other users can read a process's arguments.
  ROOT_ACCESS_KEY_ID=$access ROOT_SECRET_ACCESS_KEY=$secret \
    "$gw" --port "127.0.0.1:$port" --region "$region" --quiet posix "$STATE_DIR/data" \
    >"$STATE_DIR/versitygw.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 100); do
    if curl -s -o /dev/null "http://127.0.0.1:$port/"; then break; fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then break; fi
  [ "$attempt" -eq 5 ] && { cat "$STATE_DIR/versitygw.log" >&2; exit 1; }
done
echo "$pid" >"$STATE_DIR/pid"
endpoint=http://127.0.0.1:$port

# CreateBucket, signed with SigV4 by curl.
status=$(curl -s -o "$STATE_DIR/create-bucket.out" -w '%{http_code}' -X PUT \
  -H "x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" \
  --aws-sigv4 "aws:amz:$region:s3" --user "$access:$secret" "$endpoint/$BUCKET")
if [ "$status" != 200 ]; then
  echo "up.sh: CreateBucket $BUCKET answered $status:" >&2
  cat "$STATE_DIR/create-bucket.out" >&2
  kill "$pid"
  exit 1
fi

umask 077
cat >"$STATE_DIR/env" <<ENV
S3_ENDPOINT=$endpoint
S3_REGION=$region
S3_BUCKET=$BUCKET
S3_ACCESS_KEY_ID=$access
S3_SECRET_ACCESS_KEY=$secret
ENV
echo "$endpoint"
