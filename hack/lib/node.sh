# shellcheck shell=bash
# Sourced by hack/cluster.sh: the real node of an instance -- containerd + runc + CNI bridge, kubelet,
# kube-proxy (iptables), kube-router's NetworkPolicy controller, CoreDNS as pods -- and the network
# namespaces it lives in.
#
# No packet of a test may leave this machine. The node and its pods therefore live in network
# namespaces this script creates, none of which has a route towards the uplink:
#
#   host (control plane on 127.0.0.1; socat 198.18.0.1:APISERVER_PORT -> 127.0.0.1 for the node)
#    |- scd-h-node  198.18.0.1/30 <-> 198.18.0.2/30  eth0  [netns scd-node: containerd, kubelet,
#    |                                                       kube-proxy, kube-router; cni0 10.244.0.1/24,
#    |                                                       pods 10.244.0.0/24; NO default route]
#    |                                                  meta0 198.18.0.5/30 <-> 198.18.0.6 [netns scd-meta:
#    |                                                       169.254.169.254, the metadata stand-in, and
#    |                                                       169.254.1.1, a link-local neighbour of it]
#    |                                                  ext0  198.18.0.9/30 <-> 198.18.0.10 [netns scd-ext:
#    |                                                       198.19.1.10 and 198.19.2.10, "outside" servers]
#    `- scd-h-snt   198.18.0.13/30 <-> 198.18.0.14/30 [netns scd-sentinel: 203.0.113.10, a server only the
#                                                       host reaches: if pod traffic ever left the node
#                                                       towards the host, it would count here]
#
# On the host: 10.244.0.0/16 is routed into scd-node (the API server's replies to pods), the service
# range 10.96.0.0/16 is `unreachable` (scd-node routes it to the host for kube-proxy's OUTPUT rules), and net.ipv4.ip_forward stays as it was (0 here): the host
# never forwards. 198.18.0.0/15 (benchmarking, RFC 2544) and 203.0.113.0/24 (documentation) are used
# nowhere else; 192.0.2.0/24 is avoided (some of these machines' uplink uses it).

NODE_NS=scd-node META_NS=scd-meta EXT_NS=scd-ext SENTINEL_NS=scd-sentinel
HOST_NODE_IP=198.18.0.1 NODE_IP=198.18.0.2
NODE_META_IP=198.18.0.5 META_IP=198.18.0.6 METADATA_IP=169.254.169.254 LINK_LOCAL_IP=169.254.1.1
NODE_EXT_IP=198.18.0.9 EXT_IP=198.18.0.10 EXT_ALLOWED_IP=198.19.1.10 EXT_DENIED_IP=198.19.2.10
HOST_SENTINEL_IP=198.18.0.13 SENTINEL_IP=198.18.0.14 SENTINEL_TARGET_IP=203.0.113.10
POD_CIDR=10.244.0.0/24 CLUSTER_CIDR=10.244.0.0/16 CLUSTER_DNS_IP=10.96.0.10
NODE_COMPONENTS=(socat containerd kubelet kube-proxy kube-router meta-server ext-server sentinel-server)
node_dir="$state/node" node_run="/run/scoped-cd-$instance"
containerd_sock="$node_run/containerd.sock"
in_node() { nsenter --net="/run/netns/$NODE_NS" -- "$@"; }
in_ns() { local ns="$1"; shift; ip netns exec "$ns" "$@"; }
ctr_node() { ctr --address "$containerd_sock" -n k8s.io "$@"; }

# ---------------------------------------------------------------------------------------------
# Network namespaces. Made before containerd starts (an `ip netns add` after containerd made pod
# namespaces would bind-mount /run/netns over theirs).
veth_pair() {  # host-or-ns-A ifA addrA ns-B ifB addrB ("" = the host)
  local a="$1" ia="$2" ipa="$3" b="$4" ib="$5" ipb="$6"
  ip link add "$ia" type veth peer name "tmp-$ib"
  [ -n "$a" ] && ip link set "$ia" netns "$a"
  ip link set "tmp-$ib" netns "$b"
  in_ns "$b" ip link set "tmp-$ib" name "$ib"
  if [ -n "$a" ]; then in_ns "$a" ip addr add "$ipa/30" dev "$ia"; in_ns "$a" ip link set "$ia" up
  else ip addr add "$ipa/30" dev "$ia"; ip link set "$ia" up; fi
  in_ns "$b" ip addr add "$ipb/30" dev "$ib"; in_ns "$b" ip link set "$ib" up
}

