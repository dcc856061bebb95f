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
# The whole suite, three files at a time, the longest first (as measured on a clean clone, 2026-12-02:
# .local/e2e-file-times, printed below; scale/scale moved up 2026-12-03, its kills and reruns doubled
# it), so that no long file starts last and runs alone at the end. Every other file follows in
# name order; a file missing from this list still runs.
LONGEST_FIRST=(faults/faults revocation delivery stacks scale/scale credentials-oidc node-delivery
  postgres security guardrails tiller migration drift-report node-network credentials registry cli smoke
  attacks credentials-external credentials-legacy)
files=()
for name in "${LONGEST_FIRST[@]}"; do
  [ -f "bin/test/e2e/$name.test.js" ] && files+=("bin/test/e2e/$name.test.js")
done
while IFS= read -r f; do
  case " ${files[*]} " in *" $f "*) ;; *) files+=("$f") ;; esac
done < <(find bin/test/e2e -name '*.test.js' | LC_ALL=C sort)
# Its wall time is recorded for `npm run bench` (.local/e2e-last-run), each file's beside it.
mkdir -p .local
: >.local/e2e-file-times
t0=$SECONDS rc=0
npx mocha --config .mocharc.e2e.json "${files[@]}" || rc=$?
printf '%s %s %s\n' "$((SECONDS - t0))" "$rc" "$(date -u +%FT%TZ)" >.local/e2e-last-run
echo "== e2e wall time per file (s, hooks included; the suite took $((SECONDS - t0))s):"
sort -rn .local/e2e-file-times | sed 's/^/   /'
exit $rc
