#!/usr/bin/env bash
# npm run demo: build the offline toolchain (first run only), start the local cluster, then deploy
# the dev stack through the scoped identity (scripts/demo.ts).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
bash scripts/toolchain.sh
bash scripts/cluster.sh start
eval "$(bash scripts/toolchain.sh env)"
eval "$(bash scripts/cluster.sh env)"
# The demo stack's secrets are encrypted with this passphrase: for the local demo only. Real
# stacks get theirs from a secret store (see "Jenkins"), never from a file in the repository.
export PULUMI_CONFIG_PASSPHRASE="${PULUMI_CONFIG_PASSPHRASE:-scoped-cd-local-demo}"
exec node bin/scripts/demo.js
