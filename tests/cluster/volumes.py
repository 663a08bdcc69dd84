#!/usr/bin/env python3
"""The local cluster's volume provisioner: each claim gets a directory on this host, made
before its PersistentVolume exists.

  volumes.py --kubeconfig K --kubectl PATH --root DIR

For every claim of the StorageClass `tradeplane-local` (the cluster's default; tests/cluster/
up.sh installs it) that waits for a volume, this makes DIR/pvc-<claim uid>, mode 1777, and only
then creates its PersistentVolume: a hostPath of type Directory, pre-bound to the claim
(claimRef with its uid) and annotated pv.kubernetes.io/provisioned-by. The controller
manager's volume binder then binds the two, as it does for any external provisioner. So a
claim is Bound only once its directory is there and writable, and no pod that uses it can be
scheduled before: the runtime runs as UID 65532, fsGroup does not apply to hostPath, and a
directory the kubelet made (DirectoryOrCreate) would be root's, mode 0755. Mode 1777 is what
a local-path provisioner gives its directories for the same reason.

A Released volume of its own whose reclaim policy is Delete loses its directory, then its
PersistentVolume (the controller manager leaves both to the external provisioner).
tests/cluster/down.sh removes DIR with the cluster.

Claims and volumes are listed again on every change of either (a `kubectl get --watch` each
only wakes this up) and every 10 s, which retries what failed.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import threading
import time

CLASS = "tradeplane-local"
PROVISIONER = "local.tradeplane.io/hostpath"
ARGS = None


def log(message):
    print(message, file=sys.stderr, flush=True)


def kubectl(*args, stdin=None):
    return subprocess.run([ARGS.kubectl, "--kubeconfig", ARGS.kubeconfig, *args], input=stdin,
                          capture_output=True, text=True, timeout=30)


def volume(claim, path):
    """The PersistentVolume for `claim`, bound to it by its uid, at the host directory `path`."""
    meta, spec = claim["metadata"], claim["spec"]
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {"name": f"pvc-{meta['uid']}",
                     "annotations": {"pv.kubernetes.io/provisioned-by": PROVISIONER}},
        "spec": {
            "accessModes": spec.get("accessModes") or ["ReadWriteOnce"],
            "capacity": {"storage": spec["resources"]["requests"]["storage"]},
            "persistentVolumeReclaimPolicy": "Delete",
            "storageClassName": CLASS,
            "volumeMode": "Filesystem",
            "claimRef": {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                         "namespace": meta["namespace"], "name": meta["name"], "uid": meta["uid"]},
            # Directory, not DirectoryOrCreate: the kubelet must find the one made here.
            "hostPath": {"path": path, "type": "Directory"},
        },
    }


def provision(claim, existing):
    meta = claim["metadata"]
    name = f"pvc-{meta['uid']}"
    if name in existing:
        return
    if claim["spec"].get("volumeMode", "Filesystem") != "Filesystem":
        log(f"claim {meta['namespace']}/{meta['name']}: only Filesystem volumes are provided here")
        return
    path = os.path.join(ARGS.root, name)
    os.makedirs(path, exist_ok=True)
    os.chmod(path, 0o1777)  # makedirs applies the umask
    out = kubectl("create", "-f", "-", stdin=json.dumps(volume(claim, path)))
    if out.returncode != 0 and "AlreadyExists" not in out.stderr:
        log(f"claim {meta['namespace']}/{meta['name']}: cannot create {name}: {out.stderr.strip()}")
        return
    log(f"claim {meta['namespace']}/{meta['name']}: {name} at {path}")


def reclaim(pv):
    name = pv["metadata"]["name"]
    path = (pv["spec"].get("hostPath") or {}).get("path", "")
    # Only a directory this provisioner made, under its own root.
    if os.path.dirname(path) == ARGS.root and os.path.basename(path) == name:
        shutil.rmtree(path, ignore_errors=True)
    out = kubectl("delete", "pv", name, "--wait=false", "--ignore-not-found")
    if out.returncode != 0:
        log(f"cannot delete {name}: {out.stderr.strip()}")
        return
    log(f"{name} released: deleted with its directory")


def sync():
    out = kubectl("get", "pvc,pv", "-A", "-o", "json")
    if out.returncode != 0:
        log(f"kubectl get failed: {out.stderr.strip()}")
        return
    items = json.loads(out.stdout)["items"]
    volumes = [i for i in items if i["kind"] == "PersistentVolume"
               and i["metadata"].get("annotations", {}).get("pv.kubernetes.io/provisioned-by") == PROVISIONER]
    existing = {v["metadata"]["name"] for v in volumes}
    for claim in (i for i in items if i["kind"] == "PersistentVolumeClaim"):
        waiting = (claim["spec"].get("storageClassName") == CLASS and not claim["spec"].get("volumeName")
                   and "deletionTimestamp" not in claim["metadata"]
                   and claim.get("status", {}).get("phase", "Pending") == "Pending")
        if waiting:
            provision(claim, existing)
    for pv in volumes:
        if (pv.get("status", {}).get("phase") == "Released" and "deletionTimestamp" not in pv["metadata"]
                and pv["spec"].get("persistentVolumeReclaimPolicy") == "Delete"):
            reclaim(pv)


def watch(resource, wake):
    """Sets `wake` on every change of `resource` (and on each listing at the watch's start)."""
    while True:
        proc = subprocess.Popen([ARGS.kubectl, "--kubeconfig", ARGS.kubeconfig, "get", resource,
                                 "-A", "--watch", "-o", "name"],
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        for _ in proc.stdout:
            wake.set()
        proc.wait()
        time.sleep(1)  # the API server ended the watch, or is not reachable: start again


def main():
    global ARGS
    parser = argparse.ArgumentParser()
    for flag in ("--kubeconfig", "--kubectl", "--root"):
        parser.add_argument(flag, required=True)
    ARGS = parser.parse_args()
    ARGS.root = os.path.abspath(ARGS.root)
    os.makedirs(ARGS.root, exist_ok=True)
    wake = threading.Event()
    for resource in ("pvc", "pv"):
        threading.Thread(target=watch, args=(resource, wake), daemon=True).start()
    log(f"provisioning {CLASS} volumes under {ARGS.root}")
    while True:
        # Cleared before the listing: a change during it wakes the loop again.
        wake.wait(10)
        wake.clear()
        try:
            sync()
        except (OSError, ValueError, KeyError, subprocess.TimeoutExpired) as err:
            log(f"sync failed: {err!r}")


if __name__ == "__main__":
    main()
