#!/usr/bin/env bash
# Make a checkout runnable with nothing but Node.js and npm (npm run demo / npm test on a fresh
# clone): install from the lockfile when node_modules is missing or older than package-lock.json,
# then build. npm's progress goes to stderr, so commands that print a report on stdout stay clean.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# npm writes node_modules/.package-lock.json on every install: its age is the install's age.
installed=node_modules/.package-lock.json
if [ ! -f "$installed" ] || [ package-lock.json -nt "$installed" ]; then
  echo "== npm ci (node_modules missing or older than package-lock.json)" >&2
  npm ci --no-audit --no-fund >&2
fi
exec node_modules/.bin/tsc -p tsconfig.json
