#!/usr/bin/env bash
# scripts/deploy.sh <stack>: `pulumi up` of one delivery stack, as Jenkins runs it.
#
#   PULUMI_BACKEND_URL, PULUMI_CONFIG_PASSPHRASE   from the Jenkins credentials store
#   SCOPED_KUBECONFIG_FILE                         the stage's scoped kubeconfig (a secret file)
#
# With SCOPED_KUBECONFIG_FILE, the kubeconfig reaches the program as the secret config
# `scoped-cd:kubeconfig` of a private copy of Pulumi.<stack>.yaml (accessStack dropped from the
# copy): the CLI reads it from stdin, so it is never on a command line or in a log, and the
# checked-out stack file is left as it is. Without it, the stack's own config decides (accessStack:
# the kubeconfig comes from the access stack's output through the backend).
#
# No admin kubeconfig is involved: KUBECONFIG is unset for the run, and a delivery stack creates
# no admin provider.
set -euo pipefail
stack="${1:?usage: scripts/deploy.sh <stack>}"
# shellcheck source=lib/pulumi-env.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/pulumi-env.sh"
cd "$scoped_cd_repo"
unset KUBECONFIG

mode="$(pulumi config get scoped-cd:mode --stack "$stack" 2>/dev/null || echo all)"
if [ "$mode" != delivery ]; then
  echo "deploy: stack $stack is in mode $mode; Jenkins deploys delivery stacks only" >&2
  exit 2
fi

config_args=()
if [ -n "${SCOPED_KUBECONFIG_FILE-}" ]; then
  [ -r "$SCOPED_KUBECONFIG_FILE" ] || { echo "deploy: cannot read SCOPED_KUBECONFIG_FILE" >&2; exit 2; }
  tmp="$(mktemp -d)"   # 0700; holds only the encrypted value
  trap 'rm -rf "$tmp"' EXIT
  cfg="$tmp/Pulumi.${stack##*/}.yaml"
  if [ -f "Pulumi.${stack##*/}.yaml" ]; then cp "Pulumi.${stack##*/}.yaml" "$cfg"; else echo 'config: {}' >"$cfg"; fi
  chmod 600 "$cfg"
  if pulumi config get scoped-cd:accessStack --stack "$stack" --config-file "$cfg" >/dev/null 2>&1; then
    pulumi config rm scoped-cd:accessStack --stack "$stack" --config-file "$cfg"
  fi
  pulumi config set --secret scoped-cd:kubeconfig --stack "$stack" --config-file "$cfg" \
    --non-interactive <"$SCOPED_KUBECONFIG_FILE" >/dev/null
  config_args=(--config-file "$cfg")
  echo "deploy: $stack uses the scoped kubeconfig from SCOPED_KUBECONFIG_FILE (secret config, this run only)" >&2
fi

pulumi up --yes --non-interactive --diff --color never \
  --stack "$stack" ${config_args[@]+"${config_args[@]}"}