node_network_exists() { [ -e "/run/netns/$NODE_NS" ]; }

check_no_route_conflict() {  # the ranges the harness routes must be unused on this host
  local r
  for r in 198.18.0.0/15 10.244.0.0/16 10.96.0.0/16 203.0.113.0/24; do
    if ip route show table all | grep -v '^unreachable 10.96.0.0/16' | awk '{print $1}' | grep -qx "$r\|${r%/*}"; then
      fail "" "a route for $r exists on this host already; the harness will not share it"
    fi
  done
}

node_network_up() {
  if node_network_exists; then
    # Ours and in use, or left by a run whose processes were killed (not stopped): start over.
    is_running containerd && return 0
    node_network_down
  fi
  check_no_route_conflict
  local ns
  for ns in "$NODE_NS" "$META_NS" "$EXT_NS" "$SENTINEL_NS"; do
    ip netns add "$ns"
    in_ns "$ns" ip link set lo up
    in_ns "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
  done
  veth_pair "" scd-h-node "$HOST_NODE_IP" "$NODE_NS" eth0 "$NODE_IP"
  veth_pair "$NODE_NS" meta0 "$NODE_META_IP" "$META_NS" eth0 "$META_IP"
  veth_pair "$NODE_NS" ext0 "$NODE_EXT_IP" "$EXT_NS" eth0 "$EXT_IP"
  veth_pair "" scd-h-snt "$HOST_SENTINEL_IP" "$SENTINEL_NS" eth0 "$SENTINEL_IP"
  # Stand-in addresses on the harness namespaces' loopbacks.
  in_ns "$META_NS" ip addr add "$METADATA_IP/32" dev lo
  in_ns "$META_NS" ip addr add "$LINK_LOCAL_IP/32" dev lo
  in_ns "$EXT_NS" ip addr add "$EXT_ALLOWED_IP/32" dev lo
  in_ns "$EXT_NS" ip addr add "$EXT_DENIED_IP/32" dev lo
  in_ns "$SENTINEL_NS" ip addr add "$SENTINEL_TARGET_IP/32" dev lo
  # Routes: only between harness namespaces. The node routes the stand-ins; they route pods back.
  in_node ip route add 169.254.0.0/16 via "$META_IP"
  in_node ip route add 198.19.0.0/16 via "$EXT_IP"
  # The node's own processes (the start-up DNS check) reach Services through kube-proxy's OUTPUT
  # rules, which need a route to exist first; what no rule translates ends at the host, where the
  # service range is unreachable.
  in_node ip route add "$SERVICE_CIDR" via "$HOST_NODE_IP"
  in_ns "$META_NS" ip route add "$CLUSTER_CIDR" via "$NODE_META_IP"
  in_ns "$EXT_NS" ip route add "$CLUSTER_CIDR" via "$NODE_EXT_IP"
  ip route add "$CLUSTER_CIDR" via "$NODE_IP" dev scd-h-node
  ip route add unreachable "$SERVICE_CIDR"
  ip route add "$SENTINEL_TARGET_IP/32" via "$SENTINEL_IP" dev scd-h-snt
  # The node forwards between its pods, the stand-ins and the host link (ClusterIP traffic to the
  # API server); bridged pod traffic goes through iptables for kube-proxy and kube-router.
  in_node sysctl -qw net.ipv4.ip_forward=1 net.bridge.bridge-nf-call-iptables=1
  # The sentinel counts every packet that is not the host's: the isolation test reads the count.
  in_ns "$SENTINEL_NS" iptables -A INPUT -s "$HOST_SENTINEL_IP" -j ACCEPT
  in_ns "$SENTINEL_NS" iptables -A INPUT -m comment --comment scoped-cd-not-from-host -j ACCEPT
}

