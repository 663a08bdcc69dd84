#!/usr/bin/env bash
# The image test (`make test` runs it after the cargo tests): builds both images with
# build.sh (warm: seconds), checks the Dockerfile's registry path gives the same files
# (build-stage.sh), then runs the images with runc as a pod would, from the OCI archives:
#
#   * the image config says User 65532:65532 and carries the version and revision labels;
#     the image holds no shell (no /bin/sh, no sh or busybox anywhere);
#   * `agent-runtime trader` starts as UID 65532 on a read-only root with no capabilities,
#     the config bind-mounted read-only and /tmp a tmpfs (the pod's emptyDir), serves
#     `/healthz`, `/readyz` and `/metrics`, and exits 0 on SIGTERM;
#   * `agent-runtime replay` prints its backtest summary;
#   * `tradeplane-operator --version` runs (its libraries are all there).
#
# Archives are unpacked with umoci into runc bundles. The containers share the host's network
# namespace and listen on 127.0.0.1 only (a free port), so nothing is reachable from outside
# loopback. Every container, its cgroups and the bundles are removed on exit, pass or fail.
#
# runc and umoci are Debian's packages, installed when missing; only when neither they nor
# buildah can be installed is the test skipped, with a line saying so.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
cd "$repo"
images=$repo/build/images
say() { printf 'image test: %s\n' "$*" >&2; }
fail() { say "FAILED: $*"; exit 1; }

missing=()
for tool in buildah runc umoci; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    say "installing ${missing[*]} (Debian's packages)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      "${missing[@]}" >&2 || true
  fi
  for tool in buildah runc umoci; do
    if ! command -v "$tool" >/dev/null 2>&1; then
      say "SKIPPED: $tool is missing and cannot be installed here (needs root and apt-get)"
      exit 0
    fi
  done
fi

say "building the images (tests/image/build.sh)"
tests/image/build.sh
tests/image/build-stage.sh
version=$(sed -n '/^\[workspace.package\]/,/^\[/s/^version *= *"\(.*\)"/\1/p' Cargo.toml)

work=$(mktemp -d "${TMPDIR:-/tmp}/tradeplane-image-test.XXXXXX")
state=$work/runc
cleanup() {
  local id
  for id in $(runc --root "$state" list -q 2>/dev/null); do
    runc --root "$state" delete --force "$id" >/dev/null 2>&1 || say "cannot delete container $id"
  done
  rm -rf "$work"
}
trap cleanup EXIT

# Unpacks IMAGE's archive into the bundle $work/IMAGE (rootfs/ and umoci's config.json) and
# keeps the image's own config JSON beside it as image-config.json.
unpack() {
  local image=$1 layout=$work/$1-layout
  mkdir -p "$layout"
  tar -xf "$images/$image.oci.tar" -C "$layout"
  umoci unpack --image "$layout:localhost/tradeplane/$image:$version" "$work/$image" >/dev/null
  python3 - "$layout" >"$work/$image/image-config.json" <<'EOF'
import json, sys
layout = sys.argv[1]
def blob(digest):
    algorithm, hex_digest = digest.split(":")
    with open(f"{layout}/blobs/{algorithm}/{hex_digest}") as f:
        return json.load(f)
manifest = blob(json.load(open(f"{layout}/index.json"))["manifests"][0]["digest"])
print(json.dumps(blob(manifest["config"]["digest"])))
EOF
}

# Writes $work/IMAGE/config.json for one run: umoci's config from the image (its user and
# entrypoint), with a read-only root, no capabilities, the host network namespace (the
# process listens on loopback only), /tmp a tmpfs and $work/etc bind-mounted read-only at
# /etc/tradeplane. The arguments replace the image's command.
runtime_spec() {
  local image=$1; shift
  local args
  args=$(jq -nc --args '$ARGS.positional' -- "$@")
  jq --argjson args "$args" --arg etc "$work/etc" '
    .process.terminal = false
    | .process.args = [.process.args[0]] + $args
    | .process.capabilities = {bounding: [], effective: [], inheritable: [], permitted: [], ambient: []}
    | .process.noNewPrivileges = true
    | .root.readonly = true
    | .linux.namespaces |= map(select(.type != "network"))
    | .mounts += [
        {destination: "/etc/tradeplane", type: "bind", source: $etc,
         options: ["rbind", "ro", "nosuid", "nodev", "noexec"]},
        {destination: "/tmp", type: "tmpfs", source: "tmpfs",
         options: ["nosuid", "nodev", "mode=1777", "size=65536k"]}]
  ' "$work/$image/umoci-config.json" >"$work/$image/config.json"
}

for image in agent-runtime operator; do
  unpack "$image"
  mv "$work/$image/config.json" "$work/$image/umoci-config.json"
  config=$work/$image/image-config.json
  user=$(jq -r '.config.User' "$config")
  [ "$user" = "65532:65532" ] || fail "$image: image config User is '$user', not 65532:65532"
  label_version=$(jq -r '.config.Labels["org.opencontainers.image.version"]' "$config")
  [ "$label_version" = "$version" ] || fail "$image: version label '$label_version' ≠ $version"
  revision=$(jq -r '.config.Labels["org.opencontainers.image.revision"]' "$config")
  [ "${revision%-dirty}" = "$(git rev-parse HEAD)" ] || fail "$image: revision label '$revision'"
  rootfs=$work/$image/rootfs
  [ ! -e "$rootfs/bin/sh" ] || fail "$image: /bin/sh exists"
  shells=$(find "$rootfs" \( -name sh -o -name bash -o -name dash -o -name busybox \) -print)
  [ -z "$shells" ] || fail "$image: holds a shell: $shells"
  say "$image: User $user, revision $revision, no shell; files: $(cd "$rootfs" && find . -type f | sort | paste -sd' ')"
