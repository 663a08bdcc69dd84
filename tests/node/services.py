#!/usr/bin/env python3
"""Services for the real node's host-network pods: a local DNS answer and a userspace proxy.

  services.py --kubeconfig K --kubectl PATH

A pod on this node cannot reach a Service by its ClusterIP (no kube-proxy, no iptables, no
pod network), and the EndpointSlice API refuses the loopback addresses host-network pods
have. So, for the local cluster only:

* every Service with a ClusterIP 10.96.C.D gets a loopback address of its own, 127.96.C.D
  (all of 127.0.0.0/8 is loopback on Linux), and this process listens there on each of the
  Service's ports — so `http://quant-analysts.NS.svc:8080` keeps its usual port even when
  two Services use 8080;
* a DNS server on 127.0.0.1:53 (the node's resolv.conf names it) answers NAME.NS.svc and
  NAME.NS.svc.cluster.local with that address and localhost with 127.0.0.1 (the images have
  no nsswitch.conf, so glibc asks DNS before /etc/hosts), and NXDOMAIN for every other name;
* a connection is passed to a Ready pod the Service selects, at the port the admission step
  gave it (the pod's local.tradeplane.io/ports annotation maps the manifest's ports).

Services and pods are re-read every second with kubectl.
"""
import argparse
import asyncio
import json
import struct
import subprocess
import sys

ARGS = None
# (ip, port) -> list of backend ports on 127.0.0.1; name -> ip
ROUTES = {}
NAMES = {}
LISTENERS = {}
NEXT = {}


def loopback(cluster_ip):
    parts = cluster_ip.split(".")
    return f"127.{parts[1]}.{parts[2]}.{parts[3]}" if len(parts) == 4 else None


def backend_port(pod, target):
    """The host port of the pod that serves `target` (a number or a port name)."""
    mapped = json.loads(pod["metadata"].get("annotations", {}).get("local.tradeplane.io/ports", "{}"))
    for container in pod["spec"]["containers"]:
        for port in container.get("ports") or []:
            if isinstance(target, str) and port.get("name") == target:
                return port["containerPort"]
    if isinstance(target, int):
        return mapped.get(str(target), target)
    return None


def ready(pod):
    return pod["status"].get("phase") == "Running" and any(
        c["type"] == "Ready" and c["status"] == "True" for c in pod["status"].get("conditions") or [])


def refresh():
    out = subprocess.run([ARGS.kubectl, "--kubeconfig", ARGS.kubeconfig, "get", "services,pods",
                          "-A", "-o", "json"], capture_output=True, text=True, timeout=20)
    if out.returncode != 0:
        print(f"kubectl failed: {out.stderr.strip()}", file=sys.stderr, flush=True)
        return
    items = json.loads(out.stdout)["items"]
    pods = [i for i in items if i["kind"] == "Pod" and ready(i)]
    routes, names = {}, {}
    for svc in (i for i in items if i["kind"] == "Service"):
        ip = loopback(svc["spec"].get("clusterIP") or "")
        selector = svc["spec"].get("selector")
        if not ip or not selector:
            continue
        ns, name = svc["metadata"]["namespace"], svc["metadata"]["name"]
        for suffix in ("svc", "svc.cluster.local"):
            names[f"{name}.{ns}.{suffix}"] = ip
        members = [p for p in pods if p["metadata"]["namespace"] == ns and all(
            (p["metadata"].get("labels") or {}).get(k) == v for k, v in selector.items())]
        for port in svc["spec"].get("ports") or []:
            target = port.get("targetPort", port["port"])
            backends = [b for b in (backend_port(p, target) for p in members) if b]
            routes[(ip, port["port"])] = backends
    ROUTES.clear()
    ROUTES.update(routes)
    NAMES.clear()
    NAMES.update(names)


async def pipe(reader, writer):
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        writer.close()


def handler(key):
    async def handle(client_reader, client_writer):
        backends = ROUTES.get(key) or []
        if not backends:
            client_writer.close()
            return
        NEXT[key] = (NEXT.get(key, -1) + 1) % len(backends)
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", backends[NEXT[key]])
        except OSError:
            client_writer.close()
            return
        await asyncio.gather(pipe(client_reader, writer), pipe(reader, client_writer))
    return handle


async def sync_listeners():
    for key in list(LISTENERS):
        if key not in ROUTES:
            LISTENERS.pop(key).close()
    for key in ROUTES:
        if key not in LISTENERS:
            try:
                LISTENERS[key] = await asyncio.start_server(handler(key), key[0], key[1])
                print(f"service {key[0]}:{key[1]} listening", flush=True)
            except OSError as err:
                print(f"cannot listen on {key[0]}:{key[1]}: {err}", file=sys.stderr, flush=True)


class Dns(asyncio.DatagramProtocol):
    def connection_made(self, transport):
        self.transport = transport

    def datagram_received(self, data, addr):
        try:
            reply = answer(data)
        except (IndexError, struct.error, UnicodeDecodeError):
            return
        self.transport.sendto(reply, addr)


def answer(query):
    """A reply to one DNS query: an A record for a Service name, NXDOMAIN for anything else."""
    ident, flags = struct.unpack(">HH", query[:4])
    labels, i = [], 12
    while query[i]:
        labels.append(query[i + 1:i + 1 + query[i]].decode().lower())
        i += 1 + query[i]
    qtype, _ = struct.unpack(">HH", query[i + 1:i + 5])
    question = query[12:i + 5]
    name = ".".join(labels)
    ip = "127.0.0.1" if name == "localhost" else NAMES.get(name)
    if ip is None:
        return struct.pack(">HHHHHH", ident, 0x8183, 1, 0, 0, 0) + question  # NXDOMAIN
    if qtype != 1:  # the name exists, but has no record of that type (AAAA)
        return struct.pack(">HHHHHH", ident, 0x8180, 1, 0, 0, 0) + question
    record = struct.pack(">HHHLH", 0xC00C, 1, 1, 5, 4) + bytes(int(x) for x in ip.split("."))
    return struct.pack(">HHHHHH", ident, 0x8180, 1, 1, 0, 0) + question + record


async def main():
    global ARGS
    parser = argparse.ArgumentParser()
    for flag in ("--kubeconfig", "--kubectl"):
        parser.add_argument(flag, required=True)
    ARGS = parser.parse_args()
    loop = asyncio.get_running_loop()
    await loop.create_datagram_endpoint(Dns, local_addr=("127.0.0.1", 53))
    print("dns on 127.0.0.1:53", flush=True)
    while True:
        await loop.run_in_executor(None, refresh)
        await sync_listeners()
        await asyncio.sleep(1)


if __name__ == "__main__":
    asyncio.run(main())