node_network_down() {
  ip route del "$CLUSTER_CIDR" via "$NODE_IP" 2>/dev/null || true
  ip route del unreachable "$SERVICE_CIDR" 2>/dev/null || true
  local ns
  # Pod namespaces containerd left (after a crash): theirs are named cni-<uuid>.
  for ns in $(ip netns list 2>/dev/null | awk '/^cni-/{print $1}'); do ip netns del "$ns" 2>/dev/null || true; done
  # Deleting a namespace removes its veths, bridge, iptables chains and ipsets (kube-router leaves
  # its chains and ipsets behind on SIGTERM; they die with the namespace).
  for ns in "$NODE_NS" "$META_NS" "$EXT_NS" "$SENTINEL_NS"; do
    [ -e "/run/netns/$ns" ] && ip netns del "$ns"
  done
  ip link del scd-h-node 2>/dev/null || true
  ip link del scd-h-snt 2>/dev/null || true
}

# What the end-to-end tests need to know of the topology (hack/cluster.sh env).
node_env() {
  cat <<EOF
export SCOPED_CD_NODE_NAME=$NODE_NAME
export SCOPED_CD_NODE_NETNS=$NODE_NS SCOPED_CD_SENTINEL_NETNS=$SENTINEL_NS
export SCOPED_CD_METADATA_IP=$METADATA_IP SCOPED_CD_LINK_LOCAL_IP=$LINK_LOCAL_IP
export SCOPED_CD_EXT_ALLOWED_IP=$EXT_ALLOWED_IP SCOPED_CD_EXT_DENIED_IP=$EXT_DENIED_IP
export SCOPED_CD_SENTINEL_IP=$SENTINEL_TARGET_IP SCOPED_CD_HOST_SENTINEL_IP=$HOST_SENTINEL_IP
export SCOPED_CD_CONTAINERD_SOCK=$containerd_sock
EOF
}

