#!/usr/bin/env bash
# Operators' handoff: deploy the access stack of an environment with the admin kubeconfig, then
# write the stage's scoped kubeconfig straight into a 0600 file for Jenkins' credentials store.
#
#   bash scripts/handoff.sh <env> [--stage <stage>] [--out <file>] [--yes] [--no-up]
#
#   <env>      test | preprod | prod: the stack <env>-access is deployed
#   --stage    the stage whose kubeconfig is handed over (default: <env>)
#   --out      where to write it (default: .local/handoff/<env>.kubeconfig, git-ignored)
#   --yes      do not ask before `pulumi up` (default: the CLI shows the preview and asks)
#   --no-up    only write the kubeconfig of what is already deployed
#
# Needs: KUBECONFIG (or ~/.kube/config) = the operator's admin credential, PULUMI_BACKEND_URL and
# PULUMI_CONFIG_PASSPHRASE of the access stacks. The kubeconfig goes from
# `pulumi stack output --show-secrets` through a pipe into the file, created under umask 077; it is
# never printed, and the admin kubeconfig never leaves this machine.
set -euo pipefail
usage() { sed -n '2,17p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2; }

env_name="" stage="" out="" yes=() do_up=1
while [ $# -gt 0 ]; do
  case "$1" in
    --stage) stage="${2:?}"; shift 2 ;;
    --out) out="${2:?}"; shift 2 ;;
    --yes) yes=(--yes); shift ;;
    --no-up) do_up=0; shift ;;
    -h|--help) usage ;;
    -*) echo "handoff: unknown option $1" >&2; usage ;;
    *) [ -z "$env_name" ] || usage; env_name="$1"; shift ;;
  esac
done
[ -n "$env_name" ] || usage
stage="${stage:-$env_name}"
stack="$env_name-access"

# shellcheck source=lib/pulumi-env.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/pulumi-env.sh"
cd "$scoped_cd_repo"
out="${out:-.local/handoff/$env_name.kubeconfig}"

mode="$(pulumi config get scoped-cd:mode --stack "$stack" 2>/dev/null || echo all)"
if [ "$mode" != access ]; then
  echo "handoff: stack $stack is in mode $mode, not access" >&2
  exit 2
fi

if [ "$do_up" = 1 ]; then
  echo "== pulumi up $stack (admin kubeconfig: ${KUBECONFIG:-~/.kube/config})" >&2
  pulumi up --stack "$stack" --diff ${yes[@]+"${yes[@]}"}
fi

# Created 0600 from the start (umask 077 in a subshell), written in place of the old file only
# once complete, so a failed run never leaves a truncated or world-readable kubeconfig behind.
mkdir -p "$(dirname "$out")"
tmp_out="$out.tmp.$$"
trap 'rm -f "$tmp_out"' EXIT
(
  umask 077
  pulumi stack output kubeconfigs --show-secrets --json --stack "$stack" |
    STAGE="$stage" node -e '
      let text = "";
      process.stdin.on("data", (c) => (text += c)).on("end", () => {
        const kubeconfig = JSON.parse(text || "{}")[process.env.STAGE];
        if (typeof kubeconfig !== "string" || kubeconfig === "") {
          console.error(`handoff: the kubeconfigs output has no stage ${process.env.STAGE}`);
          process.exit(1);
        }
        process.stdout.write(kubeconfig);
      });' >"$tmp_out"
)
chmod 600 "$tmp_out"
mv -f "$tmp_out" "$out"
trap - EXIT

cat >&2 <<MSG
== scoped kubeconfig of stage $stage written to $out (mode 0600; content not shown)
Hand it to Jenkins as a "Secret file" credential with ID scoped-cd-kubeconfig-$env_name
(Manage Jenkins > Credentials > the scoped-cd folder's store > Add/Update credentials > upload
$out), then delete it here: shred -u "$out"
Check it first if you like: npm run verify -- --stack $stack --stage $stage --kubeconfig-file "$out"
MSG