done

mkdir -p "$work/etc"
chmod 0755 "$work" "$work/etc"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat >"$work/etc/config.yaml" <<EOF
apiVersion: runtime.tradeplane.io/v1alpha1
identity: {namespace: image-test, name: trader}
symbols: [AAPL, MSFT]
schedule: {intervalSeconds: 1}
analysts:
  - {role: trend, kind: quant, method: trend}
  - {role: momentum, kind: quant, method: momentum}
journal: {backend: sqlite, path: /tmp/journal.db}
server: {listen: "127.0.0.1:$port"}
EOF
chmod 0644 "$work/etc/config.yaml"
base=http://127.0.0.1:$port

say "trader: runc run (UID 65532, read-only root, listening on 127.0.0.1:$port)"
runtime_spec agent-runtime trader --config /etc/tradeplane/config.yaml
id=tradeplane-image-test-$$-trader
runc --root "$state" run --bundle "$work/agent-runtime" "$id" \
  >"$work/trader.out" 2>"$work/trader.err" &
runc_pid=$!
logs() { tail -n 20 "$work/trader.err" >&2; }
healthz=""
for _ in $(seq 1 150); do
  healthz=$(curl -fsS --max-time 1 "$base/healthz" 2>/dev/null) && break
  kill -0 "$runc_pid" 2>/dev/null || { logs; fail "trader exited before serving /healthz"; }
  sleep 0.2
done
[ "$healthz" = ok ] || { logs; fail "/healthz answered '$healthz', not ok"; }
say "trader: /healthz → $healthz"
ready=""
for _ in $(seq 1 150); do
  ready=$(curl -fsS --max-time 1 "$base/readyz" 2>/dev/null) && break
  sleep 0.2
done
[ -n "$ready" ] || { logs; fail "/readyz never answered 200"; }
curl -fsS --max-time 2 "$base/metrics" | grep -q '^tradeplane_' || fail "/metrics has no tradeplane_ series"
say "trader: /readyz → $ready, /metrics serves tradeplane_ series"

pid=$(runc --root "$state" state "$id" | jq -r .pid)
uid=$(awk '/^Uid:/ {print $2}' "/proc/$pid/status")
[ "$uid" = 65532 ] || fail "the runtime runs as UID $uid, not 65532"
root_options=$(awk '$5 == "/" {print $6}' "/proc/$pid/mountinfo")
case ",$root_options," in *,ro,*) ;; *) fail "the root filesystem is mounted '$root_options', not ro" ;; esac
caps=$(awk '/^CapEff:/ {print $2}' "/proc/$pid/status")
[ "$caps" = 0000000000000000 ] || fail "effective capabilities $caps, not none"
say "trader: process $pid runs as UID $uid, root mounted $root_options, CapEff $caps"

runc --root "$state" kill "$id" TERM
status=0
for _ in $(seq 1 100); do
  kill -0 "$runc_pid" 2>/dev/null || break
  sleep 0.2
done
kill -0 "$runc_pid" 2>/dev/null && { logs; fail "trader still running 20 s after SIGTERM"; }
wait "$runc_pid" || status=$?
[ "$status" = 0 ] || { logs; fail "trader exited with status $status after SIGTERM"; }
while IFS= read -r line; do
  [ -z "$line" ] || jq -e '.level' <<<"$line" >/dev/null 2>&1 || fail "not a JSON log line: $line"
done <"$work/trader.err"
say "trader: exited 0 on SIGTERM; $(wc -l <"$work/trader.err") JSON log lines"
runc --root "$state" delete "$id" >/dev/null 2>&1 || true

say "replay: runc run agent-runtime replay --max-cycles 50"
runtime_spec agent-runtime replay --config /etc/tradeplane/config.yaml --max-cycles 50
id=tradeplane-image-test-$$-replay
timeout 120 runc --root "$state" run --bundle "$work/agent-runtime" "$id" \
  >"$work/replay.out" 2>"$work/replay.err" || { tail -n 20 "$work/replay.err" >&2; fail "replay exited non-zero"; }
summary=$(cat "$work/replay.out")
grep -Eq '^cycles 50 \(.*\), decisions 100, orders [0-9]+ \([0-9]+ filled\), .*equity [0-9.]+ → [0-9.]+' \
  <<<"$summary" || fail "replay printed no summary of 50 cycles and 100 decisions: $summary"
say "replay: $summary"
runc --root "$state" delete "$id" >/dev/null 2>&1 || true

say "operator: runc run tradeplane-operator --version"
runtime_spec operator --version
id=tradeplane-image-test-$$-operator
out=$(timeout 60 runc --root "$state" run --bundle "$work/operator" "$id" 2>&1) \
  || fail "the operator image does not run: $out"
[ "$out" = "tradeplane-operator $version" ] || fail "operator --version printed '$out'"
say "operator: $out"
runc --root "$state" delete "$id" >/dev/null 2>&1 || true

say "passed"
