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
exec npx mocha --config .mocharc.e2e.json
