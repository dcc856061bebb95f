#!/usr/bin/env bash
# Builds the offline toolchain for scoped-cd from Go modules (this machine reaches only the npm
# registry, Debian's archive and the Go module proxy: no GitHub releases, no get.pulumi.com).
#
#   hack/toolchain.sh            build what is missing (cold: ~20 min on 2 cores; warm: ~1 s)
#   hack/toolchain.sh env        print shell exports; use: eval "$(hack/toolchain.sh env)"
#   hack/toolchain.sh dirs       print the cache dir of each built tool
#   hack/toolchain.sh build STEP...   build only some steps (pulumi kubernetes-provider
#                                   random-provider kube etcd kwok helm helm2 plugins
#                                   node-packages kube-node kube-router coredns images
#                                   registry postgres gateway-api)
#
# Everything built lands in ${SCOPED_CD_CACHE:-$HOME/.cache/scoped-cd}/<tool>-<version>/, outside
# the work tree, and is reused by every later run and every clone on this machine. The only
# per-checkout part is the plugin install into $repo/.local/pulumi-home (quick).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tc="$repo/hack/toolchain"
# shellcheck source=toolchain/versions.env
source "$tc/versions.env"
CACHE="${SCOPED_CD_CACHE:-$HOME/.cache/scoped-cd}"
LOGS="$CACHE/logs"
PULUMI_HOME_DIR="$repo/.local/pulumi-home"

# npm-driven versions: the CLI/language host must match @pulumi/pulumi, the plugins must be exactly
# the versions the SDKs ask the engine for. Read them from the lockfile, the single source of truth.
lock_version() {
  node -e 'const l=require(process.argv[1]);const p=l.packages["node_modules/"+process.argv[2]];
    if(!p){console.error("not in lockfile: "+process.argv[2]);process.exit(1)};console.log(p.version)' \
    "$repo/package-lock.json" "$1"
}
PULUMI_VERSION="$(lock_version @pulumi/pulumi)"
K8S_PROVIDER_VERSION="$(lock_version @pulumi/kubernetes)"
RANDOM_PROVIDER_VERSION="$(lock_version @pulumi/random)"
[ "$PULUMI_CLI_VERSION" = lockfile ] && PULUMI_CLI_VERSION="$PULUMI_VERSION"

# Go settings. GOTOOLCHAIN=local: never download another Go (the proxy would serve it, but we want
# the machine's Go; every module pinned here builds with go1.26). GOSUMDB=off: sum.golang.org is
# not reachable from this machine (DNS fails), so checksums come from the committed go.sum files
# of the wrapper modules plus the module proxy itself. GOPROXY without ",direct": never try git.
export PATH="/usr/local/go/bin:$PATH"
export GOTOOLCHAIN=local GOSUMDB=off GOPROXY="${GOPROXY_OVERRIDE:-https://proxy.golang.org}"
export GOFLAGS="-mod=mod -buildvcs=false" CGO_ENABLED=0

