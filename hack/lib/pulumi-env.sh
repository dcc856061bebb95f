# Sourced by with-pulumi.sh, which the npm aliases of the scoped-cd CLI run it through.
# Put a Pulumi CLI on PATH: the agent's own if it has one (a Jenkins agent), else the offline
# toolchain's (hack/toolchain.sh, for local use). The caller's backend always wins: the
# toolchain's default is a file backend under .local/, which must never replace the backend that
# Jenkins hands over (PULUMI_BACKEND_URL from its credentials store).
# shellcheck shell=bash
scoped_cd_repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
if ! command -v pulumi >/dev/null 2>&1; then
  scoped_cd_backend="${PULUMI_BACKEND_URL-}"
  eval "$(bash "$scoped_cd_repo/hack/toolchain.sh" env)"
  if [ -n "$scoped_cd_backend" ]; then export PULUMI_BACKEND_URL="$scoped_cd_backend"; fi
  unset scoped_cd_backend
  if ! command -v pulumi >/dev/null 2>&1; then
    echo "no Pulumi CLI: install one on this agent, or build the toolchain (bash hack/toolchain.sh)" >&2
    exit 2
  fi
fi
if [ -z "${PULUMI_CONFIG_PASSPHRASE-}" ] && [ -z "${PULUMI_CONFIG_PASSPHRASE_FILE-}" ]; then
  echo "PULUMI_CONFIG_PASSPHRASE (or PULUMI_CONFIG_PASSPHRASE_FILE) is not set: the stacks' secrets cannot be read" >&2
  exit 2
fi
export PULUMI_SKIP_UPDATE_CHECK=true
