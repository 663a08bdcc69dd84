#!/usr/bin/env bash
# Adds one real node — containerd, runc and a kubelet — to the control plane in STATE_DIR.
# tests/cluster/up.sh calls it when TP_REAL_NODES=1, after the API server is up:
#
#   tests/node/up.sh STATE_DIR API_SERVER_PORT
#
# The node is named 127.0.0.1 (its Hostname address; the API server reaches the kubelet there
# for logs and exec). Its InternalIP, and so the IP of every pod on it, is $TP_NODE_IP
# (default 10.249.16.1), an address this script puts on `lo`: the EndpointSlice API and the
# API server's service proxy refuse loopback addresses, and a pod IP outside 127.0.0.0/8 lets
# a Service's Endpoints list the node's pods, so `kubectl tradeplane` reaches a runtime through
# the API server as in any cluster. Pods on it run for real but only on the host's network: the machine allows
# no pod network, so a pod that is not hostNetwork fails to start, on purpose (a "no pod
# network" CNI config). The cluster's admission webhook (tests/node/admission.py) adapts pods.
#
# The kubelet hard-codes a few host paths (/var/lib/kubelet/device-plugins, /var/log/containers,
# /run/mount) and sets kernel settings, so a machine holds one real node at a time: a lock
# (flock on $TP_NODE_LOCK, held by the node's processes) makes a second one wait up to
# TP_NODE_LOCK_WAIT seconds (default 900). STATE_DIR/node holds everything else the node owns;
# tests/node/down.sh undoes it all, kernel settings included. STATE_DIR/node/timings has the
# seconds from the start to containerd ready, kubelet started, /healthz, node Ready.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
state=$1 apiserver_port=$2
node=$state/node
# Shim sockets live under a short path (a unix socket path must stay short); one node per
# machine, so one fixed directory.
run=${TP_NODE_RUN:-/run/tradeplane-node}
lock=${TP_NODE_LOCK:-/run/lock/tradeplane-real-node.lock}
log() { printf '[node-up] %s\n' "$*" >&2; }
fail() { log "error: $*"; exit 1; }

reason=$("$here/check.sh") || fail "this machine cannot run a real node: $reason"
bin=$("$here/build.sh")
ctl=$(dirname "$(command -v kubectl)")

# One real node per machine. The lock's file descriptor is inherited by containerd and the
# kubelet, so it is held exactly as long as they run, however this script or its caller ends.
mkdir -p "$(dirname "$lock")"
exec 9>>"$lock"
if ! flock -n 9; then
  log "another real node runs on this machine; waiting for it (up to ${TP_NODE_LOCK_WAIT:-900}s)"
  flock -w "${TP_NODE_LOCK_WAIT:-900}" 9 || fail "the real-node lock $lock stayed taken"
fi
echo "$state" > "$lock.owner"

rm -rf "$node" "$run"
mkdir -p "$node"/{containerd,kubelet,pods-logs,cni,opt,pki} "$run" "$state/pids" "$state/logs"
node_ip=${TP_NODE_IP:-10.249.16.1}
if ! ip -o addr show dev lo | grep -q " $node_ip/32 "; then
  ip addr add "$node_ip/32" dev lo || fail "cannot put the node's IP $node_ip on lo"
  echo "$node_ip" > "$node/added-address" # tests/node/down.sh takes it off again
fi
pki=$state/pki

start() {
  local name=$1; shift
  setsid "$@" >"$state/logs/$name.log" 2>&1 < /dev/null &
  echo $! > "$state/pids/$name.pid"
}
wait_for() {
  local what=$1 seconds=$2 pidfile=$3; shift 3
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    kill -0 "$(cat "$pidfile")" 2>/dev/null || { tail -n 20 "$state/logs/$(basename "$pidfile" .pid).log" >&2; fail "$what exited"; }
    [ $SECONDS -lt $deadline ] || { tail -n 20 "$state/logs/$(basename "$pidfile" .pid).log" >&2; fail "$what not ready after ${seconds}s"; }
    sleep 0.1
  done
}

# The kernel settings the kubelet changes (kernel.panic, panic_on_oops, vm.overcommit_memory),
# saved before it starts; down.sh puts them back.
for key in kernel/panic kernel/panic_on_oops vm/overcommit_memory; do
  printf '%s %s\n' "$key" "$(cat "/proc/sys/$key")"
done > "$node/sysctl.saved"

