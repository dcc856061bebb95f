// hack/toolchain.sh builds into a cache shared by every checkout on the machine: a second build
// must wait for the first rather than write into the same directories.
import * as assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

const ROOT = path.resolve(__dirname, "../../..");
const SCRIPT = path.join(ROOT, "hack/toolchain.sh");

describe("the toolchain build lock", function () {
  this.timeout(30_000);
  let cache: string;
  beforeEach(() => {
    cache = fs.mkdtempSync(path.join(os.tmpdir(), "scoped-cd-cache-"));
  });
  afterEach(() => fs.rmSync(cache, { recursive: true, force: true }));

  it("makes a second build wait until the first releases the cache, then run", async () => {
    // Stand-in for a build in progress: a process that holds the cache's lock for 2 s.
    fs.mkdirSync(cache, { recursive: true });
    const holder = spawn("flock", [path.join(cache, ".build.lock"), "sleep", "2"]);
    await new Promise((r) => setTimeout(r, 300));
    const started = Date.now();
    // `build` with no steps: only the lock and the summary line.
    const second = spawnSync("bash", [SCRIPT, "build"], {
      env: { ...process.env, SCOPED_CD_CACHE: cache },
      encoding: "utf8",
    });
    const waited = Date.now() - started;
    holder.kill();
    assert.equal(second.status, 0, second.stderr);
    assert.match(second.stderr, /another build holds .*\.build\.lock; waiting for it to finish/);
    assert.match(second.stdout, /^toolchain ready in \d+s/m);
    assert.ok(
      waited >= 1000,
      `the second build returned after ${waited} ms, before the lock was free`,
    );
  });

  it("does not wait when no other build runs", () => {
    const run = spawnSync("bash", [SCRIPT, "build"], {
      env: { ...process.env, SCOPED_CD_CACHE: cache },
      encoding: "utf8",
    });
    assert.equal(run.status, 0, run.stderr);
    assert.doesNotMatch(run.stderr, /waiting/);
  });
});
