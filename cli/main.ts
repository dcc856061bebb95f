#!/usr/bin/env node
// The `scoped-cd` executable (package.json `bin`). Everything else is in program.ts.
import { run } from "./program";

run(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
