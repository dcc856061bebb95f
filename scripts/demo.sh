#!/usr/bin/env bash
# npm run demo: build the offline toolchain (first run only), start the local cluster, then deploy
# the dev stack through the scoped identity (scripts/demo.ts).
set -euo pipefail
# shellcheck source=lib/local-cluster-env.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/local-cluster-env.sh"
# The demo stack's secrets are encrypted with this passphrase: for the local demo only. Real
# stacks get theirs from a secret store (docs/jenkins.md), never from a file in the repository.
export PULUMI_CONFIG_PASSPHRASE="${PULUMI_CONFIG_PASSPHRASE:-scoped-cd-local-demo}"
exec node bin/scripts/demo.js
