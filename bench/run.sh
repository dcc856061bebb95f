#!/usr/bin/env bash
# `npm run bench`: the offline toolchain (built once, cached), the `bench` instance of the local
# cluster (its own state and ports, so the e2e tests' cluster is never disturbed), then the bench
# itself with the toolchain's and the cluster's environment. Arguments go to bin/bench/main.js
# (--runs, --warmup, --stages, --only, --quick). The cluster is left running:
# `SCOPED_CD_CLUSTER=bench bash hack/cluster.sh stop` ends it.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
bash hack/toolchain.sh >&2
SCOPED_CD_CLUSTER=bench bash hack/cluster.sh start >&2
eval "$(bash hack/toolchain.sh env)"
eval "$(SCOPED_CD_CLUSTER=bench bash hack/cluster.sh env)"
exec node bin/bench/main.js "$@"
