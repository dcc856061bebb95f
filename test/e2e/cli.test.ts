// `scoped-cd handoff` and `scoped-cd deploy` end to end, through the built CLI (bin/cli/main.js)
// as operators and Jenkins run them: an operator hands over a stage's scoped kubeconfig (a 0600
// file), Jenkins deploys a delivery stack with that file and no admin credential at all, and the
// kubeconfig shows up in no output and on no command line (a recording `pulumi` shim sees every
// argv the CLI and the Automation API pass).
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { adminClients, Clients, clientsFor, tokenOf } from "./kube";
import {
  CliRun,
  collect,
  createTestStack,
  execFileAsync,
  runCli,
  TEST_PASSPHRASE,
  TestStack,
  uniqueSuffix,
} from "./support";

const suffix = uniqueSuffix();
const STAGE = "cli";
const NAMESPACE = `e2e-cli-${suffix}`;

describe("scoped-cd handoff and deploy on the local cluster", function () {
  this.timeout(10 * 60_000);
  let admin: Clients;
  let access: TestStack;
  let delivery: TestStack;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "scoped-cd-cli-e2e-"));
  const handedOver = path.join(dir, "handoff", `${STAGE}.kubeconfig`);
  const argvLog = path.join(dir, "pulumi-argv.log");
  const runs: CliRun[] = [];
  let shimPath = "";

  /** The CLI with the recording shim first on PATH. */
  async function scopedCd(args: string[], env: Record<string, string | undefined> = {}) {
    const result = await runCli(args, { PATH: shimPath, ...env });
    runs.push(result);
    return result;
  }

  before(async () => {
    admin = await adminClients();
    // Every `pulumi` the CLI starts goes through this shim, which logs its argv (one NUL-separated
    // record per line) and runs the real CLI.
    const { stdout } = await execFileAsync("bash", ["-c", "command -v pulumi"]);
    const realPulumi = stdout.trim();
    const shimDir = path.join(dir, "shim");
    fs.mkdirSync(shimDir);
    fs.writeFileSync(
      path.join(shimDir, "pulumi"),
      `#!/usr/bin/env bash\nprintf '%s\\0' "$@" >>${JSON.stringify(argvLog)}\necho >>${JSON.stringify(argvLog)}\nexec ${JSON.stringify(realPulumi)} "$@"\n`,
      { mode: 0o755 },
    );
    shimPath = `${shimDir}${path.delimiter}${process.env.PATH}`;

    access = await createTestStack("cli-access");
    access.setConfig({
      mode: "access",
      cluster: { name: "local" },
      stages: { [STAGE]: { namespace: NAMESPACE, deletable: true } },
    });
    delivery = await createTestStack("cli-delivery", {
      KUBECONFIG: path.join(dir, "no-admin-kubeconfig"),
    });
    delivery.setConfig({
      mode: "delivery",
      cluster: { name: "local" },
      stages: {
        [STAGE]: {
          namespace: NAMESPACE,
          releases: { storefront: { chart: "./charts/storefront" } },
        },
      },
    });
  });

  after(async function () {
    if (process.env.E2E_VERBOSE || this.currentTest?.state === "failed") {
      for (const r of runs) console.log(r.stdout, r.stderr);
    }
    for (const t of [delivery, access]) {
      await t?.stack.destroy({ onOutput: collect(t) }).catch((err) => console.error(String(err)));
      await t?.remove().catch(() => undefined);
    }
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("handoff deploys the access stack and writes the stage's kubeconfig to a 0600 file", async () => {
    const result = await scopedCd([
      "handoff",
      "--stack",
      access.name,
      "--work-dir",
      access.workDir,
      "--out",
      handedOver,
      "--yes",
    ]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(fs.statSync(handedOver).mode & 0o777, 0o600);
    const kubeconfig = fs.readFileSync(handedOver, "utf8");
    const scoped = await clientsFor(kubeconfig);
    assert.equal(scoped.kc.getContextObject(scoped.kc.getCurrentContext())?.namespace, NAMESPACE);
    assert.match(
      result.stderr,
      new RegExp(`written to .*${STAGE}\\.kubeconfig \\(mode 0600; content not shown\\)`),
    );
    assert.deepEqual(
      fs.readdirSync(path.dirname(handedOver)),
      [`${STAGE}.kubeconfig`],
      "no temp file left",
    );
  });

  it("deploy refuses a stack that is not a delivery stack, with exit 2", async () => {
    const result = await scopedCd(["deploy", "--stack", access.name, "--work-dir", access.workDir]);
    assert.equal(result.code, 2);
    assert.equal(
      result.stderr,
      `scoped-cd deploy: stack ${access.name} is in mode access; deploy runs delivery stacks only (operators use handoff for access stacks)\n`,
    );
    assert.equal(result.stdout, "");
  });

  it("deploy runs the delivery stack with the handed-over file only, KUBECONFIG unset", async () => {
    const stackFile = path.join(delivery.workDir, `Pulumi.${delivery.name}.yaml`);
    const stackFileBefore = fs.readFileSync(stackFile, "utf8");
    const result = await scopedCd(
      [
        "deploy",
        "--stack",
        delivery.name,
        "--work-dir",
        delivery.workDir,
        "--kubeconfig-file",
        `${delivery.name}=${handedOver}`,
        "--output",
        "json",
      ],
      { KUBECONFIG: undefined },
    );
    assert.equal(result.code, 0, result.stderr);
    const doc = JSON.parse(result.stdout);
    assert.equal(doc.stack, delivery.name);
    assert.equal(doc.result, "succeeded");
    assert.equal(doc.stages[STAGE].namespace, NAMESPACE);
    assert.equal(doc.stages[STAGE].releases.storefront.status, "deployed");
    const deployment = await admin.apps.readNamespacedDeployment({
      name: "storefront",
      namespace: NAMESPACE,
    });
    assert.equal(deployment.metadata?.namespace, NAMESPACE);
    assert.equal(
      fs.readFileSync(stackFile, "utf8"),
      stackFileBefore,
      "the stack file is unchanged",
    );
  });

  it("never shows the kubeconfig: not in any output, not on any command line, not in the state", async () => {
    const kubeconfig = fs.readFileSync(handedOver, "utf8");
    const token = await tokenOf(kubeconfig);
    const telling = [token, ...kubeconfig.split("\n").filter((l) => l.trim().length > 40)];
    const argvs = fs.readFileSync(argvLog, "utf8");
    assert.match(
      argvs,
      /config\0set\0--secret\0scoped-cd:kubeconfig/,
      "the shim saw the CLI's calls",
    );
    for (const text of telling) {
      for (const r of runs) {
        assert.ok(!r.stdout.includes(text) && !r.stderr.includes(text), "a CLI output leaks it");
      }
      assert.ok(!argvs.includes(text), "a pulumi command line carries it");
    }
    const exported = await execFileAsync("pulumi", ["stack", "export", "--stack", delivery.name], {
      cwd: delivery.workDir,
      env: { ...process.env, PULUMI_CONFIG_PASSPHRASE: TEST_PASSPHRASE },
      maxBuffer: 64 * 1024 * 1024,
    });
    assert.ok(
      !exported.stdout.includes(token),
      "the delivery stack's state holds it in plain text",
    );
  });
});
