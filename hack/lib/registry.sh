# shellcheck shell=bash
# Sourced by hack/cluster.sh (after hack/lib/node.sh) for the default instance: a local OCI
# registry (distribution/distribution, hack/toolchain.sh step `registry`) serving
#   - the sample chart as an OCI artifact: oci://127.0.0.1:15443/charts/storefront:<Chart.yaml version>
#   - the sample chart's image under its upstream name, nginxinc/nginx-unprivileged:1.27.3-alpine,
#     which containerd pulls through its docker.io mirror (certs.d/docker.io/hosts.toml).
#
#   host: registry  https://127.0.0.1:15443 (TLS, a CA of its own: $registry_dir/trust/ca.crt)
#         registry-proxy (socat) 198.18.0.1:15443 -> 127.0.0.1:15443, the address the node reaches
#         (the same way it reaches the API server); nothing listens beyond loopback and that veth.
#
# Anonymous pull and push: the registry is a harness service on loopback, like etcd here.

REGISTRY_PORT=15443
REGISTRY_HOST="127.0.0.1:$REGISTRY_PORT" REGISTRY_NODE_HOST="$HOST_NODE_IP:$REGISTRY_PORT"
REGISTRY_COMPONENTS=(registry registry-proxy)
registry_dir="$state/registry"
registry_ca="$registry_dir/trust/ca.crt"  # the only file there: a dir fit for SSL_CERT_DIR
# Images served by the registry instead of imported: archive (hack/toolchain.sh images) -> the
# name a manifest uses. The node's containerd resolves docker.io through the mirror below only.
declare -A REGISTRY_IMAGES=([storefront]=docker.io/nginxinc/nginx-unprivileged:1.27.3-alpine)
REGISTRY_CHART_REPO="oci://$REGISTRY_HOST/charts"

