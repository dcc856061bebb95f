#!/usr/bin/env bash
# End-to-end tests: make sure the offline toolchain is built and the local cluster runs, then run
# the e2e suite with the real Pulumi CLI against the real API server. Leaves the cluster running
# (scripts/cluster.sh stop ends it); CI runs on a fresh machine session anyway.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
bash scripts/toolchain.sh
bash scripts/cluster.sh start
eval "$(bash scripts/toolchain.sh env)"
eval "$(bash scripts/cluster.sh env)"
exec npx mocha --config .mocharc.e2e.json "$@"
