#!/usr/bin/env bash
# Starts a local Kubernetes control plane as host processes and waits until it is usable.
#
#   tests/cluster/up.sh [STATE_DIR]
#
# STATE_DIR (default ~/.cache/tradeplane/clusters/default) receives everything the cluster owns:
# certificates, etcd data, logs, pid files and the admin kubeconfig (STATE_DIR/kubeconfig). Every
# port is chosen free at start, so two clusters with two state directories run side by side.
#
# Environment:
#   TP_COMPONENTS   comma list of what to start (default: etcd,apiserver,controller-manager,
#                   scheduler,kwok,volumes); tests that only need an API server start less.
#                   volumes: the default StorageClass and its provisioner (volumes.py), whose
#                   volumes are directories under STATE_DIR/volumes; binding needs the
#                   controller-manager
#   TP_NODES        number of kwok nodes (default 2)
#   TP_REAL_NODES=1 also start one real node (containerd + kubelet, tests/node/up.sh) beside
#                   kwok's; kwok's nodes are then tainted so pods go to the real one
#   TP_AUDIT_LOG=1  the API server writes every request's metadata (user, user agent, verb,
#                   resource; no bodies) to STATE_DIR/logs/audit.log, one JSON event a line:
#                   what a bench counts requests per user by (the API server's own metrics
#                   have no user label)
#   TRADEPLANE_USE_EXISTING_CLUSTER=1 with KUBECONFIG set: start nothing, point STATE_DIR at
#                   that cluster instead (it must already be reachable)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
state=${1:-${TRADEPLANE_STATE:-$HOME/.cache/tradeplane/clusters/default}}
components=${TP_COMPONENTS:-etcd,apiserver,controller-manager,scheduler,kwok,volumes}
nodes=${TP_NODES:-2}

log() { printf '[cluster-up] %s\n' "$*" >&2; }
fail() { log "error: $*"; exit 1; }
wants() { [[ ",$components," == *",$1,"* ]]; }

mkdir -p "$state"
state=$(cd "$state" && pwd)

if [ "${TRADEPLANE_USE_EXISTING_CLUSTER:-}" = 1 ]; then
  [ -n "${KUBECONFIG:-}" ] || fail "TRADEPLANE_USE_EXISTING_CLUSTER=1 needs KUBECONFIG"
  kubectl --kubeconfig "$KUBECONFIG" get --raw /readyz >/dev/null ||
    fail "the cluster in KUBECONFIG=$KUBECONFIG is not reachable"
  cp "$KUBECONFIG" "$state/kubeconfig"
  echo existing > "$state/mode"
  log "using the existing cluster from $KUBECONFIG"
  exit 0
fi

