# Sourced by e2e.sh and by `scoped-cd demo` (cli/commands/demo.ts): build the offline toolchain if
# needed (cached after the first run), start the local cluster (idempotent), and export both
# environments into the caller.
# shellcheck shell=bash
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$repo"
bash hack/toolchain.sh
bash hack/cluster.sh start
eval "$(bash hack/toolchain.sh env)"
eval "$(bash hack/cluster.sh env)"