registry_pki() {
  local p="$registry_dir/pki"
  mkdir -p "$p" "$registry_dir/trust"; chmod 700 "$p"
  if [ ! -f "$p/ca.crt" ]; then
    openssl genrsa -out "$p/ca.key" 2048 2>/dev/null
    openssl req -x509 -new -key "$p/ca.key" -subj "/CN=scoped-cd-registry-ca" -days 3650 -sha256 \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
      -out "$p/ca.crt" 2>/dev/null
    rm -f "$p/server.crt"
  fi
  if [ ! -f "$p/server.crt" ]; then
    openssl genrsa -out "$p/server.key" 2048 2>/dev/null
    openssl req -new -key "$p/server.key" -subj "/CN=scoped-cd-registry" -out "$p/server.csr" 2>/dev/null
    printf '%s\n' "basicConstraints=CA:FALSE" "keyUsage=critical,digitalSignature,keyEncipherment" \
      "extendedKeyUsage=serverAuth" "subjectAltName=IP:127.0.0.1,IP:$HOST_NODE_IP,DNS:localhost" >"$p/server.ext"
    openssl x509 -req -in "$p/server.csr" -CA "$p/ca.crt" -CAkey "$p/ca.key" -CAcreateserial \
      -days 3650 -sha256 -extfile "$p/server.ext" -out "$p/server.crt" 2>/dev/null
    rm -f "$p/server.csr" "$p/server.ext"
  fi
  chmod 600 "$p"/*.key
  cp "$p/ca.crt" "$registry_ca"
}

registry_config() {
  mkdir -p "$registry_dir/data"
  cat >"$registry_dir/config.yml" <<EOF
version: 0.1
log:
  level: info
  formatter: text
  # The access log (combined format, with the client's User-Agent) is the proof of who pulled what.
  accesslog: {disabled: false}
storage:
  filesystem: {rootdirectory: $registry_dir/data}
  delete: {enabled: true}
http:
  addr: $REGISTRY_HOST
  tls:
    certificate: $registry_dir/pki/server.crt
    key: $registry_dir/pki/server.key
EOF
}

# containerd's registry hosts for the node (config_path in containerd.toml): docker.io resolves
# at the local registry only. `server` is the registry too, so a name it lacks fails there at
# once instead of falling back to registry-1.docker.io (which the node could not reach anyway).
registry_node_hosts() {
  mkdir -p "$node_dir/certs.d/docker.io"
  cat >"$node_dir/certs.d/docker.io/hosts.toml" <<EOF
server = "https://$REGISTRY_NODE_HOST"

[host."https://$REGISTRY_NODE_HOST"]
  capabilities = ["pull", "resolve"]
  ca = "$registry_ca"
EOF
}

start_registry() {
  # No traces exported (the default exporter would post to localhost:4318).
  spawn registry env OTEL_TRACES_EXPORTER=none OTEL_SDK_DISABLED=true \
    "$SCOPED_CD_REGISTRY_BIN" serve "$registry_dir/config.yml"
}
start_registry_proxy() {
  spawn registry-proxy socat "TCP-LISTEN:$REGISTRY_PORT,bind=$HOST_NODE_IP,fork,reuseaddr" "TCP:$REGISTRY_HOST"
}
registry_curl() { curl -sf --max-time 10 --cacert "$registry_ca" "$@"; }
registry_ready() { registry_curl -o /dev/null "https://$REGISTRY_HOST/v2/"; }
# From inside the node's namespace, as containerd connects.
registry_node_ready() { in_node curl -sf --max-time 5 --cacert "$registry_ca" -o /dev/null "https://$REGISTRY_NODE_HOST/v2/"; }

# Push one OCI image archive (an image layout with one manifest, as hack/toolchain/images/oci.sh
# makes them) under repo:tag, through the distribution API: blobs first (skipped when present),
# then the manifest. Idempotent.
registry_push_image() {  # archive, repository (no host), tag
  local archive="$1" repo="$2" tag="$3" work d loc base="https://$REGISTRY_HOST/v2/$2"
  work="$(mktemp -d)"
  tar -xf "$archive" -C "$work"
  local manifest
  manifest="$(node -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1])).manifests[0].digest)' "$work/index.json")"
  for d in $(node -e 'const m=JSON.parse(require("fs").readFileSync(process.argv[1]));
      console.log([m.config,...m.layers].map(b=>b.digest).join(" "))' "$work/blobs/sha256/${manifest#sha256:}"); do
    registry_curl -I -o /dev/null "$base/blobs/$d" && continue
    loc="$(registry_curl -X POST -D - -o /dev/null "$base/blobs/uploads/" | tr -d '\r' | sed -n 's/^[Ll]ocation: //p')"
    [ -n "$loc" ] || { rm -rf "$work"; return 1; }
    case "$loc" in http*) ;; *) loc="https://$REGISTRY_HOST$loc" ;; esac
    case "$loc" in *\?*) loc="$loc&digest=$d" ;; *) loc="$loc?digest=$d" ;; esac
    registry_curl -X PUT -H 'Content-Type: application/octet-stream' \
      --data-binary "@$work/blobs/sha256/${d#sha256:}" -o /dev/null "$loc" || { rm -rf "$work"; return 1; }
  done
  registry_curl -X PUT -H 'Content-Type: application/vnd.oci.image.manifest.v1+json' \
    --data-binary "@$work/blobs/sha256/${manifest#sha256:}" -o /dev/null "$base/manifests/$tag" || { rm -rf "$work"; return 1; }
  rm -rf "$work"
}

# Helm v3 with its own homes under the registry's dir (never the user's registry config).
registry_helm() {
  HELM_CONFIG_HOME="$registry_dir/helm/config" HELM_CACHE_HOME="$registry_dir/helm/cache" \
    HELM_DATA_HOME="$registry_dir/helm/data" HELM_REGISTRY_CONFIG="$registry_dir/helm/registry.json" helm "$@"
}

registry_push_content() {
  local name ref
  for name in "${!REGISTRY_IMAGES[@]}"; do
    ref="${REGISTRY_IMAGES[$name]#docker.io/}"
    registry_push_image "$SCOPED_CD_NODE_IMAGES/$name.tar" "${ref%:*}" "${ref##*:}" ||
      fail registry "could not push $name.tar to the registry as ${REGISTRY_IMAGES[$name]}"
  done
  # The sample chart, at the version its Chart.yaml has (helm push names the tag after it).
  local tmp; tmp="$(mktemp -d)"
  registry_helm package "$repo/charts/storefront" -d "$tmp" >/dev/null &&
    registry_helm push "$tmp"/storefront-*.tgz "$REGISTRY_CHART_REPO" --ca-file "$registry_ca" >>"$logs/registry-push.log" 2>&1 ||
    { rm -rf "$tmp"; fail registry-push "could not push the sample chart to $REGISTRY_CHART_REPO"; }
  rm -rf "$tmp"
}

# The registry is up, reachable from the node, and holds what the harness serves.
registry_up() {
  registry_pki
  registry_config
  is_running registry || start_registry
  wait_for registry "the registry on https://$REGISTRY_HOST" registry_ready
  # (A proxy left from before the node's network was made anew listens on a vanished address.)
  if is_running registry-proxy && ! registry_node_ready; then stop_component registry-proxy; fi
  is_running registry-proxy || start_registry_proxy
  wait_for registry-proxy "the registry from the node (https://$REGISTRY_NODE_HOST)" registry_node_ready
  registry_push_content
}

# A freshly started containerd forgets the images the registry serves (imported by an older
# harness, or pulled in an earlier run): every cluster start pulls them through the mirror anew.
# Every record of such an image goes (name:tag, name@digest and the sha256:<config> ID the CRI
# adds), so that its content is collected and the next pull fetches the layers too.
registry_forget_node_images() {
  local name repo digests
  for name in "${!REGISTRY_IMAGES[@]}"; do
    repo="${REGISTRY_IMAGES[$name]%:*}"
    digests="$(ctr_node images ls | awk -v r="$repo" 'NR > 1 && (index($1, r ":") == 1 || index($1, r "@") == 1) {print $3}' | sort -u | tr "\n" " ")"
    [ -n "$digests" ] || continue
    # shellcheck disable=SC2046 # one name per word
    ctr_node images rm --sync $(ctr_node images ls | awk -v d="$digests" 'BEGIN {split(d, a, " "); for (i in a) want[a[i]] = 1}
      NR > 1 && ($3 in want) {print $1}') >/dev/null
  done
}

registry_env() {
  cat <<EOF
export SCOPED_CD_REGISTRY=$REGISTRY_HOST SCOPED_CD_REGISTRY_CA_DIR=$registry_dir/trust
export SCOPED_CD_REGISTRY_LOG=$logs/registry.log SCOPED_CD_REGISTRY_CHART_REPO=$REGISTRY_CHART_REPO
EOF
}
