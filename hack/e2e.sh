#!/usr/bin/env bash
# End-to-end tests: make sure the offline toolchain is built and the local cluster runs, then run
# the e2e suite with the real Pulumi CLI against the real API server. Leaves the cluster running
# (hack/cluster.sh stop ends it).
set -euo pipefail
# shellcheck source=lib/local-cluster-env.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/local-cluster-env.sh"
# With test files given, run only those: mocha would add them to the config's spec, not replace it.
if [ $# -gt 0 ]; then
  exec npx mocha --timeout 600000 --reporter spec "$@"
fi
# The whole suite: its wall time is recorded for `npm run bench` (.local/e2e-last-run).
t0=$SECONDS rc=0
npx mocha --config .mocharc.e2e.json || rc=$?
mkdir -p .local
printf '%s %s %s\n' "$((SECONDS - t0))" "$rc" "$(date -u +%FT%TZ)" >.local/e2e-last-run
exit $rc