if ls "$state"/pids/*.pid >/dev/null 2>&1; then
  fail "$state already holds a running cluster; run tests/cluster/down.sh $state first"
fi

bin=$("$here/build.sh")
export PATH="$bin:$PATH"
# (volumes: directories of claims that lived in the old etcd, if a cluster was not stopped)
rm -rf "$state/etcd" "$state/pki" "$state/logs" "$state/volumes"
mkdir -p "$state/pids" "$state/logs" "$state/pki"
echo local > "$state/mode"

# Free ports, chosen by the kernel. Tiny race between closing and binding; acceptable here.
read -r etcd_port apiserver_port kcm_port scheduler_port kwok_port < <(python3 - <<'PY'
import socket
socks = [socket.socket() for _ in range(5)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))
PY
)

# Starts one component in its own session (so down.sh can stop its whole process group) and
# records its pid. Output goes to logs/NAME.log.
start() {
  local name=$1; shift
  setsid "$@" >"$state/logs/$name.log" 2>&1 < /dev/null &
  echo $! > "$state/pids/$name.pid"
}

# Another process (a cluster starting beside this one) can take a port between the moment it
# was chosen free and the moment the component binds it. Then everything started is stopped
# and the start-up begins again with new ports, up to three times.
retry_if_port_taken() {
  local name=$1 attempt=${TP_UP_ATTEMPT:-1}
  if grep -q "address already in use" "$state/logs/$name.log" && [ "$attempt" -lt 3 ]; then
    log "$name found its port taken; starting again with new ports (attempt $((attempt + 1)))"
    trap - EXIT
    "$here/down.sh" "$state" >&2 || true
    TP_UP_ATTEMPT=$((attempt + 1)) exec "$0" "$state"
  fi
}

# Polls CHECK until it succeeds, failing after SECONDS with the component's log tail.
wait_ready() {
  local name=$1 seconds=$2; shift 2
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    if ! kill -0 "$(cat "$state/pids/$name.pid")" 2>/dev/null; then
      tail -n 20 "$state/logs/$name.log" >&2
      retry_if_port_taken "$name"
      fail "$name exited during start-up (log: $state/logs/$name.log)"
    fi
    if [ $SECONDS -ge $deadline ]; then
      tail -n 20 "$state/logs/$name.log" >&2
      fail "$name not ready after ${seconds}s (log: $state/logs/$name.log)"
    fi
    sleep 0.2
  done
  log "$name ready"
}

# Anything that fails from here on leaves no stray process behind.
trap 'rc=$?; if [ $rc -ne 0 ]; then "$here/down.sh" "$state" >&2 || true; fi' EXIT

started=$SECONDS
if wants etcd; then
  start etcd etcd --name tradeplane --data-dir "$state/etcd" \
    --listen-client-urls "http://127.0.0.1:$etcd_port" --advertise-client-urls "http://127.0.0.1:$etcd_port" \
    --listen-peer-urls http://127.0.0.1:0 --initial-advertise-peer-urls http://127.0.0.1:2380 \
    --unsafe-no-fsync --log-level warn
  wait_ready etcd 30 curl -sf "http://127.0.0.1:$etcd_port/health"
fi

token=$(openssl rand -hex 24)
openssl genrsa -out "$state/pki/sa.key" 2048 2>/dev/null
echo "$token,admin,admin,system:masters" > "$state/pki/tokens.csv"
chmod 600 "$state/pki/sa.key" "$state/pki/tokens.csv"
# A CA of the cluster's own (the API server's --cert-dir self-signs its serving cert and keeps
# no key): it signs x509 client certificates — the API server's own towards kubelets (logs,
# exec) and, with a real node, the kubelet's identity and the local admission webhook's cert.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
  -keyout "$state/pki/ca.key" -out "$state/pki/ca.crt" -subj "/CN=tradeplane-local-ca" 2>/dev/null
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
  -keyout "$state/pki/kubelet-client.key" -out "$state/pki/kubelet-client.csr" \
  -subj "/O=system:masters/CN=kube-apiserver-kubelet-client" 2>/dev/null
openssl x509 -req -in "$state/pki/kubelet-client.csr" -CA "$state/pki/ca.crt" -CAkey "$state/pki/ca.key" \
  -CAcreateserial -days 2 -out "$state/pki/kubelet-client.crt" \
  -extfile <(printf 'extendedKeyUsage=clientAuth\nkeyUsage=digitalSignature') 2>/dev/null
chmod 600 "$state/pki/ca.key" "$state/pki/kubelet-client.key"

if wants apiserver; then
  audit=()
  if [ "${TP_AUDIT_LOG:-0}" = 1 ]; then
    # Metadata of each request once it completed (and once a watch or proxy started).
    printf '%s\n' 'apiVersion: audit.k8s.io/v1' 'kind: Policy' 'omitStages: [RequestReceived]' \
      'rules:' '- level: Metadata' > "$state/audit-policy.yaml"
    audit=(--audit-policy-file "$state/audit-policy.yaml" --audit-log-path "$state/logs/audit.log"
      --audit-log-format json)
  fi
  # --endpoint-reconciler-type=none: the default reconciler publishes the advertise address as
  # the endpoint of the `kubernetes` Service; a loopback address fails validation and the
  # reconciler then retries forever. Nothing here reaches the API through that Service.
  start apiserver kube-apiserver \
    --etcd-servers "http://127.0.0.1:$etcd_port" \
    --bind-address 127.0.0.1 --secure-port "$apiserver_port" --cert-dir "$state/pki" \
    --endpoint-reconciler-type none \
    --service-cluster-ip-range 10.96.0.0/16 \
    --service-account-issuer https://kubernetes.default.svc \
    --service-account-key-file "$state/pki/sa.key" \
    --service-account-signing-key-file "$state/pki/sa.key" \
    --token-auth-file "$state/pki/tokens.csv" \
    --authorization-mode Node,RBAC \
    --enable-admission-plugins NodeRestriction \
    --client-ca-file "$state/pki/ca.crt" \
    --kubelet-client-certificate "$state/pki/kubelet-client.crt" \
    --kubelet-client-key "$state/pki/kubelet-client.key" \
    "${audit[@]}" \
    --v 1
  wait_ready apiserver 60 curl -sfk -H "Authorization: Bearer $token" "https://127.0.0.1:$apiserver_port/readyz"
fi

kubeconfig=$state/kubeconfig
cat > "$kubeconfig.tmp" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: tradeplane-local
  cluster:
    server: https://127.0.0.1:$apiserver_port
    certificate-authority: $state/pki/apiserver.crt
users:
- name: admin
  user:
    token: $token
contexts:
- name: tradeplane-local
  context: {cluster: tradeplane-local, user: admin}
current-context: tradeplane-local
EOF
chmod 600 "$kubeconfig.tmp"
mv "$kubeconfig.tmp" "$kubeconfig"
export KUBECONFIG=$kubeconfig

if wants controller-manager; then
  # kwok renews the fake nodes' Leases from one process; on a busy two-core machine a renewal
  # can come late, the node lifecycle controller then marks every pod NotReady, and kwok
  # (whose stages have already run) does not mark them Ready again until the node's next
  # status heartbeat, 10 to 20 minutes later. A long grace period keeps load from looking
  # like node failure; no test here simulates a dead node.
  start controller-manager kube-controller-manager \
    --kubeconfig "$kubeconfig" --authentication-kubeconfig "$kubeconfig" --authorization-kubeconfig "$kubeconfig" \
    --leader-elect=false --controllers '*' --use-service-account-credentials \
    --service-account-private-key-file "$state/pki/sa.key" --root-ca-file "$state/pki/apiserver.crt" \
    --bind-address 127.0.0.1 --secure-port "$kcm_port" \
    --horizontal-pod-autoscaler-sync-period 5s \
    --node-monitor-grace-period 10m
  wait_ready controller-manager 60 curl -sfk "https://127.0.0.1:$kcm_port/healthz"
fi

if wants scheduler; then
  cat > "$state/scheduler.yaml" <<EOF
apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
clientConnection:
  kubeconfig: $kubeconfig
leaderElection:
  leaderElect: false
EOF
  start scheduler kube-scheduler --config "$state/scheduler.yaml" \
    --authentication-kubeconfig "$kubeconfig" --authorization-kubeconfig "$kubeconfig" \
    --bind-address 127.0.0.1 --secure-port "$scheduler_port"
  wait_ready scheduler 60 curl -sfk "https://127.0.0.1:$scheduler_port/healthz"
fi

if wants kwok; then
  # The Lease duration is given explicitly: kwok's default of 40 s is not applied when --config
  # names a file of Stages only, and without Leases a node's only sign of life is the status
  # heartbeat stage, every 10 to 20 minutes, so the nodes went NotReady in long runs.
  start kwok kwok --kubeconfig "$kubeconfig" --config "$(dirname "$bin")/kwok-node-pod-stages.yaml" \
    --manage-all-nodes=false --manage-nodes-with-annotation-selector kwok.x-k8s.io/node=fake --cidr 10.244.0.0/16 --node-ip 10.0.1.1 \
    --node-lease-duration-seconds 40 \
    --server-address "127.0.0.1:$kwok_port"
  wait_ready kwok 30 curl -sf "http://127.0.0.1:$kwok_port/healthz"
  # With a real node, pods belong there: kwok's nodes take only pods that tolerate that.
  kwok_taints='[]'
  [ "${TP_REAL_NODES:-0}" = 1 ] && kwok_taints='[{key: tradeplane.io/simulated, value: "true", effect: NoSchedule}]'
  for i in $(seq 1 "$nodes"); do
    cat <<EOF
apiVersion: v1
kind: Node
metadata:
  name: kwok-node-$i
  annotations: {kwok.x-k8s.io/node: fake}
  labels: {type: kwok, kubernetes.io/hostname: kwok-node-$i, kubernetes.io/os: linux, topology.kubernetes.io/zone: zone-$i}
spec:
  taints: $kwok_taints
status:
  allocatable: {cpu: "32", memory: 128Gi, pods: "110"}
  capacity: {cpu: "32", memory: 128Gi, pods: "110"}
EOF
    echo "---"
  done | kubectl apply -f - >/dev/null
  kubectl wait --for=condition=Ready node --all --timeout=60s >/dev/null ||
    fail "kwok nodes did not become Ready (log: $state/logs/kwok.log)"
  log "$nodes kwok nodes ready"
fi

if wants controller-manager; then
  # Pods in a namespace need its default ServiceAccount; the token controller creates it
  # shortly after the namespace exists.
  deadline=$((SECONDS + 60))
  until kubectl -n default get serviceaccount default >/dev/null 2>&1; do
    [ $SECONDS -lt $deadline ] || fail "no default ServiceAccount after 60s"
    sleep 0.2
  done
fi

if wants volumes; then
  # The default StorageClass. Its claims are bound only after volumes.py has made their
  # directory, writable by the pods' non-root user: no pod can start on a volume not ready.
  kubectl apply -f - >/dev/null <<YAML
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: tradeplane-local
  annotations: {storageclass.kubernetes.io/is-default-class: "true"}
provisioner: local.tradeplane.io/hostpath
reclaimPolicy: Delete
volumeBindingMode: Immediate
YAML
  start volumes python3 "$here/volumes.py" --kubeconfig "$kubeconfig" --kubectl "$bin/kubectl" \
    --root "$state/volumes"
  wait_ready volumes 20 grep -q "^provisioning" "$state/logs/volumes.log"
fi

if [ "${TP_REAL_NODES:-0}" = 1 ]; then
  "$here/../node/up.sh" "$state" "$apiserver_port"
fi

trap - EXIT
log "control plane up in $((SECONDS - started))s: KUBECONFIG=$kubeconfig"
