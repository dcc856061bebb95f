#!/usr/bin/env bash
# A local Kubernetes cluster for scoped-cd's end-to-end tests: real etcd, kube-apiserver (RBAC, Pod
# Security Admission, ServiceAccount tokens), kube-controller-manager and kube-scheduler on
# 127.0.0.1 (uncommon ports), and one node:
#   - default instance: a real node (hack/lib/node.sh): containerd + runc + CNI bridge, kubelet,
#     kube-proxy, kube-router's NetworkPolicy controller and CoreDNS, in network namespaces of its
#     own with no route off this machine; pods run the images hack/toolchain.sh built;
#   - faults, bench and scale instances: kwok, a fake kubelet that marks Pods Ready without running them
#     (the fault tests stop the API server and etcd under many stacks, the bench measures 50-stage
#     programs: neither is about what runs in a pod, and a second real node would need its own
#     network namespaces and double the load on a 2-core machine).
#
#   hack/cluster.sh start    start whatever is not running; wait until /readyz and the Node are Ready
#   hack/cluster.sh stop     stop exactly the processes this script recorded
#   hack/cluster.sh status   each component: running / stopped
#   hack/cluster.sh env      print `export KUBECONFIG=...` (eval "$(hack/cluster.sh env)")
#   hack/cluster.sh stop-component|start-component <component>   one process only (fault tests)
#
# State (certificates, etcd data, logs, pid files) lives in $repo/.local/cluster/ (git-ignored).
# Binaries come from hack/toolchain.sh's cache. Meant to be run as root on a dev/CI machine.
#
# SCOPED_CD_CLUSTER=<instance> selects another, independent cluster of this checkout: its own state
# in .local/cluster-<instance>/ and its own block of ports. The fault tests stop and restart their
# API server and etcd, and the benchmarks want a quiet cluster, so each gets an instance of its own
# and the shared e2e cluster is never disturbed. Instances: default, faults, bench, scale, dev1..dev5.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
instance="${SCOPED_CD_CLUSTER:-default}"
case "$instance" in
  default) state="$repo/.local/cluster" port_offset=0 node_kind=real ;;
  faults) state="$repo/.local/cluster-faults" port_offset=100 node_kind=kwok ;;
  bench) state="$repo/.local/cluster-bench" port_offset=200 node_kind=kwok ;;
  # The 50-stage e2e: the suite's longest single up, beside the other files rather than after them.
  scale) state="$repo/.local/cluster-scale" port_offset=800 node_kind=kwok ;;
  # Scratch instances for developers working side by side on one machine (one checkout each):
  # their own ports, a kwok node (the real node's network namespaces exist once per machine).
  dev[1-5]) state="$repo/.local/cluster-$instance" port_offset=$((200 + 100 * ${instance#dev})) node_kind=kwok ;;
  *) echo "cluster: unknown SCOPED_CD_CLUSTER '$instance' (one of: default, faults, bench, scale, dev1..dev5)" >&2; exit 2 ;;
esac
pki="$state/pki" logs="$state/logs" pids="$state/pids"
admin_kubeconfig="$state/admin.kubeconfig"

# Ports: uncommon ones so a developer's own cluster (6443/2379/10257/10259) never collides.
ETCD_PORT=$((12379 + port_offset)) ETCD_PEER_PORT=$((12380 + port_offset))
APISERVER_PORT=$((16443 + port_offset))
CONTROLLER_MANAGER_PORT=$((16257 + port_offset)) SCHEDULER_PORT=$((16259 + port_offset))
KWOK_PORT=$((16280 + port_offset))
SERVICE_CIDR=10.96.0.0/16          # the `kubernetes` Service gets 10.96.0.1
READY_TIMEOUT=${CLUSTER_READY_TIMEOUT:-120}
CONTROL_PLANE=(etcd kube-apiserver kube-controller-manager kube-scheduler)
declare -A COMPONENT_PORTS
# shellcheck source=toolchain/versions.env
source "$repo/hack/toolchain/versions.env"  # COREDNS_VERSION: the image the DNS Deployment names
# shellcheck source=lib/node.sh
source "$repo/hack/lib/node.sh"
# shellcheck source=lib/registry.sh
source "$repo/hack/lib/registry.sh"
if [ "$node_kind" = real ]; then
  NODE_NAME=scoped-cd-node-0 COMPONENTS=("${CONTROL_PLANE[@]}" "${REGISTRY_COMPONENTS[@]}" "${NODE_COMPONENTS[@]}")
else
  NODE_NAME=kwok-node-0 COMPONENTS=("${CONTROL_PLANE[@]}" kwok)
fi
# The executable each component runs as (is_running compares it); the default is its own name.
declare -A COMPONENT_BIN=([meta-server]=busybox [ext-server]=busybox [sentinel-server]=busybox [registry-proxy]=socat)

# ---------------------------------------------------------------------------------------------
# Binaries: from the toolchain cache (PATH exports), fail clearly if the toolchain is not built.
load_toolchain() {
  eval "$("$repo/hack/toolchain.sh" env)"
  local b
  local bins=(etcd kube-apiserver kube-controller-manager kube-scheduler kubectl openssl curl)
  if [ "$node_kind" = real ]; then
    export PATH="$SCOPED_CD_NODE_BIN:$PATH"
    bins+=(kubelet kube-proxy kube-router containerd ctr runc socat ipset nsenter busybox helm node)
    [ -f "$SCOPED_CD_NODE_IMAGES/coredns.tar" ] || { echo "cluster: the node images are not built; run hack/toolchain.sh first" >&2; exit 1; }
    [ -x "$SCOPED_CD_REGISTRY_BIN" ] || { echo "cluster: the registry is not built; run hack/toolchain.sh first" >&2; exit 1; }
  else bins+=(kwok); fi
  for b in "${bins[@]}"; do
    command -v "$b" >/dev/null || { echo "cluster: '$b' not found; run hack/toolchain.sh first" >&2; exit 1; }
  done
}

pid_of() { cat "$pids/$1.pid" 2>/dev/null || true; }
# Running = the recorded PID is alive AND is still our binary (PIDs get reused after a reboot).
is_running() {
  local pid; pid="$(pid_of "$1")"
  [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || return 1
  local argv0; argv0="$(tr '\0' '\n' <"/proc/$pid/cmdline" | head -n 1)"
  [ "$(basename "$argv0")" = "${COMPONENT_BIN[$1]:-$1}" ]
}

fail() {  # component, message: print the component's log tail, never swallow it
  echo "cluster: $2" >&2
  if [ -n "$1" ] && [ -f "$logs/$1.log" ]; then
    echo "--- last lines of $logs/$1.log ---" >&2
    tail -n 30 "$logs/$1.log" >&2
  fi
  exit 1
}

# ---------------------------------------------------------------------------------------------
# PKI with openssl: one CA signs everything (serving + client certs); separate ServiceAccount key.
gen_cert() {  # name, subject, extensions
  local name="$1" subj="$2" ext="$3"
  [ -f "$pki/$name.crt" ] && return 0
  openssl genrsa -out "$pki/$name.key" 2048 2>/dev/null
  openssl req -new -key "$pki/$name.key" -subj "$subj" -out "$pki/$name.csr" 2>/dev/null
  printf '%s\n' "$ext" >"$pki/$name.ext"
  openssl x509 -req -in "$pki/$name.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -CAcreateserial \
    -days 3650 -sha256 -extfile "$pki/$name.ext" -out "$pki/$name.crt" 2>/dev/null
  rm -f "$pki/$name.csr" "$pki/$name.ext"
}

ensure_pki() {
  mkdir -p "$pki"; chmod 700 "$pki"
  if [ ! -f "$pki/ca.crt" ]; then
    openssl genrsa -out "$pki/ca.key" 2048 2>/dev/null
    openssl req -x509 -new -key "$pki/ca.key" -subj "/CN=scoped-cd-local-ca" -days 3650 -sha256 \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" \
      -out "$pki/ca.crt" 2>/dev/null
  fi
  local client="basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=clientAuth"
  # (A state from before the real node lacks the node-side address: issue the serving cert anew.)
  if [ -f "$pki/apiserver.crt" ] && ! openssl x509 -in "$pki/apiserver.crt" -noout -ext subjectAltName 2>/dev/null | grep -q "$HOST_NODE_IP"; then
    rm -f "$pki/apiserver.crt"
  fi
  gen_cert apiserver "/CN=kube-apiserver" "basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=IP:127.0.0.1,IP:10.96.0.1,IP:$HOST_NODE_IP,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
  # system:masters = cluster-admin via the built-in RBAC binding.
  gen_cert admin "/O=system:masters/CN=scoped-cd-admin" "$client"
  # The identities the default RBAC roles expect for these components.
  gen_cert controller-manager "/CN=system:kube-controller-manager" "$client"
  gen_cert scheduler "/CN=system:kube-scheduler" "$client"
  # kwok acts as the kubelet(s) of its fake nodes and updates pod status in every namespace; it
  # uses a dedicated identity bound to cluster-admin (bound in bootstrap_objects).
  gen_cert kwok "/CN=scoped-cd-kwok" "$client"
  # ServiceAccount token signing key (apiserver signs/verifies, controller-manager signs legacy
  # token Secrets).
  if [ ! -f "$pki/sa.key" ]; then
    openssl genrsa -out "$pki/sa.key" 2048 2>/dev/null
    openssl rsa -in "$pki/sa.key" -pubout -out "$pki/sa.pub" 2>/dev/null
  fi
  chmod 600 "$pki"/*.key
  if [ "$node_kind" = real ]; then node_pki; fi
}

write_kubeconfig() {  # file, cert name
  local f="$1" n="$2"
  # (umask in a subshell: the daemons started later must not inherit 077 -- containerd would
  # unpack image layers no non-root container user can read.)
  (umask 077; : >"$f")
  cat >"$f" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: scoped-cd-local
  cluster:
    server: https://127.0.0.1:$APISERVER_PORT
    certificate-authority-data: $(base64 -w0 "$pki/ca.crt")
users:
- name: $n
  user:
    client-certificate-data: $(base64 -w0 "$pki/$n.crt")
    client-key-data: $(base64 -w0 "$pki/$n.key")
contexts:
- name: scoped-cd-local
  context: {cluster: scoped-cd-local, user: $n}
current-context: scoped-cd-local
EOF
  chmod 600 "$f"
}

# ---------------------------------------------------------------------------------------------
spawn() {  # name, command...: start detached (own session), log to $logs/<name>.log, record PID
  local name="$1"; shift
  echo "=== $(date -u +%FT%TZ) starting: $*" >>"$logs/$name.log"
  setsid "$@" >>"$logs/$name.log" 2>&1 </dev/null &
  echo $! >"$pids/$name.pid"
}

# A process spawned a moment ago may still be on its way to exec the component: the forked shell,
# then setsid, nsenter, env or ip, each exec'ing the next. Whatever its command line says then,
# alive (not gone, not a zombie) counts as starting, so a loaded machine does not fail the start;
# only a recorded process that is gone has exited.
just_spawned() {
  local pid; pid="$(pid_of "$1")"
  [ -n "$pid" ] && [ -r "/proc/$pid/stat" ] || return 1
  [ "$(sed 's/.*) //' "/proc/$pid/stat" | cut -d' ' -f1)" != Z ]
}

wait_for() {  # component, description, command...: poll until the command succeeds
  local comp="$1" what="$2"; shift 2
  local deadline=$((SECONDS + READY_TIMEOUT))
  until "$@" >/dev/null 2>&1; do
    is_running "$comp" || just_spawned "$comp" || fail "$comp" "$comp exited while waiting for $what"
    [ $SECONDS -lt $deadline ] || fail "$comp" "timed out after ${READY_TIMEOUT}s waiting for $what"
    sleep 0.5
  done
}

start_etcd() {
  # Plain HTTP on loopback only: the apiserver is its only client. Debian's etcd-server 3.4.
  spawn etcd etcd --name scoped-cd --data-dir "$state/etcd" \
    --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster "scoped-cd=http://127.0.0.1:$ETCD_PEER_PORT" \
    --unsafe-no-fsync=true --quota-backend-bytes=2147483648
}

start_apiserver() {
  # --allow-privileged=true as on kubeadm clusters: Pod Security Admission (per-namespace labels)
  # must be what stops privileged pods, not a cluster-wide switch.
  # Default admission plugins stay on (PodSecurity, ServiceAccount, NamespaceLifecycle,
  # LimitRanger, ResourceQuota, ...); NodeRestriction added for Node authorization.
  # --endpoint-reconciler-type=none: the `kubernetes` Service endpoint would be 127.0.0.1, which
  # Endpoints validation rejects (loopback), making the reconciler log errors forever.
  # Structured authentication (AuthenticationConfiguration, GA in 1.34), starting with no JWT
  # issuer: the OIDC end-to-end test writes its local test issuer into this file, and the API
  # server reloads it without a restart. Reset at every start so a crashed test leaves no issuer.
  printf 'apiVersion: apiserver.config.k8s.io/v1\nkind: AuthenticationConfiguration\njwt: []\n' \
    >"$state/authentication-config.yaml"
  start_apiserver_keep_authn
}

# The audit policy of the local cluster: every write at Metadata level (who, verb, object, response
# code; no bodies), except the control plane's and the node's own, which would drown the log.
# `scoped-cd audit` reads the log ($logs/audit.log, JSON lines) as an operator reads an export.
write_audit_policy() {
  cat >"$state/audit-policy.yaml" <<'EOF'
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
- level: None
  users: [system:kube-controller-manager, system:kube-scheduler, system:apiserver, scoped-cd-kwok]
- level: None
  userGroups: [system:nodes, "system:serviceaccounts:kube-system"]
- level: None
  verbs: [get, list, watch]
- level: Metadata
EOF
}

# Static bearer tokens (--token-auth-file), standing in for a managed cluster's own authenticator
# (EKS, GKE, AKS map a cloud identity to a user and groups): the external credential kind's e2e
# test hands one to an exec plugin. Random per state dir, readable by root only; the file is read
# at start (no reload). Rows: token,user,uid,"groups".
write_static_tokens() {
  local f="$state/static-tokens.csv"
  [ -s "$f" ] && return 0
  (umask 077
    printf '%s,scoped-cd-e2e:ci-deployer,e2e-ci-deployer,"scoped-cd-e2e:ci,scoped-cd-e2e:all"\n' "$(openssl rand -hex 24)" >"$f"
    printf '%s,scoped-cd-e2e:someone-else,e2e-someone-else,"scoped-cd-e2e:other,scoped-cd-e2e:all"\n' "$(openssl rand -hex 24)" >>"$f")
}

# A restart of the API server alone (fault tests) keeps whatever issuer the file holds.
start_apiserver_keep_authn() {
  write_audit_policy
  write_static_tokens
  # The real node reaches the API server at $HOST_NODE_IP (socat to 127.0.0.1): the `kubernetes`
  # Service's endpoint is that address, and the API server reaches the kubelet with a client
  # certificate, verifying the kubelet's serving certificate, by the node's InternalIP.
  # (kwok: 127.0.0.1, which Endpoints validation rejects, so no `kubernetes` endpoint reconciler.)
  local node_flags=(--advertise-address=127.0.0.1 --endpoint-reconciler-type=none)
  if [ "$node_kind" = real ]; then
    node_flags=(--advertise-address="$HOST_NODE_IP"
      --kubelet-client-certificate="$pki/apiserver-kubelet-client.crt" --kubelet-client-key="$pki/apiserver-kubelet-client.key"
      --kubelet-certificate-authority="$pki/ca.crt" --kubelet-preferred-address-types=InternalIP)
  fi
  spawn kube-apiserver kube-apiserver "${node_flags[@]}" \
    --authentication-config="$state/authentication-config.yaml" \
    --token-auth-file="$state/static-tokens.csv" \
    --audit-policy-file="$state/audit-policy.yaml" --audit-log-path="$logs/audit.log" \
    --audit-log-format=json --audit-log-maxsize=200 --audit-log-maxbackup=1 \
    --bind-address=127.0.0.1 --secure-port="$APISERVER_PORT" \
    --etcd-servers="http://127.0.0.1:$ETCD_PORT" \
    --tls-cert-file="$pki/apiserver.crt" --tls-private-key-file="$pki/apiserver.key" \
    --client-ca-file="$pki/ca.crt" \
    --authorization-mode=Node,RBAC --anonymous-auth=false \
    --enable-admission-plugins=NodeRestriction \
    --service-account-key-file="$pki/sa.pub" --service-account-signing-key-file="$pki/sa.key" \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --service-cluster-ip-range="$SERVICE_CIDR" \
    --allow-privileged=true --profiling=false
}

start_controller_manager() {
  # Controllers: the default set (namespace, deployment, replicaset, serviceaccount, the legacy
  # ServiceAccount token controller -- enabled by --service-account-private-key-file --,
  # root-ca-cert-publisher, garbage collector, resourcequota, ...), minus node-lifecycle: a fake
  # Node cannot fail, and that controller only marks its Pods NotReady whenever kwok's heartbeat
  # is late (slow CI machine, or any stop/start of the cluster) -- and kwok never re-readies them,
  # so Deployments would silently stay unavailable.
  # A real node heartbeats like any kubelet: node-lifecycle stays on (it lifts the not-ready taint
  # a kubelet registers with), and the node gets its pod CIDR from the controller-manager.
  local cidr_flags=() controllers='*,-node-lifecycle-controller'
  if [ "$node_kind" = real ]; then
    cidr_flags=(--allocate-node-cidrs=true --cluster-cidr="$CLUSTER_CIDR" --node-cidr-mask-size=24)
    controllers='*'
  fi
  spawn kube-controller-manager kube-controller-manager "${cidr_flags[@]}" \
    --kubeconfig="$state/controller-manager.kubeconfig" \
    --authentication-kubeconfig="$state/controller-manager.kubeconfig" \
    --authorization-kubeconfig="$state/controller-manager.kubeconfig" \
    --bind-address=127.0.0.1 --secure-port="$CONTROLLER_MANAGER_PORT" \
    --service-account-private-key-file="$pki/sa.key" --root-ca-file="$pki/ca.crt" \
    --use-service-account-credentials=true \
    --cluster-signing-cert-file="$pki/ca.crt" --cluster-signing-key-file="$pki/ca.key" \
    --controllers="$controllers" --leader-elect=false --profiling=false
}

start_scheduler() {
  spawn kube-scheduler kube-scheduler \
    --kubeconfig="$state/scheduler.kubeconfig" \
    --authentication-kubeconfig="$state/scheduler.kubeconfig" \
    --authorization-kubeconfig="$state/scheduler.kubeconfig" \
    --bind-address=127.0.0.1 --secure-port="$SCHEDULER_PORT" --leader-elect=false --profiling=false
}

start_kwok() {
  # Manage only Nodes annotated kwok.x-k8s.io/node=fake (the ones bootstrap_objects creates);
  # v0.7.0's built-in stages make such Nodes and their Pods Ready. Node Leases (as a kubelet
  # keeps) are off by default in kwok; turn them on so the Node heartbeats like a real one.
  spawn kwok kwok --kubeconfig="$state/kwok.kubeconfig" \
    --manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake \
    --server-address="127.0.0.1:$KWOK_PORT" --node-ip=127.0.0.1 --cidr=10.244.0.0/16 \
    --node-lease-duration-seconds=40
}

kubectl_admin() { kubectl --kubeconfig="$admin_kubeconfig" "$@"; }

bootstrap_objects() {
  # kwok's identity needs to act as the fake kubelet (node + pod status in all namespaces).
  kubectl_admin apply -f - >/dev/null <<EOF
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: scoped-cd-kwok}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: scoped-cd-kwok}]
---
apiVersion: v1
kind: Node
metadata:
  name: $NODE_NAME
  annotations: {kwok.x-k8s.io/node: fake, node.alpha.kubernetes.io/ttl: "0"}
  labels:
    type: kwok
    kubernetes.io/hostname: $NODE_NAME
    kubernetes.io/os: linux
    kubernetes.io/arch: amd64
    node-role.kubernetes.io/agent: ""
status:
  # ephemeral-storage: every container has a request for it (the stage LimitRange's default).
  allocatable: {cpu: "32", memory: 256Gi, pods: "110", ephemeral-storage: 500Gi}
  capacity: {cpu: "32", memory: 256Gi, pods: "110", ephemeral-storage: 500Gi}
EOF
  # Taints the node-lifecycle controller may have left (state from a run where it was enabled)
  # would keep every Pod Pending; nothing else adds them here.
  local t
  for t in node.kubernetes.io/unreachable node.kubernetes.io/not-ready; do
    kubectl_admin taint node "$NODE_NAME" "$t-" >/dev/null 2>&1 || true
  done
}

apiserver_ready() {
  curl -sf --cacert "$pki/ca.crt" --cert "$pki/admin.crt" --key "$pki/admin.key" \
    "https://127.0.0.1:$APISERVER_PORT/readyz" >/dev/null
}

# A component of this checkout that is not running must find its port free: otherwise another
# checkout's cluster (or any other process) holds it, and starting over it would half-work.
COMPONENT_PORTS=([etcd]="$ETCD_PORT $ETCD_PEER_PORT" [kube-apiserver]="$APISERVER_PORT"
  [kube-controller-manager]="$CONTROLLER_MANAGER_PORT" [kube-scheduler]="$SCHEDULER_PORT" [kwok]="$KWOK_PORT"
  [registry]="$REGISTRY_PORT")
# (The node's components listen inside its own network namespace, socat on the node-side address.)
check_ports_free() {
  local c port holder
  for c in "${COMPONENTS[@]}"; do
    is_running "$c" && continue
    for port in ${COMPONENT_PORTS[$c]:-}; do
      holder="$(ss -Hltnp "sport = :$port" 2>/dev/null | head -n 1)"
      if [ -n "$holder" ]; then
        echo "cluster: cannot start $c: 127.0.0.1:$port is taken by another process (${holder##* }), not by this checkout's cluster ($state). Another checkout's local cluster? Stop it with its own hack/cluster.sh stop." >&2
        exit 1
      fi
    done
  done
}

# What started the running cluster: a hash of this script and hack/lib/ (recorded at start), so a
# cluster started by an older harness (other API server flags, no registry) is named as such.
harness_key() { cat "$repo/hack/cluster.sh" "$repo"/hack/lib/*.sh | sha256sum | cut -c1-12; }

cmd_start() {
  load_toolchain
  mkdir -p "$state" "$logs" "$pids"; chmod 700 "$state"
  local all=1 c
  for c in "${COMPONENTS[@]}"; do is_running "$c" || all=0; done
  if [ $all = 1 ] && apiserver_ready && node_ready; then
    echo "cluster: already running (https://127.0.0.1:$APISERVER_PORT)"
    if [ "$(cat "$state/harness-key" 2>/dev/null)" != "$(harness_key)" ]; then
      echo "cluster: warning: it was started before hack/cluster.sh or hack/lib/ last changed, so it may lack what they now set up (API server flags, the audit log, the registry); to restart it: SCOPED_CD_CLUSTER=$instance bash hack/cluster.sh stop && SCOPED_CD_CLUSTER=$instance bash hack/cluster.sh start" >&2
    fi
    return 0
  fi
  check_ports_free
  local t=$SECONDS
  ensure_pki
  write_kubeconfig "$admin_kubeconfig" admin
  write_kubeconfig "$state/controller-manager.kubeconfig" controller-manager
  write_kubeconfig "$state/scheduler.kubeconfig" scheduler
  write_kubeconfig "$state/kwok.kubeconfig" kwok

  is_running etcd || start_etcd
  wait_for etcd "etcd /health" curl -sf "http://127.0.0.1:$ETCD_PORT/health"
  is_running kube-apiserver || start_apiserver
  wait_for kube-apiserver "kube-apiserver /readyz" apiserver_ready
  is_running kube-controller-manager || start_controller_manager
  is_running kube-scheduler || start_scheduler
  if [ "$node_kind" = real ]; then start_real_node; else
    bootstrap_objects || fail kube-apiserver "could not create the kwok binding / fake Node"
    is_running kwok || start_kwok
    wait_for kwok "Node $NODE_NAME Ready" node_ready
  fi
  # The scheduler and controller-manager only report healthy once synced; check they stay up.
  wait_for kube-controller-manager "kube-controller-manager /healthz" \
    curl -sfk "https://127.0.0.1:$CONTROLLER_MANAGER_PORT/healthz"
  wait_for kube-scheduler "kube-scheduler /healthz" curl -sfk "https://127.0.0.1:$SCHEDULER_PORT/healthz"
  harness_key >"$state/harness-key"
  echo "cluster: ready in $((SECONDS - t))s (https://127.0.0.1:$APISERVER_PORT, node $NODE_NAME)"
  echo "cluster: KUBECONFIG=$admin_kubeconfig"
}

# The real node, in order: its network, the runtime and images, the kubelet, the Service and
# policy machinery, the stand-in servers, then DNS; each wait bounded by READY_TIMEOUT.
start_real_node() {
  node_network_up
  node_config_files
  registry_node_hosts
  is_running socat || start_socat
  registry_up
  local fresh=0
  is_running containerd || { start_containerd; fresh=1; }
  wait_for containerd "containerd's socket" containerd_ready
  [ "$fresh" = 0 ] || registry_forget_node_images || fail containerd "could not remove the registry-served images from the node"
  import_node_images || fail containerd "could not import the node images into containerd"
  node_bootstrap_objects || fail kube-apiserver "could not create the node's identities and CoreDNS"
  is_running kubelet || start_kubelet
  is_running kube-proxy || start_kube_proxy
  is_running meta-server || start_meta_server
  is_running ext-server || start_ext_server
  is_running sentinel-server || start_sentinel_server
  wait_for kubelet "Node $NODE_NAME Ready" node_ready
  # kube-router identifies its node by name at start: only once the kubelet registered it.
  is_running kube-router || start_kube_router
  wait_for kube-router "kube-router's policy chains" policy_engine_ready
  wait_for kubelet "CoreDNS available (kube-system/coredns)" dns_ready
}

stop_component() {  # component: SIGTERM, up to 10 s, then SIGKILL
  local c="$1" pid
  if is_running "$c"; then
    pid="$(pid_of "$c")"
    [ "$c" = containerd ] && stop_node_workloads
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do is_running "$c" || break; sleep 0.2; done
    if is_running "$c"; then kill -9 "$pid" 2>/dev/null || true; fi
    echo "cluster: stopped $c (pid $pid)"
  fi
  rm -f "$pids/$c.pid"
}

cmd_stop() {
  local i
  # Reverse order: the node's stand-ins and agents, the kubelet before containerd (whose pods are
  # killed first), then the control plane's clients, etcd last.
  for ((i = ${#COMPONENTS[@]} - 1; i >= 0; i--)); do stop_component "${COMPONENTS[$i]}"; done
  if [ "$node_kind" = real ]; then
    cleanup_node_leftovers
    restore_kernel_sysctls
    node_network_down
  fi
}

cmd_status() {
  local c st rc=0
  for c in "${COMPONENTS[@]}"; do
    if is_running "$c"; then st="running (pid $(pid_of "$c"))"; else st=stopped; rc=1; fi
    printf '%-24s %s\n' "$c" "$st"
  done
  if [ -f "$pki/ca.crt" ] && apiserver_ready 2>/dev/null; then echo "apiserver /readyz        ok"; else echo "apiserver /readyz        not ready"; fi
  return $rc
}

# Start or stop one component only (the fault tests restart the API server or etcd). The
# controller-manager exits when the API server goes away at a bad moment (as it would on a node
# whose kubelet restarts it); `start` afterwards brings back whatever is not running.
cmd_component() {  # start|stop, component
  local c="$2"
  case " ${COMPONENTS[*]} " in *" $c "*) ;; *) echo "cluster: unknown component '$c' (${COMPONENTS[*]})" >&2; exit 2 ;; esac
  load_toolchain
  if [ "$1" = stop ]; then stop_component "$c"; return 0; fi
  is_running "$c" && { echo "cluster: $c already running"; return 0; }
  case "$c" in
    etcd) start_etcd; wait_for etcd "etcd /health" curl -sf "http://127.0.0.1:$ETCD_PORT/health" ;;
    kube-apiserver) start_apiserver_keep_authn; wait_for kube-apiserver "kube-apiserver /readyz" apiserver_ready ;;
    kube-controller-manager) start_controller_manager ;;
    kube-scheduler) start_scheduler ;;
    kwok) start_kwok ;;
    kubelet) start_kubelet; wait_for kubelet "Node $NODE_NAME Ready" node_ready ;;
    *) "start_${c//-/_}" ;;
  esac
  echo "cluster: started $c"
}

case "${1:-}" in
  start) cmd_start ;;
  start-component) cmd_component start "${2:-}" ;;
  stop-component) cmd_component stop "${2:-}" ;;
  stop) cmd_stop; bash "$repo/hack/postgres.sh" stop ;;  # the instance's state backend, if started
  status) cmd_status ;;
  env) echo "export KUBECONFIG=\"$admin_kubeconfig\""
    echo "export SCOPED_CD_CLUSTER_STATE=\"$state\""
    echo "export SCOPED_CD_NODE_KIND=$node_kind"
    echo "export SCOPED_CD_PORT_OFFSET=$port_offset"
    if [ "$node_kind" = real ]; then node_env; registry_env; fi ;;
  *) echo "usage: $0 start|stop|status|env|start-component <c>|stop-component <c>" >&2; exit 2 ;;
esac
exit