# ---------------------------------------------------------------------------------------------
# Certificates and configuration files of the node's components.
node_pki() {
  local client="basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=clientAuth"
  gen_cert kubelet "/O=system:nodes/CN=system:node:$NODE_NAME" "$client"
  gen_cert kubelet-serving "/CN=$NODE_NAME" "basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=IP:$NODE_IP,DNS:$NODE_NAME"
  # The API server's client identity towards the kubelet (logs, exec, port-forward), bound to
  # system:kubelet-api-admin in node_bootstrap_objects.
  gen_cert apiserver-kubelet-client "/CN=scoped-cd-apiserver-kubelet-client" "$client"
  gen_cert kube-proxy "/CN=system:kube-proxy" "$client"
  gen_cert kube-router "/CN=scoped-cd-kube-router" "$client"
  chmod 600 "$pki"/*.key
}

node_kubeconfig() {  # file, cert name: like write_kubeconfig, but the server as the node sees it
  write_kubeconfig "$1" "$2"
  sed -i "s#server: https://127.0.0.1:$APISERVER_PORT#server: https://$HOST_NODE_IP:$APISERVER_PORT#" "$1"
}

node_config_files() {
  mkdir -p "$node_dir/cni" "$node_dir/containerd" "$node_dir/kubelet" "$node_dir/kubelet-pki" "$node_run"
  node_kubeconfig "$node_dir/kubelet.kubeconfig" kubelet
  node_kubeconfig "$node_dir/kube-proxy.kubeconfig" kube-proxy
  node_kubeconfig "$node_dir/kube-router.kubeconfig" kube-router
  cat >"$node_dir/containerd.toml" <<EOF
version = 2
root = "$node_dir/containerd"
state = "$node_run/containerd"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]
[grpc]
  address = "$containerd_sock"
[ttrpc]
  address = "$containerd_sock.ttrpc"
[plugins."io.containerd.grpc.v1.cri"]
  # Local image (hack/toolchain.sh images): nothing can be pulled on this machine.
  sandbox_image = "registry.k8s.io/pause:3.10"
  # This VM has no CAP_SYS_RESOURCE: containerd may not lower a sandbox's oom_score_adj.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".registry]
    # Per-registry hosts.toml (hack/lib/registry.sh): docker.io is the local registry.
    config_path = "$node_dir/certs.d"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$node_dir/cni"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
EOF
  # One bridge, host-local addresses; the pods' default route ends at cni0, and the node has none.
  cat >"$node_dir/cni/10-scoped-cd.conflist" <<EOF
{"cniVersion": "1.0.0", "name": "scoped-cd", "plugins": [
  {"type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": false, "hairpinMode": true,
   "ipam": {"type": "host-local", "ranges": [[{"subnet": "$POD_CIDR"}]], "routes": [{"dst": "0.0.0.0/0"}],
            "dataDir": "$node_run/cni-ipam"}},
  {"type": "loopback"}
]}
EOF
  # Pods resolve through the cluster DNS only, never the host's resolver (outside the machine).
  printf 'nameserver %s\n' "$CLUSTER_DNS_IP" >"$node_dir/resolv.conf"
  cat >"$node_dir/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
# cgroup v1 is all this kernel offers (1.34 warns, 1.35 would refuse); there is no systemd.
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
# Host iptables are not the kubelet's: kube-proxy and kube-router own the node namespace's rules.
makeIPTablesUtilChains: false
# false: the kubelet sets kernel.panic, kernel.panic_on_oops and vm.overcommit_memory itself (true
# makes it exit); hack/cluster.sh records the values before and restores them on stop.
protectKernelDefaults: false
address: $NODE_IP
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $pki/ca.crt}
authorization: {mode: Webhook}
tlsCertFile: $pki/kubelet-serving.crt
tlsPrivateKeyFile: $pki/kubelet-serving.key
containerRuntimeEndpoint: unix://$containerd_sock
clusterDNS: [$CLUSTER_DNS_IP]
clusterDomain: cluster.local
resolvConf: $node_dir/resolv.conf
serializeImagePulls: false
# The imported images are all there is: never garbage-collect them.
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
# A CI machine's disk may be fuller than a node's: evict on real exhaustion only.
evictionHard: {memory.available: 200Mi, nodefs.available: 2%, imagefs.available: 2%, nodefs.inodesFree: 2%}
evictionPressureTransitionPeriod: 10s
maxPods: 110
EOF
  cat >"$node_dir/kube-proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: iptables
clientConnection: {kubeconfig: $node_dir/kube-proxy.kubeconfig}
hostnameOverride: $NODE_NAME
clusterCIDR: $CLUSTER_CIDR
bindAddress: $NODE_IP
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
# Leave the machine-wide conntrack table size alone.
conntrack: {maxPerCore: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
EOF
  mkdir -p "$node_dir/www"
  printf 'metadata stand-in (harness namespace %s)\n' "$META_NS" >"$node_dir/www/index.html"
}

# ---------------------------------------------------------------------------------------------
# Processes. Each runs in the node's network namespace only (nsenter --net keeps the host's mount
# namespace, which the kubelet, containerd and runc must share for volume mounts).
start_socat() {
  spawn socat socat "TCP-LISTEN:$APISERVER_PORT,bind=$HOST_NODE_IP,fork,reuseaddr" "TCP:127.0.0.1:$APISERVER_PORT"
}
start_containerd() { spawn containerd nsenter --net="/run/netns/$NODE_NS" -- containerd --config "$node_dir/containerd.toml"; }
containerd_ready() { ctr --address "$containerd_sock" version; }

# The kernel settings the kubelet rewrites (protectKernelDefaults: false), recorded once per start.
KERNEL_SYSCTLS=(kernel.panic kernel.panic_on_oops vm.overcommit_memory)
save_kernel_sysctls() {
  [ -f "$node_dir/sysctls.saved" ] && return 0
  local s; for s in "${KERNEL_SYSCTLS[@]}"; do echo "$s=$(sysctl -n "$s")"; done >"$node_dir/sysctls.saved"
}
restore_kernel_sysctls() {
  [ -f "$node_dir/sysctls.saved" ] || return 0
  local kv; while read -r kv; do sysctl -qw "$kv" || true; done <"$node_dir/sysctls.saved"
  rm -f "$node_dir/sysctls.saved"
}

start_kubelet() {
  save_kernel_sysctls
  spawn kubelet nsenter --net="/run/netns/$NODE_NS" -- kubelet --config="$node_dir/kubelet.yaml" \
    --kubeconfig="$node_dir/kubelet.kubeconfig" --root-dir="$node_dir/kubelet" \
    --cert-dir="$node_dir/kubelet-pki" --node-ip="$NODE_IP" --hostname-override="$NODE_NAME" \
    --node-labels="scoped-cd.dev/node=real" --v=1
}
start_kube_proxy() { spawn kube-proxy nsenter --net="/run/netns/$NODE_NS" -- kube-proxy --config="$node_dir/kube-proxy.yaml"; }
start_kube_router() {
  spawn kube-router nsenter --net="/run/netns/$NODE_NS" -- kube-router \
    --kubeconfig="$node_dir/kube-router.kubeconfig" --hostname-override="$NODE_NAME" \
    --run-firewall=true --run-router=false --run-service-proxy=false --enable-cni=false \
    --health-port=0 --metrics-port=0
}
# The stand-in servers: busybox httpd in each harness namespace, on the address a test probes.
start_stand_in() {  # component, netns, address
  spawn "$1" ip netns exec "$2" busybox httpd -f -p "$3:80" -h "$node_dir/www"
}
start_meta_server() { start_stand_in meta-server "$META_NS" 0.0.0.0; }
start_ext_server() { start_stand_in ext-server "$EXT_NS" 0.0.0.0; }
start_sentinel_server() { start_stand_in sentinel-server "$SENTINEL_NS" "$SENTINEL_TARGET_IP"; }

# The images the node runs (built by hack/toolchain.sh), imported once per containerd root; those
# the local registry serves (REGISTRY_IMAGES, hack/lib/registry.sh) are pulled through it instead.
import_node_images() {
  local archive marker
  for archive in "$SCOPED_CD_NODE_IMAGES"/*.tar; do
    [ -n "${REGISTRY_IMAGES[$(basename "$archive" .tar)]:-}" ] && continue
    marker="$node_dir/containerd/imported-$(basename "$archive" .tar)-$(stat -c %Y "$archive")"
    [ -f "$marker" ] && continue
    ctr_node images import "$archive" >/dev/null
    touch "$marker"
  done
}

node_ready() {
  [ "$(kubectl_admin get node "$NODE_NAME" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" = True ]
}
policy_engine_ready() { in_node iptables -S KUBE-ROUTER-FORWARD >/dev/null 2>&1; }
# A real query through the kube-dns Service (kube-proxy's rules, CoreDNS answering), from inside
# the node's namespace: a Deployment's status may still say available from before a restart.
dns_ready() {
  in_node timeout 3 busybox nslookup kubernetes.default.svc.cluster.local "$CLUSTER_DNS_IP" 2>/dev/null |
    grep -q 'Address:.*10\.96\.0\.1$'
}

# Cluster objects the node's components need: identities, the kube-dns Service and CoreDNS.
node_bootstrap_objects() {
  kubectl_admin apply -f - >/dev/null <<EOF
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: scoped-cd-apiserver-kubelet-client}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: system:kubelet-api-admin}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: scoped-cd-apiserver-kubelet-client}]
---
# kube-router's policy controller: reads pods, namespaces, nodes and NetworkPolicies, nothing else.
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: scoped-cd-kube-router}
rules:
- {apiGroups: [""], resources: [namespaces, pods, nodes, services, endpoints], verbs: [get, list, watch]}
- {apiGroups: [networking.k8s.io], resources: [networkpolicies], verbs: [get, list, watch]}
- {apiGroups: [discovery.k8s.io], resources: [endpointslices], verbs: [get, list, watch]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: scoped-cd-kube-router}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: scoped-cd-kube-router}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: scoped-cd-kube-router}]
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: coredns, namespace: kube-system}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: scoped-cd-coredns}
rules:
- {apiGroups: [""], resources: [services, namespaces, endpoints, pods], verbs: [list, watch]}
- {apiGroups: [discovery.k8s.io], resources: [endpointslices], verbs: [list, watch]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: scoped-cd-coredns}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: scoped-cd-coredns}
subjects: [{kind: ServiceAccount, name: coredns, namespace: kube-system}]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: coredns, namespace: kube-system}
data:
  # cluster.local only: nothing is forwarded, so a query can never leave the machine.
  Corefile: |
    .:53 {
        errors
        health :8080
        ready :8181
        kubernetes cluster.local in-addr.arpa ip6.arpa {
            pods insecure
            fallthrough in-addr.arpa ip6.arpa
        }
        cache 30
    }
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: coredns, namespace: kube-system, labels: {k8s-app: kube-dns}}
spec:
  replicas: 1
  selector: {matchLabels: {k8s-app: kube-dns}}
  template:
    metadata: {labels: {k8s-app: kube-dns}}
    spec:
      serviceAccountName: coredns
      dnsPolicy: Default
      containers:
      - name: coredns
        image: scoped-cd.local/coredns:$COREDNS_VERSION
        imagePullPolicy: Never
        args: [-conf, /etc/coredns/Corefile]
        ports:
        - {name: dns, containerPort: 53, protocol: UDP}
        - {name: dns-tcp, containerPort: 53, protocol: TCP}
        readinessProbe: {httpGet: {path: /ready, port: 8181}, periodSeconds: 2}
        livenessProbe: {httpGet: {path: /health, port: 8080}}
        resources: {requests: {cpu: 50m, memory: 64Mi}, limits: {memory: 128Mi}}
        securityContext:
          allowPrivilegeEscalation: false
          readOnlyRootFilesystem: true
          capabilities: {drop: [ALL], add: [NET_BIND_SERVICE]}
        volumeMounts: [{name: config, mountPath: /etc/coredns, readOnly: true}]
      volumes: [{name: config, configMap: {name: coredns}}]
---
apiVersion: v1
kind: Service
metadata: {name: kube-dns, namespace: kube-system, labels: {k8s-app: kube-dns}}
spec:
  clusterIP: $CLUSTER_DNS_IP
  selector: {k8s-app: kube-dns}
  ports:
  - {name: dns, port: 53, protocol: UDP}
  - {name: dns-tcp, port: 53, protocol: TCP}
EOF
}

# Stop the node's pods for good: kubelet first (it would restart them), then every task containerd
# runs, then containerd; finally the mounts the kubelet made and the pods' network namespaces.
stop_node_workloads() {
  if is_running containerd; then
    local id
    for id in $(ctr_node tasks ls -q 2>/dev/null); do ctr_node tasks kill -s SIGKILL "$id" >/dev/null 2>&1 || true; done
    for _ in $(seq 1 25); do [ -z "$(ctr_node tasks ls -q 2>/dev/null | head -n 1)" ] && break; sleep 0.2; done
    for id in $(ctr_node tasks ls -q 2>/dev/null); do ctr_node tasks rm -f "$id" >/dev/null 2>&1 || true; done
  fi
}
cleanup_node_leftovers() {
  # Shims of this containerd that outlived it (they hold containers, not our processes otherwise).
  pkill -9 -f "containerd-shim-runc-v2 .*-address $containerd_sock" 2>/dev/null || true
  local m
  for m in $(awk -v d="$node_dir/kubelet" -v r="$node_run/" 'index($2, d) == 1 || index($2, r) == 1 {print $2}' /proc/self/mounts | sort -r); do
    umount -l "$m" 2>/dev/null || true
  done
}
