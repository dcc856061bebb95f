#!/usr/bin/env bash
# Run a command with a Pulumi CLI on PATH (scripts/lib/pulumi-env.sh), for the npm scripts that
# drive the Automation API: `bash scripts/with-pulumi.sh node bin/scripts/drift.js ...`.
set -euo pipefail
# shellcheck source=lib/pulumi-env.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/pulumi-env.sh"
cd "$scoped_cd_repo"
exec "$@"