started=$SECONDS
t0=$(date +%s.%N)
mark() { printf '%s %.2f\n' "$1" "$(echo "$(date +%s.%N) - $t0" | bc)" >> "$node/timings"; }
# --- containerd: every path its own, the CRI plugin set for this machine --------------------
# The one CNI config is a deliberate dead end: the node is Ready (the CRI sees a network
# config) but a pod that is not hostNetwork fails with "failed to find plugin".
cat > "$node/cni/10-no-pod-network.conflist" <<JSON
{"cniVersion": "1.0.0", "name": "no-pod-network", "plugins": [{"type": "no-pod-network-use-hostNetwork"}]}
JSON
pause=localhost/tradeplane/pause:$(. "$here/../cluster/versions.env"; echo "$K8S_VERSION")
cat > "$node/containerd.toml" <<TOML
version = 3
root = "$node/containerd/root"
state = "$run/state"
disabled_plugins = ["io.containerd.nri.v1.nri"]

[grpc]
  address = "$run/containerd.sock"
[ttrpc]
  address = "$run/containerd-ttrpc.sock"

[plugins."io.containerd.internal.v1.opt"]
  path = "$node/opt"
[plugins."io.containerd.shim.v1.manager"]
  socket_dir = "$run/s"
[plugins."io.containerd.cri.v1.images"]
  snapshotter = "overlayfs"
  [plugins."io.containerd.cri.v1.images".pinned_images]
    sandbox = "$pause"
  [plugins."io.containerd.cri.v1.images".registry]
    config_path = ""
[plugins."io.containerd.cri.v1.runtime"]
  # No CAP_SYS_RESOURCE here: nothing may lower its oom_score_adj, so containerd must not try.
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  [plugins."io.containerd.cri.v1.runtime".containerd]
    default_runtime_name = "runc"
    [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc.options]
        BinaryName = "$bin/runc"
        Root = "$run/runc"
        SystemdCgroup = false
  [plugins."io.containerd.cri.v1.runtime".cni]
    bin_dirs = []
    conf_dir = "$node/cni"
    use_internal_loopback = true
[plugins."io.containerd.grpc.v1.cri"]
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
TOML
start containerd "$bin/containerd" --config "$node/containerd.toml" --log-level warn
wait_for containerd 30 "$state/pids/containerd.pid" "$bin/ctr" --address "$run/containerd.sock" version
mark containerd-ready
log "containerd ready in $((SECONDS - started))s"

# --- images: imported, never pulled -----------------------------------------------------------
ctr=("$bin/ctr" --address "$run/containerd.sock" -n k8s.io)
# (ctr warns on every call that cgroup v1 is deprecated: that line is dropped.)
"${ctr[@]}" images import --platform linux/amd64 "$bin/pause.oci.tar" 2>&1 >/dev/null | grep -v 'DEPRECATION: The support for cgroup v1' >&2 || true
# TP_NODE_IMAGES=0: only the pause image (a node for tests that bring their own pods).
[ "${TP_NODE_IMAGES:-1}" = 0 ] || "$here/import-images.sh" "$state" >&2

# --- the kubelet's identity: a client cert for system:node:127.0.0.1 from the cluster CA ------
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
  -keyout "$node/pki/kubelet.key" -subj "/O=system:nodes/CN=system:node:127.0.0.1" \
  -out "$node/pki/kubelet.csr" 2>/dev/null
openssl x509 -req -in "$node/pki/kubelet.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" \
  -CAcreateserial -days 2 -out "$node/pki/kubelet.crt" \
  -extfile <(printf 'extendedKeyUsage=clientAuth\nkeyUsage=digitalSignature') 2>/dev/null
cat > "$node/kubelet.kubeconfig" <<YAML
apiVersion: v1
kind: Config
clusters:
- name: local
  cluster: {server: "https://127.0.0.1:$apiserver_port", certificate-authority: "$pki/apiserver.crt"}
users:
- name: node
  user: {client-certificate: "$node/pki/kubelet.crt", client-key: "$node/pki/kubelet.key"}
contexts:
- name: node
  context: {cluster: local, user: node}
current-context: node
YAML
echo "nameserver 127.0.0.1" > "$node/resolv.conf"

# --- cgroups: a root of the node's own in every v1 hierarchy the kubelet uses ----------------
cgroot=tradeplane-node
for h in cpu cpuacct cpuset memory pids systemd; do
  mkdir -p "/sys/fs/cgroup/$h/$cgroot"
done
cat /sys/fs/cgroup/cpuset/cpuset.cpus > "/sys/fs/cgroup/cpuset/$cgroot/cpuset.cpus"
cat /sys/fs/cgroup/cpuset/cpuset.mems > "/sys/fs/cgroup/cpuset/$cgroot/cpuset.mems"

