# Sourced by demo.sh and e2e.sh: build the offline toolchain if needed (cached after the first
# run), start the local cluster (idempotent), and export both environments into the caller.
# shellcheck shell=bash
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$repo"
bash scripts/toolchain.sh
bash scripts/cluster.sh start
eval "$(bash scripts/toolchain.sh env)"
eval "$(bash scripts/cluster.sh env)"
