#!/usr/bin/env bash
# Run a command with a Pulumi CLI on PATH (hack/lib/pulumi-env.sh), for the npm scripts that
# drive the Automation API: `bash hack/with-pulumi.sh node bin/cli/main.js drift ...`.
set -euo pipefail
# shellcheck source=lib/pulumi-env.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/pulumi-env.sh"
cd "$scoped_cd_repo"
exec "$@"