cat > "$node/kubelet.yaml" <<YAML
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
failCgroupV1: false
cgroupDriver: cgroupfs
cgroupRoot: /$cgroot
cgroupsPerQOS: true
failSwapOn: false
protectKernelDefaults: false
address: 127.0.0.1
healthzBindAddress: 127.0.0.1
healthzPort: 0
port: 0
readOnlyPort: 0
rotateCertificates: false
serverTLSBootstrap: false
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: false}
  x509: {clientCAFile: "$pki/ca.crt"}
authorization: {mode: AlwaysAllow}
containerRuntimeEndpoint: "unix://$run/containerd.sock"
podLogsDir: "$node/pods-logs"
resolvConf: "$node/resolv.conf"
clusterDomain: cluster.local
evictionHard: {memory.available: "0%", nodefs.available: "0%", imagefs.available: "0%", nodefs.inodesFree: "0%"}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
syncFrequency: 5s
fileCheckFrequency: 5s
nodeStatusReportFrequency: 10s
YAML
YAML_PORTS=$(python3 - <<'PY'
import socket
socks = [socket.socket() for _ in range(2)]
for s in socks: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))
PY
)
read -r kubelet_port healthz_port <<<"$YAML_PORTS"
sed -i "s/^port: 0/port: $kubelet_port/; s/^healthzPort: 0/healthzPort: $healthz_port/" "$node/kubelet.yaml"
started_kubelet=$SECONDS
mark kubelet-start
start kubelet "$bin/kubelet" --config "$node/kubelet.yaml" --kubeconfig "$node/kubelet.kubeconfig" \
  --root-dir "$node/kubelet" --cert-dir "$node/pki" --hostname-override 127.0.0.1 --node-ip "$node_ip" \
  --node-labels tradeplane.io/real-node=true --v 1
wait_for kubelet 60 "$state/pids/kubelet.pid" curl -sf "http://127.0.0.1:$healthz_port/healthz"
echo "$healthz_port" > "$node/healthz.port"
mark kubelet-healthz

# The kubelet sets panic_on_oops=1 (and the other two) shortly after /healthz answers: wait
# for that, then put all three back, so a kernel oops elsewhere cannot reboot the machine.
for _ in $(seq 100); do
  [ "$(cat /proc/sys/kernel/panic_on_oops)" = 1 ] && break
  sleep 0.05
done
sleep 0.2
"$here/restore-sysctl.sh" "$node/sysctl.saved"
KUBECONFIG=$state/kubeconfig "$ctl/kubectl" wait --for=condition=Ready node/127.0.0.1 --timeout=60s >/dev/null ||
  fail "the real node did not become Ready (log: $state/logs/kubelet.log)"
mark node-ready
"$here/restore-sysctl.sh" "$node/sysctl.saved"

# --- the local admission step that adapts pods to this node (see admission.py) ---------------
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
  -keyout "$node/pki/admission.key" -subj "/CN=tradeplane-local-admission" \
  -out "$node/pki/admission.csr" 2>/dev/null
openssl x509 -req -in "$node/pki/admission.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" \
  -CAcreateserial -days 2 -out "$node/pki/admission.crt" \
  -extfile <(printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth') 2>/dev/null
admission_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
start admission python3 "$here/admission.py" --cert "$node/pki/admission.crt" --key "$node/pki/admission.key" \
  --port "$admission_port" --api-port "$apiserver_port" --ports-from "${TP_NODE_PORTS_FROM:-20000}"
wait_for admission 20 "$state/pids/admission.pid" curl -sf --cacert "$pki/ca.crt" "https://127.0.0.1:$admission_port/"
# Services by name and port for host-network pods (see services.py).
start services python3 "$here/services.py" --kubeconfig "$state/kubeconfig" --kubectl "$ctl/kubectl"
wait_for services 20 "$state/pids/services.pid" grep -q "dns on" "$state/logs/services.log"
KUBECONFIG=$state/kubeconfig "$ctl/kubectl" apply -f - >/dev/null <<YAML
apiVersion: admissionregistration.k8s.io/v1
kind: MutatingWebhookConfiguration
metadata:
  name: tradeplane-local-real-node
  labels: {tradeplane.io/local-cluster: "true"}
webhooks:
- name: real-node.local.tradeplane.io
  clientConfig:
    url: https://127.0.0.1:$admission_port/mutate
    caBundle: $(base64 -w0 "$pki/ca.crt")
  rules:
  - {operations: [CREATE], apiGroups: [""], apiVersions: [v1], resources: [pods], scope: Namespaced}
  admissionReviewVersions: [v1]
  sideEffects: None
  failurePolicy: Fail
  reinvocationPolicy: Never
  timeoutSeconds: 5
YAML
log "real node 127.0.0.1 Ready: kubelet $((SECONDS - started_kubelet))s, whole node $((SECONDS - started))s"
