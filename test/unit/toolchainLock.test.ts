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
    // Stand-in for a build in progress: a process that holds the cache's lock until it is killed
    // (it says "held" once it has the lock). The release comes only after the second build has
    // said that it waits, so the order is certain however loaded the machine is.
    fs.mkdirSync(cache, { recursive: true });
    const holder = spawn(
      "flock",
      ["--close", path.join(cache, ".build.lock"), "sh", "-c", "echo held; exec sleep 60"],
      { detached: true }, // a process group of its own: the kill ends flock and its sleep
    );
    const release = () => {
      try {
        process.kill(-holder.pid!, "SIGKILL");
      } catch {
        // already gone
      }
    };
    await new Promise<void>((resolve, reject) => {
      holder.stdout.on("data", (chunk: Buffer) => chunk.toString().includes("held") && resolve());
      holder.on("exit", (code) => reject(new Error(`the lock holder exited (${code}) first`)));
    });
    // `build` with no steps: only the lock and the summary line.
    const second = spawn("bash", [SCRIPT, "build"], {
      env: { ...process.env, SCOPED_CD_CACHE: cache },
    });
    let stdout = "";
    let stderr = "";
    let blockedWhileHeld: boolean | undefined;
    second.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    second.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
      if (blockedWhileHeld === undefined && /waiting for it to finish/.test(stderr)) {
        blockedWhileHeld = false;
        // Still running a second later (it waits on the lock), then the lock is released.
        setTimeout(() => {
          blockedWhileHeld = second.exitCode === null;
          release();
        }, 1000);
      }
    });
    const status = await new Promise<number | null>((resolve) => second.on("close", resolve));
    release();
    assert.equal(status, 0, stderr);
    assert.match(stderr, /another build holds .*\.build\.lock; waiting for it to finish/);
    assert.match(stdout, /^toolchain ready in \d+s/m);
    assert.equal(blockedWhileHeld, true, "the second build did not wait for the lock");
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
