#!/usr/bin/env python3
"""The local cluster's admission step for its real node (installed by tests/node/up.sh only).

  admission.py --cert C --key K --port P --api-port A --ports-from N

A real cluster gives each pod a network of its own; this machine allows none, so the real
node runs every pod on the host's network. That needs changes a real cluster would not want,
so they are made here, at admission, and the product's manifests stay as they are:

* hostNetwork: true, and the API server's real address (127.0.0.1:A) in
  KUBERNETES_SERVICE_HOST/PORT (the in-cluster client otherwise dials the Service's ClusterIP,
  which nothing routes here);
* a port of its own per container port: on the host's network two pods cannot both listen
  on 8080. The port is chosen free (from N upwards, below the kernel's ephemeral range) and
  never handed out twice; containerPort and hostPort become that port (named probe ports
  follow), the runtime is told with TRADEPLANE_LISTEN and a `--listen=` argument is rewritten,
  both to all of the host's addresses: the kubelet's probes and the API server's service
  proxy come to the pod IP (the node's IP, see up.sh), the local Service proxy to 127.0.0.1;
* imagePullPolicy: Never: images are imported into the node, nothing is ever fetched;
* the annotation local.tradeplane.io/ports records which port replaced which, for the local
  Service proxy (services.py).

A MutatingAdmissionPolicy (CEL in the API server, GA in 1.36) was the first choice, but CEL
sees nothing unique about a pod at creation (the name of a generateName pod is made after
admission and the request's uid is not exposed), so it cannot hand two replicas two ports.
"""
import argparse
import base64
import http.server
import json
import socket
import ssl
import sys
import threading

LOCK = threading.Lock()
HANDED_OUT = set()
ARGS = None


def free_port():
    """The next port from --ports-from that nothing listens on and nobody was given."""
    with LOCK:
        port = ARGS.ports_from
        while port < 32768:
            if port not in HANDED_OUT:
                with socket.socket() as s:
                    try:
                        s.bind(("127.0.0.1", port))
                    except OSError:
                        port += 1
                        continue
                HANDED_OUT.add(port)
                return port
            port += 1
    raise RuntimeError("no free port below 32768")


def escape(segment):
    return segment.replace("~", "~0").replace("/", "~1")


def mutate(pod):
    """The JSON patch for one pod and a line describing it."""
    spec = pod.get("spec", {})
    patch = [{"op": "add", "path": "/spec/hostNetwork", "value": True},
             {"op": "add", "path": "/spec/dnsPolicy", "value": "Default"}]
    assigned = []
    ports_map = {}
    for kind in ("initContainers", "containers"):
        for i, container in enumerate(spec.get(kind) or []):
            base = f"/spec/{kind}/{i}"
            mapping = {}
            ports = container.get("ports") or []
            for j, port in enumerate(ports):
                new = free_port()
                mapping[port["containerPort"]] = new
                port = dict(port, containerPort=new, hostPort=new)
                patch.append({"op": "replace", "path": f"{base}/ports/{j}", "value": port})
            env = [e for e in container.get("env") or []
                   if e.get("name") not in ("KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT",
                                             "TRADEPLANE_LISTEN")]
            env += [{"name": "KUBERNETES_SERVICE_HOST", "value": "127.0.0.1"},
                    {"name": "KUBERNETES_SERVICE_PORT", "value": str(ARGS.api_port)}]
            if mapping:
                env.append({"name": "TRADEPLANE_LISTEN",
                            "value": f"0.0.0.0:{next(iter(mapping.values()))}"})
            patch.append({"op": "add", "path": f"{base}/env", "value": env})
            args = container.get("args")
            if args:
                new_args = []
                for arg in args:
                    if arg.startswith("--listen=") and ":" in arg:
                        old = int(arg.rsplit(":", 1)[1])
                        if old in mapping:
                            arg = f"--listen=0.0.0.0:{mapping[old]}"
                    new_args.append(arg)
                patch.append({"op": "replace", "path": f"{base}/args", "value": new_args})
            for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
                get = (container.get(probe) or {}).get("httpGet")
                if get and isinstance(get.get("port"), int) and get["port"] in mapping:
                    patch.append({"op": "replace", "path": f"{base}/{probe}/httpGet/port",
                                  "value": mapping[get["port"]]})
            patch.append({"op": "add", "path": f"{base}/imagePullPolicy", "value": "Never"})
            assigned += [f"{container.get('name')}:{old}->{new}" for old, new in mapping.items()]
            ports_map.update({str(old): new for old, new in mapping.items()})
    # For the local Service proxy (services.py): which port now serves the manifest's port.
    annotations = dict(pod["metadata"].get("annotations") or {})
    annotations["local.tradeplane.io/ports"] = json.dumps(ports_map, sort_keys=True)
    patch.append({"op": "add", "path": "/metadata/annotations", "value": annotations})
    return patch, " ".join(assigned)


class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        review = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        request = review["request"]
        response = {"uid": request["uid"], "allowed": True}
        try:
            pod = request["object"]
            patch, assigned = mutate(pod)
            response["patchType"] = "JSONPatch"
            response["patch"] = base64.b64encode(json.dumps(patch).encode()).decode()
            name = pod["metadata"].get("name") or pod["metadata"].get("generateName", "") + "*"
            print(f"{request['namespace']}/{name}: hostNetwork, ports {assigned or 'none'}",
                  flush=True)
        except Exception as err:  # a pod this cannot adapt would fail later, less clearly
            response = {"uid": request["uid"], "allowed": False,
                        "status": {"message": f"local real-node admission: {err}"}}
            print(f"refused: {err}", file=sys.stderr, flush=True)
        body = json.dumps({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
                           "response": response}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


def main():
    global ARGS
    parser = argparse.ArgumentParser()
    for flag in ("--cert", "--key"):
        parser.add_argument(flag, required=True)
    for flag in ("--port", "--api-port", "--ports-from"):
        parser.add_argument(flag, type=int, required=True)
    ARGS = parser.parse_args()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", ARGS.port), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(ARGS.cert, ARGS.key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    print(f"serving on 127.0.0.1:{ARGS.port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
