#!/usr/bin/env bash
# Writes the pause image (the pod sandbox's process) as an OCI archive, without a registry:
#
#   tests/node/pause-image.sh OUT.tar
#
# pause.c is the one in the pinned k8s.io/kubernetes module (build/pause/linux/pause.c),
# compiled static and stripped. The archive is an OCI image layout with one layer (the binary
# at /pause, mtime 0), a config whose entrypoint is /pause, and an index.json naming it
# localhost/tradeplane/pause:<k8s version> so `ctr images import` records that name.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../cluster/versions.env
. "$here/../cluster/versions.env"
out=$1
src=$(cd "$here/../cluster/modules/kubernetes" &&
  GOFLAGS=-mod=readonly go list -m -f '{{.Dir}}' k8s.io/kubernetes)
[ -n "$src" ] || src=$(GOFLAGS= go mod download -json "k8s.io/kubernetes@$K8S_VERSION" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
gcc -Os -static -o "$work/pause" "$src/build/pause/linux/pause.c" \
  -DVERSION="\"$K8S_VERSION\""
strip "$work/pause"
python3 - "$work" "$out" "localhost/tradeplane/pause:$K8S_VERSION" <<'PY'
import hashlib, io, json, sys, tarfile
work, out, name = sys.argv[1:]

def tar_bytes(members):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for arcname, data, mode in members:
            info = tarfile.TarInfo(arcname)
            info.size, info.mode, info.mtime = len(data), mode, 0
            t.addfile(info, io.BytesIO(data))
    return buf.getvalue()

blobs = {}
def blob(data, media_type):
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    blobs[digest] = data
    return {"mediaType": media_type, "digest": digest, "size": len(data)}

layer = tar_bytes([("pause", open(f"{work}/pause", "rb").read(), 0o755)])
config = json.dumps({
    "architecture": "amd64", "os": "linux",
    "config": {"Entrypoint": ["/pause"], "User": "65535:65535"},
    "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(layer).hexdigest()]},
}, sort_keys=True).encode()
manifest = json.dumps({
    "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
    "config": blob(config, "application/vnd.oci.image.config.v1+json"),
    "layers": [blob(layer, "application/vnd.oci.image.layer.v1.tar")],
}, sort_keys=True).encode()
entry = blob(manifest, "application/vnd.oci.image.manifest.v1+json")
entry["platform"] = {"architecture": "amd64", "os": "linux"}
entry["annotations"] = {"io.containerd.image.name": name,
                        "org.opencontainers.image.ref.name": name.rsplit(":", 1)[1]}
index = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                    "manifests": [entry]}, sort_keys=True).encode()
members = [("oci-layout", b'{"imageLayoutVersion":"1.0.0"}', 0o644), ("index.json", index, 0o644)]
members += [(f"blobs/sha256/{d[7:]}", data, 0o644) for d, data in sorted(blobs.items())]
open(out, "wb").write(tar_bytes(members))
PY