cache_dir() { echo "$CACHE/$1-$2"; }   # tool, version -> its cache dir
# Tools built from a wrapper module under hack/toolchain/ are keyed by version AND a short hash of the
# wrapper's files, so editing a wrapper (e.g. the language host) rebuilds just that tool.
wrapper_key() {
  (cd "$tc/$1" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum) | sha256sum | cut -c1-8
}
PULUMI_DIR="$(cache_dir pulumi "$PULUMI_CLI_VERSION-$(wrapper_key pulumi)$(wrapper_key pulumi-language-nodejs)")"
KUBE_DIR="$(cache_dir kube "$KUBE_VERSION-$(wrapper_key kube)")"
# (+ the source commit, since the source module differs from the reported version)
K8S_PROVIDER_DIR="$(cache_dir kubernetes-provider "$K8S_PROVIDER_VERSION-${K8S_PROVIDER_MODULE_VERSION##*-}-$(wrapper_key kubernetes-provider)")"
RANDOM_PROVIDER_DIR="$(cache_dir random-provider "$RANDOM_PROVIDER_VERSION-$(wrapper_key random-provider)")"
KWOK_DIR="$(cache_dir kwok "$KWOK_VERSION")"
HELM_DIR="$(cache_dir helm "$HELM_VERSION")"
HELM2_DIR="$(cache_dir helm2 "$HELM2_VERSION-$(wrapper_key helm2)")"
# The real node: kubelet + kube-proxy from the control plane's wrapper, the policy engine, DNS, and
# the images its pods run (keyed by what goes into them: Tiller and CoreDNS builds, the recipes).
KUBE_NODE_DIR="$(cache_dir kube-node "$KUBE_VERSION-$(wrapper_key kube)")"
KUBE_ROUTER_DIR="$(cache_dir kube-router "$KUBE_ROUTER_VERSION")"
REGISTRY_DIR="$(cache_dir registry "$DISTRIBUTION_VERSION")"
COREDNS_DIR="$(cache_dir coredns "$COREDNS_VERSION-$(wrapper_key coredns)")"
GATEWAY_API_DIR="$(cache_dir gateway-api "$GATEWAY_API_VERSION")"
IMAGES_DIR="$(cache_dir images "$(printf '%s\n' "$(wrapper_key images)" "$HELM2_DIR" "$COREDNS_DIR" | sha256sum | cut -c1-8)")"

# ---------------------------------------------------------------------------------------------
# env: print exports for an interactive shell or CI step.
print_env() {
  mkdir -p "$repo/.local/state" "$PULUMI_HOME_DIR"
  local etcd_bin=""
  [ "$ETCD_VERSION" = debian ] || etcd_bin="$(cache_dir etcd "$ETCD_VERSION")/bin:"
  cat <<EOF
export SCOPED_CD_NODE_BIN="$KUBE_NODE_DIR/bin:$KUBE_ROUTER_DIR/bin"
export SCOPED_CD_NODE_IMAGES="$IMAGES_DIR"
export SCOPED_CD_REGISTRY_BIN="$REGISTRY_DIR/bin/registry"
export SCOPED_CD_GATEWAY_API_CRDS="$GATEWAY_API_DIR/crds"
export PATH="$repo/hack/plugins:$PULUMI_DIR/bin:$KUBE_DIR/bin:$KWOK_DIR/bin:$HELM_DIR/bin:$HELM2_DIR/bin:${etcd_bin}\$PATH"
export PULUMI_HOME="$PULUMI_HOME_DIR"
export PULUMI_SKIP_UPDATE_CHECK=true
export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true
export PULUMI_BACKEND_URL="file://$repo/.local/state"
EOF
}

# ---------------------------------------------------------------------------------------------
# Step runner: "[k/n] building <what> ... done in 123s", log per step under $LOGS, tail on failure.
STEP_K=0 STEP_N=0 T0=$SECONDS
run_step() {  # name, description, done-marker file, function
  local name="$1" what="$2" marker="$3" fn="$4" log="$LOGS/$1.log" t=$SECONDS
  STEP_K=$((STEP_K + 1))
  if [ -e "$marker" ]; then
    printf '[%d/%d] %s ... cached\n' "$STEP_K" "$STEP_N" "$what"; return 0
  fi
  printf '[%d/%d] building %s ... ' "$STEP_K" "$STEP_N" "$what"
  mkdir -p "$LOGS"
  # Run in a subshell so `set -e` applies inside the step, and capture its status ourselves.
  # The subshell gets its own `set -e`; it must not run as an `if` condition, where bash ignores
  # set -e (a failing command in the middle of the step would go unnoticed).
  local rc=0
  set +e; ( set -euo pipefail; "$fn" ) >"$log" 2>&1; rc=$?; set -e
  if [ "$rc" -eq 0 ]; then
    printf 'done in %ss\n' "$((SECONDS - t))"
    # The cold build time of the step, for `npm run bench` (seconds, then when it was built).
    printf '%s %s\n' "$((SECONDS - t))" "$(date -u +%FT%TZ)" >"$LOGS/$name.seconds"
  else
    printf 'FAILED after %ss\n\nstep "%s" failed; last lines of %s:\n' "$((SECONDS - t))" "$name" "$log"
    tail -n 40 "$log" | sed 's/^/  | /'
    printf '\nfull log: %s\n' "$log"
    exit 1
  fi
}

# Copy a wrapper module (committed under hack/toolchain/) to a scratch dir in the cache, so `go mod
# edit` / -mod=mod never touch the work tree. Prints the scratch dir.
scratch_module() {  # wrapper dir name, dest
  rm -rf "$2"; mkdir -p "$2"; cp -r "$tc/$1/." "$2/"
}

# Install the result atomically: build into $dir.tmp, then rename, so an interrupted build never
# leaves a half-filled cache dir that a later run would take as done.
finish_dir() { rm -rf "$1"; mv "$1.tmp" "$1"; }

# ---------------------------------------------------------------------------------------------
# Kubernetes: kube-apiserver, kube-controller-manager, kube-scheduler, kubectl (one minor).
build_kube() {
  local dir="$KUBE_DIR"; rm -rf "$dir.tmp"
  scratch_module kube "$dir.tmp/src"; cd "$dir.tmp/src"
  # Point the wrapper at the pinned version and every staging module at its v0.x twin.
  local edits=(-require="k8s.io/kubernetes@$KUBE_VERSION")
  local m; for m in $(go mod edit -json | node -e 'JSON.parse(require("fs").readFileSync(0)).Replace.forEach(r=>console.log(r.Old.Path))'); do
    edits+=(-replace="$m=$m@$KUBE_STAGING_VERSION")
  done
  go mod edit "${edits[@]}"
  local ver="$KUBE_VERSION" minor; minor="$(echo "$ver" | cut -d. -f2)"
  # Same ldflags as hack/lib/version.sh, so `kubectl version` and /version report the real version
  # (unstamped binaries say v0.0.0-master, which also breaks version-skew checks).
  local x="" p
  for p in k8s.io/client-go/pkg/version k8s.io/component-base/version; do
    x+=" -X $p.gitVersion=$ver -X $p.gitMajor=1 -X $p.gitMinor=$minor -X $p.gitTreeState=clean"
    x+=" -X $p.buildDate=1970-01-01T00:00:00Z"
  done
  go mod download k8s.io/kubernetes
  go build -trimpath -ldflags "-s -w$x" -o "$dir.tmp/bin/" \
    k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
    k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl
  "$dir.tmp/bin/kubectl" version --client
  rm -rf "$dir.tmp/src"
  finish_dir "$dir"
}

# ---------------------------------------------------------------------------------------------
# Pulumi CLI (pkg/v3 at the @pulumi/pulumi version) + our Node.js language host (see
# hack/toolchain/pulumi-language-nodejs/main.go for why it is ours), both stamped with that version.
build_pulumi() {
  local dir="$PULUMI_DIR"; rm -rf "$dir.tmp"
  scratch_module pulumi "$dir.tmp/src"; cd "$dir.tmp/src"
  go mod edit -require="github.com/pulumi/pulumi/pkg/v3@v$PULUMI_CLI_VERSION" \
              -require="github.com/pulumi/pulumi/sdk/v3@v$PULUMI_CLI_VERSION"
  local x="-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v$PULUMI_CLI_VERSION"
  go build -trimpath -ldflags "-s -w $x" -o "$dir.tmp/bin/pulumi" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi
  "$dir.tmp/bin/pulumi" version
  scratch_module pulumi-language-nodejs "$dir.tmp/src-lang"; cd "$dir.tmp/src-lang"
  go mod edit -require="github.com/pulumi/pulumi/sdk/v3@v$PULUMI_CLI_VERSION"
  go build -trimpath -ldflags "-s -w $x" -o "$dir.tmp/bin/pulumi-language-nodejs" .
  rm -rf "$dir.tmp/src" "$dir.tmp/src-lang"
  finish_dir "$dir"
}

# ---------------------------------------------------------------------------------------------
# pulumi-resource-kubernetes, reporting the @pulumi/kubernetes version (see
# hack/toolchain/kubernetes-provider/go.mod for the source module actually used and why).
build_kubernetes_provider() {
  local dir="$K8S_PROVIDER_DIR"
  rm -rf "$dir.tmp"; scratch_module kubernetes-provider "$dir.tmp/src"; cd "$dir.tmp/src"
  local mod=github.com/pulumi/pulumi-kubernetes/provider/v4
  go mod edit -require="$mod@$K8S_PROVIDER_MODULE_VERSION"
  # The two embedded files upstream generates with `go generate` (cmd/.../generate.go): the
  # committed schema.json with "version" set, and terraform-mapping.json re-serialised.
  local src; src="$(go mod download -json "$mod@$K8S_PROVIDER_MODULE_VERSION" | node -e 'console.log(JSON.parse(require("fs").readFileSync(0)).Dir)')"
  node -e 'const fs=require("fs"),[src,v]=process.argv.slice(1);
    const s=JSON.parse(fs.readFileSync(src+"/schema.json"));s.version=v;
    fs.writeFileSync("schema-embed.json",JSON.stringify(s));
    fs.writeFileSync("terraform-mapping-embed.json",JSON.stringify(JSON.parse(fs.readFileSync(src+"/terraform-mapping.json"))));' \
    "$src/cmd/pulumi-resource-kubernetes" "$K8S_PROVIDER_VERSION"
  go build -trimpath -ldflags "-s -w -X $mod/pkg/version.Version=$K8S_PROVIDER_VERSION" \
    -o "$dir.tmp/bin/pulumi-resource-kubernetes" .
  echo "built from $mod@$K8S_PROVIDER_MODULE_VERSION, stamped $K8S_PROVIDER_VERSION" > "$dir.tmp/SOURCE"
  rm -rf "$dir.tmp/src"; finish_dir "$dir"
}

# ---------------------------------------------------------------------------------------------
# pulumi-resource-random, rebuilt from terraform-provider-random + pulumi-terraform-bridge (see
# hack/toolchain/random-provider/go.mod for why), reporting the @pulumi/random version.
build_random_provider() {
  local dir="$RANDOM_PROVIDER_DIR"; rm -rf "$dir.tmp"
  scratch_module random-provider "$dir.tmp/src"; cd "$dir.tmp/src"
  local x="-X scoped-cd.local/toolchain/random-provider/provider.Version=$RANDOM_PROVIDER_VERSION"
  # 1. tfgen: derive the Pulumi schema + bridge metadata from the Terraform provider's schema.
  go build -trimpath -ldflags "-s -w $x" -o "$dir.tmp/pulumi-tfgen-random" ./cmd/pulumi-tfgen-random
  # Docs are not needed (the SDK is npm's); don't fail on their absence.
  PULUMI_MISSING_DOCS_ERROR=false "$dir.tmp/pulumi-tfgen-random" schema --skip-docs --out "$dir.tmp/gen"
  cp "$dir.tmp/gen/bridge-metadata.json" provider/bridge-metadata.json
  node -e 'const fs=require("fs"),[f,o,v]=process.argv.slice(1);const s=JSON.parse(fs.readFileSync(f));
    s.version=v;fs.writeFileSync(o,JSON.stringify(s));' \
    "$dir.tmp/gen/schema.json" cmd/pulumi-resource-random/schema-embed.json "$RANDOM_PROVIDER_VERSION"
  # 2. the provider itself, embedding both.
  go build -trimpath -ldflags "-s -w $x" -o "$dir.tmp/bin/pulumi-resource-random" ./cmd/pulumi-resource-random
  cp "$dir.tmp/gen/schema.json" "$dir.tmp/schema.json"
  rm -rf "$dir.tmp/src" "$dir.tmp/gen" "$dir.tmp/pulumi-tfgen-random"; finish_dir "$dir"
}

# ---------------------------------------------------------------------------------------------
# Install both provider plugins into the checkout's PULUMI_HOME under exactly the versions the npm
# SDKs request (the engine's plugin cache matches versions exactly; automatic download is off).
# This is the only per-checkout step: a fresh clone re-runs just this.
k8s_provider_bin() { echo "$K8S_PROVIDER_DIR/bin/pulumi-resource-kubernetes"; }
random_provider_bin() { echo "$RANDOM_PROVIDER_DIR/bin/pulumi-resource-random"; }
plugin_dir() { echo "$PULUMI_HOME_DIR/plugins/resource-$1-v$2"; }
install_plugins() {
  export PULUMI_HOME="$PULUMI_HOME_DIR" PULUMI_SKIP_UPDATE_CHECK=true
  local pulumi; pulumi="$PULUMI_DIR/bin/pulumi"
  "$pulumi" plugin install resource kubernetes "$K8S_PROVIDER_VERSION" --file "$(k8s_provider_bin)" --reinstall
  "$pulumi" plugin install resource random "$RANDOM_PROVIDER_VERSION" --file "$(random_provider_bin)" --reinstall
  "$pulumi" plugin ls
}
plugins_marker() {  # "done" only when both installed binaries equal the cached builds
  if cmp -s "$(k8s_provider_bin)" "$(plugin_dir kubernetes "$K8S_PROVIDER_VERSION")/pulumi-resource-kubernetes" &&
     cmp -s "$(random_provider_bin)" "$(plugin_dir random "$RANDOM_PROVIDER_VERSION")/pulumi-resource-random"; then
    echo "$(plugin_dir random "$RANDOM_PROVIDER_VERSION")/pulumi-resource-random"
  else echo /nonexistent; fi
}

# ---------------------------------------------------------------------------------------------
# kwok (fake kubelet: marks Nodes and their Pods Ready). No replaces upstream, so plain go install.
# Its version string is a constant in the source (pkg/consts.Version), no stamp needed.
build_kwok() {
  local dir="$KWOK_DIR"; rm -rf "$dir.tmp"
  GOFLAGS=-buildvcs=false GOBIN="$dir.tmp/bin" go install -trimpath -ldflags "-s -w" "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"
  "$dir.tmp/bin/kwok" --version
  finish_dir "$dir"
}

# Helm v3 CLI. Stamp like Helm's Makefile does, else `helm version` says just "v3.22".
build_helm() {
  local dir="$HELM_DIR"; rm -rf "$dir.tmp"
  local v=helm.sh/helm/v3/internal/version
  GOFLAGS=-buildvcs=false GOBIN="$dir.tmp/bin" go install -trimpath \
    -ldflags "-s -w -X $v.version=$HELM_VERSION -X $v.gitTreeState=clean" "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
  "$dir.tmp/bin/helm" version
  finish_dir "$dir"
}

# Helm v2 client and Tiller, stamped like Helm 2's Makefile. The binary is named helm2 (plus tiller)
# so it never shadows the Helm v3 `helm` on PATH.
build_helm2() {
  local dir="$HELM2_DIR"; rm -rf "$dir.tmp"
  scratch_module helm2 "$dir.tmp/src"; cd "$dir.tmp/src"
  go mod edit -require="k8s.io/helm@$HELM2_VERSION+incompatible"
  local v=k8s.io/helm/pkg/version
  local x="-X $v.Version=$HELM2_VERSION -X $v.BuildMetadata= -X $v.GitTreeState=clean"
  go build -trimpath -ldflags "-s -w $x" -o "$dir.tmp/bin/" k8s.io/helm/cmd/helm k8s.io/helm/cmd/tiller
  mv "$dir.tmp/bin/helm" "$dir.tmp/bin/helm2"
  "$dir.tmp/bin/helm2" version --client
  "$dir.tmp/bin/tiller" --help 2>&1 | grep -q -- -history-max
  rm -rf "$dir.tmp/src"; finish_dir "$dir"
}

# etcd: Debian's etcd-server by default (3.4.23 on bookworm; kube-apiserver 1.34 works with it,
# see cluster.sh); or a go.etcd.io/etcd/server/v3 version if versions.env names one.
# openssl (certificates for cluster.sh) comes from Debian as well.
build_etcd() {
  export DEBIAN_FRONTEND=noninteractive
  local pkgs=()
  command -v openssl >/dev/null || pkgs+=(openssl)
  if [ "$ETCD_VERSION" = debian ]; then
    command -v etcd >/dev/null || pkgs+=(etcd-server)
  fi
  if [ ${#pkgs[@]} -gt 0 ]; then
    # `apt-get update` only when the package lists are empty (a fresh machine).
    if ! apt-cache show "${pkgs[0]}" >/dev/null 2>&1; then apt-get update; fi
    apt-get install -y "${pkgs[@]}"
  fi
  if [ "$ETCD_VERSION" != debian ]; then
    local dir; dir="$(cache_dir etcd "$ETCD_VERSION")"; rm -rf "$dir.tmp"
    GOFLAGS=-buildvcs=false GOBIN="$dir.tmp/bin" go install -trimpath -ldflags "-s -w" "go.etcd.io/etcd/server/v3@$ETCD_VERSION"
    mv "$dir.tmp/bin/v3" "$dir.tmp/bin/etcd" 2>/dev/null || true
    finish_dir "$dir"
  fi
  etcd --version 2>/dev/null || "$(cache_dir etcd "$ETCD_VERSION")/bin/etcd" --version
}
etcd_marker() {
  if [ "$ETCD_VERSION" = debian ]; then command -v etcd >/dev/null && command -v openssl >/dev/null && echo /usr/bin/etcd || echo /nonexistent
  else command -v openssl >/dev/null && echo "$(cache_dir etcd "$ETCD_VERSION")/bin/etcd" || echo /nonexistent; fi
}

# PostgreSQL for the state backend the e2e suite and the bench also run on (hack/postgres.sh):
# Debian's server and client (pg_dump for the secrets-at-rest test). Debian's package creates and
# may start a `main` cluster on 5432; hack/postgres.sh never uses it (own data dir and port).
POSTGRES_PACKAGES=(postgresql-15 postgresql-client-15)
build_postgres() {
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-cache show postgresql-15 >/dev/null 2>&1; then apt-get update; fi
  apt-get install -y --no-install-recommends "${POSTGRES_PACKAGES[@]}"
  /usr/lib/postgresql/15/bin/postgres --version
}
postgres_marker() {
  [ -x /usr/lib/postgresql/15/bin/postgres ] && [ -x /usr/lib/postgresql/15/bin/pg_dump ] \
    && echo /usr/lib/postgresql/15/bin/postgres || echo /nonexistent
}

# Gateway API CRDs: no build, the standard channel's CustomResourceDefinitions from the module zip
# (`go mod download`, checked against GATEWAY_API_SUM), so tests install the same types a cluster
# with the Gateway API has. The module's ValidatingAdmissionPolicy (vap_safeupgrades) is left out:
# it is not a type, and it would be a cluster-wide policy of its own.
build_gateway_api() {
  local dir="$GATEWAY_API_DIR"; rm -rf "$dir.tmp"; mkdir -p "$dir.tmp/crds"
  local json src sum f
  json="$(cd "$dir.tmp" && go mod download -json "sigs.k8s.io/gateway-api@$GATEWAY_API_VERSION")"
  src="$(node -e 'console.log(JSON.parse(process.argv[1]).Dir)' "$json")"
  sum="$(node -e 'console.log(JSON.parse(process.argv[1]).Sum)' "$json")"
  if [ "$sum" != "$GATEWAY_API_SUM" ]; then
    echo "sigs.k8s.io/gateway-api@$GATEWAY_API_VERSION: sum $sum, expected $GATEWAY_API_SUM (versions.env)" >&2
    exit 1
  fi
  for f in "$src"/config/crd/standard/gateway.networking.k8s.io_*.yaml; do
    grep -q '^kind: CustomResourceDefinition$' "$f" || continue
    cp "$f" "$dir.tmp/crds/"
  done
  ls "$dir.tmp/crds"
  [ -e "$dir.tmp/crds/gateway.networking.k8s.io_tlsroutes.yaml" ]
  finish_dir "$dir"
}

# ---------------------------------------------------------------------------------------------
# The real node (hack/cluster.sh): Debian's container runtime, kubelet and kube-proxy at the control
# plane's version, kube-router's NetworkPolicy controller, CoreDNS, and the images pods run.
NODE_PACKAGES=(containerd runc containernetworking-plugins busybox-static iptables ipset conntrack socat iproute2)
build_node_packages() {
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-cache show containerd >/dev/null 2>&1; then apt-get update; fi
  apt-get install -y --no-install-recommends "${NODE_PACKAGES[@]}"
  containerd --version; runc --version | head -n 1
}
node_packages_marker() {
  local p; for p in "${NODE_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || { echo /nonexistent; return; }
  done
  echo /usr/bin/containerd
}

# kubelet needs two modules the control-plane binaries do not import; -mod=mod fetches them.
build_kube_node() {
  local dir="$KUBE_NODE_DIR"; rm -rf "$dir.tmp"
  scratch_module kube "$dir.tmp/src"; cd "$dir.tmp/src"
  local edits=(-require="k8s.io/kubernetes@$KUBE_VERSION") m
  for m in $(go mod edit -json | node -e 'JSON.parse(require("fs").readFileSync(0)).Replace.forEach(r=>console.log(r.Old.Path))'); do
    edits+=(-replace="$m=$m@$KUBE_STAGING_VERSION")
  done
  go mod edit "${edits[@]}"
  local ver="$KUBE_VERSION" minor x="" p; minor="$(echo "$ver" | cut -d. -f2)"
  for p in k8s.io/client-go/pkg/version k8s.io/component-base/version; do
    x+=" -X $p.gitVersion=$ver -X $p.gitMajor=1 -X $p.gitMinor=$minor -X $p.gitTreeState=clean"
    x+=" -X $p.buildDate=1970-01-01T00:00:00Z"
  done
  go build -trimpath -ldflags "-s -w$x" -o "$dir.tmp/bin/" k8s.io/kubernetes/cmd/kubelet k8s.io/kubernetes/cmd/kube-proxy
  "$dir.tmp/bin/kubelet" --version
  rm -rf "$dir.tmp/src"; finish_dir "$dir"
}

# kube-router's policy controller (its Makefile's build: CGO off, version stamped).
build_kube_router() {
  local dir="$KUBE_ROUTER_DIR"; rm -rf "$dir.tmp"
  local v=github.com/cloudnativelabs/kube-router/v2/pkg/version
  GOFLAGS=-buildvcs=false GOBIN="$dir.tmp/bin" go install -trimpath \
    -ldflags "-s -w -X $v.Version=$KUBE_ROUTER_VERSION -X $v.BuildDate=1970-01-01" \
    "github.com/cloudnativelabs/kube-router/v2/cmd/kube-router@$KUBE_ROUTER_VERSION"
  "$dir.tmp/bin/kube-router" --version
  finish_dir "$dir"
}

# The OCI registry (distribution/distribution v3, its Makefile's build: CGO off, version stamped).
build_registry() {
  local dir="$REGISTRY_DIR"; rm -rf "$dir.tmp"
  local v=github.com/distribution/distribution/v3/version
  GOFLAGS=-buildvcs=false GOBIN="$dir.tmp/bin" go install -trimpath \
    -ldflags "-s -w -X $v.version=$DISTRIBUTION_VERSION" \
    "github.com/distribution/distribution/v3/cmd/registry@$DISTRIBUTION_VERSION"
  "$dir.tmp/bin/registry" --version
  finish_dir "$dir"
}

build_coredns() {
  local dir="$COREDNS_DIR"; rm -rf "$dir.tmp"
  scratch_module coredns "$dir.tmp/src"; cd "$dir.tmp/src"
  go mod edit -require="github.com/coredns/coredns@$COREDNS_VERSION"
  go build -trimpath -ldflags "-s -w" -o "$dir.tmp/bin/coredns" .
  "$dir.tmp/bin/coredns" -plugins | grep -q kubernetes
  rm -rf "$dir.tmp/src"; finish_dir "$dir"
}

# The images the local node runs, as OCI archives that hack/cluster.sh imports into containerd.
# Upstream names where a manifest names them (the pod sandbox, Tiller, the sample chart's image),
# so the same charts and components run unchanged; scoped-cd.local/ for the harness's own.
build_images() {
  local dir="$IMAGES_DIR" root; rm -rf "$dir.tmp"; mkdir -p "$dir.tmp"
  # shellcheck source=toolchain/images/oci.sh
  source "$tc/images/oci.sh"
  root="$dir.tmp/rootfs"
  # The sandbox: a tiny static program (registry.k8s.io/pause:3.10 is kubelet 1.34's default).
  mkdir -p "$root/pause"
  (cd "$tc/images/pause" && go build -trimpath -ldflags "-s -w" -o "$root/pause/pause" .)
  oci_image "$dir.tmp/pause.tar" registry.k8s.io/pause:3.10 "$root/pause" '{"Entrypoint":["/pause"],"User":"65535:65535"}'
  # Probe pods: busybox (nc, httpd, nslookup, sh).
  busybox_rootfs "$root/probe"
  oci_image "$dir.tmp/probe.tar" scoped-cd.local/probe:1 "$root/probe" \
    '{"Entrypoint":["/bin/sh"],"Env":["PATH=/bin"],"WorkingDir":"/"}'
  # The sample chart's image: a stand-in that serves HTTP on 8080 as user 101 from a read-only
  # root (busybox httpd), answering / and /cgi-bin/greeting (the chart's GREETING).
  busybox_rootfs "$root/storefront"; cp -r "$tc/images/storefront/www" "$root/storefront/www"
  chmod 755 "$root/storefront/www/cgi-bin/"*
  oci_image "$dir.tmp/storefront.tar" docker.io/nginxinc/nginx-unprivileged:1.27.3-alpine "$root/storefront" \
    '{"Entrypoint":["/bin/httpd","-f","-v","-p","8080","-h","/www"],"Env":["PATH=/bin"],"User":"101:101","ExposedPorts":{"8080/tcp":{}}}'
  # Tiller (config/tiller.ts DEFAULT_TILLER_IMAGE) from the toolchain's own helm2 build.
  mkdir -p "$root/tiller"; cp "$HELM2_DIR/bin/tiller" "$root/tiller/tiller"
  oci_image "$dir.tmp/tiller.tar" ghcr.io/helm/tiller:v2.17.0 "$root/tiller" '{"Entrypoint":["/tiller"],"User":"65534:65534"}'
  mkdir -p "$root/coredns"; cp "$COREDNS_DIR/bin/coredns" "$root/coredns/coredns"
  oci_image "$dir.tmp/coredns.tar" "scoped-cd.local/coredns:$COREDNS_VERSION" "$root/coredns" '{"Entrypoint":["/coredns"]}'
  rm -rf "$root"; ls -l "$dir.tmp"
  finish_dir "$dir"
}

# ---------------------------------------------------------------------------------------------
main() {
  local steps=(pulumi kubernetes-provider random-provider kube etcd kwok helm helm2 plugins
    node-packages kube-node kube-router coredns images registry postgres gateway-api)
  if [ "${1:-}" = env ]; then print_env; return; fi
  if [ "${1:-}" = dirs ]; then  # where each tool lives in the cache (for du, debugging)
    printf '%s\n' "$PULUMI_DIR" "$K8S_PROVIDER_DIR" "$RANDOM_PROVIDER_DIR" "$KUBE_DIR" "$KWOK_DIR" "$HELM_DIR" "$HELM2_DIR" \
      "$KUBE_NODE_DIR" "$KUBE_ROUTER_DIR" "$COREDNS_DIR" "$IMAGES_DIR" "$REGISTRY_DIR" "$GATEWAY_API_DIR"; return
  fi
  if [ "${1:-}" = build ]; then shift; steps=("$@"); fi
  # One build per cache at a time (two Jenkins executors, a test run beside a demo): the second
  # waits, then finds the steps the first one finished cached. Each step installs atomically too
  # ($dir.tmp, then a rename), so an interrupted build never leaves a tool that looks finished.
  mkdir -p "$CACHE"
  exec 9>"$CACHE/.build.lock"
  if ! flock -n 9; then
    echo "toolchain: another build holds $CACHE/.build.lock; waiting for it to finish ..." >&2
    flock 9
  fi
  STEP_N=${#steps[@]}
  local s
  for s in "${steps[@]}"; do
    case "$s" in
      pulumi) run_step pulumi "pulumi CLI + pulumi-language-nodejs v$PULUMI_CLI_VERSION" \
              "$PULUMI_DIR/bin/pulumi-language-nodejs" build_pulumi ;;
      kubernetes-provider) run_step kubernetes-provider "pulumi-resource-kubernetes $K8S_PROVIDER_VERSION" \
              "$K8S_PROVIDER_DIR/bin/pulumi-resource-kubernetes" \
              build_kubernetes_provider ;;
      random-provider) run_step random-provider "pulumi-resource-random $RANDOM_PROVIDER_VERSION" \
              "$(random_provider_bin)" build_random_provider ;;
      plugins) run_step plugins "provider plugins into $PULUMI_HOME_DIR" "$(plugins_marker)" install_plugins ;;
      kwok) run_step kwok "kwok $KWOK_VERSION" "$KWOK_DIR/bin/kwok" build_kwok ;;
      helm) run_step helm "helm $HELM_VERSION" "$HELM_DIR/bin/helm" build_helm ;;
      helm2) run_step helm2 "helm v2 client + tiller $HELM2_VERSION" "$HELM2_DIR/bin/tiller" build_helm2 ;;
      etcd) run_step etcd "etcd ($ETCD_VERSION) + openssl" "$(etcd_marker)" build_etcd ;;
      kube) run_step kube "kubernetes $KUBE_VERSION (apiserver, controller-manager, scheduler, kubectl)" \
              "$KUBE_DIR/bin/kubectl" build_kube ;;
      node-packages) run_step node-packages "node runtime (Debian: ${NODE_PACKAGES[*]})" \
              "$(node_packages_marker)" build_node_packages ;;
      kube-node) run_step kube-node "kubernetes $KUBE_VERSION (kubelet, kube-proxy)" \
              "$KUBE_NODE_DIR/bin/kubelet" build_kube_node ;;
      kube-router) run_step kube-router "kube-router $KUBE_ROUTER_VERSION (NetworkPolicy controller)" \
              "$KUBE_ROUTER_DIR/bin/kube-router" build_kube_router ;;
      registry) run_step registry "registry $DISTRIBUTION_VERSION (distribution, OCI images and charts)" \
              "$REGISTRY_DIR/bin/registry" build_registry ;;
      coredns) run_step coredns "coredns $COREDNS_VERSION" "$COREDNS_DIR/bin/coredns" build_coredns ;;
      postgres) run_step postgres "PostgreSQL (Debian: ${POSTGRES_PACKAGES[*]})" "$(postgres_marker)" build_postgres ;;
      gateway-api) run_step gateway-api "Gateway API CRDs $GATEWAY_API_VERSION (standard channel)" \
              "$GATEWAY_API_DIR/crds/gateway.networking.k8s.io_httproutes.yaml" build_gateway_api ;;
      images) run_step images "node images (pause, probe, storefront, tiller, coredns)" \
              "$IMAGES_DIR/coredns.tar" build_images ;;
      *) echo "unknown step: $s" >&2; exit 2 ;;
    esac
  done
  printf 'toolchain ready in %ss (cache: %s)\n' "$((SECONDS - T0))" "$CACHE"
}
# One line on purpose: bash reads scripts lazily, so an edit to this file while it runs could
# otherwise be executed after main returns.
main "$@"; exit
