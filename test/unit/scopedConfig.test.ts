// The one helper that hands a scoped kubeconfig to the Pulumi CLI as secret config (deploy,
// drift). A fake `pulumi` on PATH records every argv and stdin it gets: the kubeconfig must reach
// it on stdin only, never on a command line.
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { withScopedKubeconfig } from "../../cli/lib/scopedConfig";

const KUBECONFIG = [
  "apiVersion: v1",
  "kind: Config",
  "users:",
  "  - name: deployer",
  "    user:",
  "      token: eyJhbGciOiJSUzI1NiJ9.c2VjcmV0LXRva2Vu.c2lnbmF0dXJl",
  "",
].join("\n");

// Records {argv, stdin} as one JSON line per call; `config get scoped-cd:accessStack` succeeds
// only when FAKE_PULUMI_HAS_ACCESS_STACK is set; `config set` fails when FAKE_PULUMI_FAIL_SET is.
const FAKE_PULUMI = `#!/usr/bin/env node
const fs = require("node:fs");
const argv = process.argv.slice(2);
let stdin = "";
try { stdin = fs.readFileSync(0, "utf8"); } catch {}
fs.appendFileSync(process.env.FAKE_PULUMI_LOG, JSON.stringify({ argv, stdin }) + "\\n");
if (argv[0] === "config" && argv[1] === "get") process.exit(process.env.FAKE_PULUMI_HAS_ACCESS_STACK ? 0 : 1);
if (argv[0] === "config" && argv[1] === "set" && process.env.FAKE_PULUMI_FAIL_SET) {
  process.stderr.write("error: passphrase must be set\\n");
  process.exit(255);
}
`;

interface Call {
  argv: string[];
  stdin: string;
}

describe("scoped kubeconfig as secret config", () => {
  let dir: string;
  let workDir: string;
  let kubeconfigFile: string;
  let log: string;
  const saved = { ...process.env };

  const calls = (): Call[] =>
    fs.existsSync(log)
      ? fs
          .readFileSync(log, "utf8")
          .trim()
          .split("\n")
          .map((l) => JSON.parse(l) as Call)
      : [];

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "scoped-cd-fake-pulumi-"));
    const binDir = path.join(dir, "bin");
    fs.mkdirSync(binDir);
    fs.writeFileSync(path.join(binDir, "pulumi"), FAKE_PULUMI, { mode: 0o755 });
    workDir = path.join(dir, "project");
    fs.mkdirSync(workDir);
    fs.writeFileSync(
      path.join(workDir, "Pulumi.test.yaml"),
      "config:\n  scoped-cd:mode: delivery\n  scoped-cd:accessStack: test-access\n",
    );
    kubeconfigFile = path.join(dir, "test.kubeconfig");
    fs.writeFileSync(kubeconfigFile, KUBECONFIG, { mode: 0o600 });
    log = path.join(dir, "calls.jsonl");
    process.env.PATH = `${binDir}${path.delimiter}${saved.PATH}`;
    process.env.FAKE_PULUMI_LOG = log;
    delete process.env.FAKE_PULUMI_HAS_ACCESS_STACK;
    delete process.env.FAKE_PULUMI_FAIL_SET;
  });

  afterEach(() => {
    process.env = { ...saved };
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("sets the kubeconfig from stdin on a private copy of the stack file, never in argv", async () => {
    process.env.FAKE_PULUMI_HAS_ACCESS_STACK = "1";
    let seen: { file: string; dirMode: number; fileMode: number; content: string } | undefined;
    const result = await withScopedKubeconfig(workDir, "test", kubeconfigFile, async (file) => {
      seen = {
        file,
        dirMode: fs.statSync(path.dirname(file)).mode & 0o777,
        fileMode: fs.statSync(file).mode & 0o777,
        content: fs.readFileSync(file, "utf8"),
      };
      return "ran";
    });

    assert.equal(result, "ran");
    assert.ok(seen);
    assert.equal(path.basename(seen.file), "Pulumi.test.yaml");
    assert.notEqual(path.dirname(seen.file), workDir);
    assert.equal(seen.dirMode, 0o700);
    assert.equal(seen.fileMode, 0o600);
    assert.equal(seen.content, fs.readFileSync(path.join(workDir, "Pulumi.test.yaml"), "utf8"));
    assert.ok(!fs.existsSync(path.dirname(seen.file)), "the private copy is removed afterwards");

    const common = ["--stack", "test", "--config-file", seen.file, "--non-interactive"];
    assert.deepEqual(
      calls().map((c) => c.argv),
      [
        ["config", "get", "scoped-cd:accessStack", ...common],
        ["config", "rm", "scoped-cd:accessStack", ...common],
        ["config", "set", "--secret", "scoped-cd:kubeconfig", ...common],
      ],
    );
    const set = calls()[2];
    assert.equal(set.stdin, KUBECONFIG, "the kubeconfig arrives on stdin");
    for (const call of calls()) {
      for (const arg of call.argv) {
        assert.ok(!arg.includes("token") && !arg.includes("eyJ"), `argv leaks: ${arg}`);
        for (const line of KUBECONFIG.split("\n").filter((l) => l.trim().length > 8)) {
          assert.ok(!arg.includes(line.trim()), `argv holds a kubeconfig line: ${arg}`);
        }
      }
    }
    assert.equal(
      fs.readFileSync(path.join(workDir, "Pulumi.test.yaml"), "utf8"),
      "config:\n  scoped-cd:mode: delivery\n  scoped-cd:accessStack: test-access\n",
      "the checked-out stack file is left as it is",
    );
  });

  it("leaves accessStack alone when the stack has none, and starts from an empty file when there is no stack file", async () => {
    fs.rmSync(path.join(workDir, "Pulumi.test.yaml"));
    let content = "";
    await withScopedKubeconfig(
      workDir,
      "organization/scoped-cd/test",
      kubeconfigFile,
      async (f) => {
        content = fs.readFileSync(f, "utf8");
        assert.equal(path.basename(f), "Pulumi.test.yaml");
      },
    );
    assert.equal(content, "config: {}\n");
    assert.deepEqual(
      calls().map((c) => c.argv.slice(0, 3)),
      [
        ["config", "get", "scoped-cd:accessStack"],
        ["config", "set", "--secret"],
      ],
    );
  });

  it("fails with the CLI's reason, runs nothing and removes the copy when the CLI refuses", async () => {
    process.env.FAKE_PULUMI_FAIL_SET = "1";
    let ran = false;
    const before = fs.readdirSync(os.tmpdir()).filter((n) => n.startsWith("scoped-cd-config-"));
    await assert.rejects(
      withScopedKubeconfig(workDir, "test", kubeconfigFile, async () => {
        ran = true;
      }),
      new Error("pulumi config set failed: error: passphrase must be set"),
    );
    assert.equal(ran, false);
    const after = fs.readdirSync(os.tmpdir()).filter((n) => n.startsWith("scoped-cd-config-"));
    assert.deepEqual(after, before);
  });
});
