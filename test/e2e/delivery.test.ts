// The Jenkins flow on the local cluster: an access stack run with the operators' credential,
// three delivery stacks promoting test -> preprod -> prod through scoped kubeconfigs only, the
// promotion gate, drift reports and the containment check (docs/jenkins.md).
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { adminClients, Clients } from "./kube";
import {
  collect,
  createTestStack,
  execFileAsync,
  REPO,
  runCli,
  TestStack,
  uniqueSuffix,
} from "./support";

const suffix = uniqueSuffix();
const STAGES = ["test", "preprod", "prod"] as const;
const namespaceOf = (stage: string) => `e2e-${stage}-${suffix}`;
const qualified = (stack: string) => `organization/scoped-cd/${stack}`;

describe("Jenkins delivery on the local cluster", function () {
  this.timeout(20 * 60_000);
  let admin: Clients;
  let access: TestStack;
  const delivery: Record<string, TestStack> = {};
  const kubeconfigFiles: Record<string, string> = {};
  const reportDir = fs.mkdtempSync(path.join(os.tmpdir(), "scoped-cd-drift-"));

  before(async () => {
    admin = await adminClients();
    // Operators: one access stack declaring the three stages (admin credential).
    access = await createTestStack("pipeline-access");
    access.setConfig({
      mode: "access",
      cluster: { name: "local" },
      stages: Object.fromEntries(
        STAGES.map((stage) => [
          stage,
          { namespace: namespaceOf(stage), deletable: true, tiller: { enabled: true } },
        ]),
      ),
    });
    const up = await access.stack.up({ onOutput: collect(access) });
    for (const stage of STAGES) {
      const file = path.join(reportDir, `${stage}.kubeconfig`);
      fs.writeFileSync(file, up.outputs.kubeconfigs.value[stage], { mode: 0o600 });
      kubeconfigFiles[stage] = file;
    }
  });

  after(async function () {
    if (process.env.E2E_VERBOSE || this.currentTest?.state === "failed") {
      for (const t of [...Object.values(delivery), access]) console.log(t?.log.join(""));
    }
    for (const stage of [...STAGES].reverse()) {
      const t = delivery[stage];
      await t?.stack.destroy({ onOutput: collect(t) }).catch((err) => console.error(String(err)));
      await t?.remove().catch(() => undefined);
    }
    await access?.stack
      .destroy({ onOutput: collect(access) })
      .catch((err) => console.error(String(err)));
    await access?.remove().catch(() => undefined);
  });

  /** A delivery stack for `stage`, with no admin credential reachable. */
  async function deliveryStack(
    stage: string,
    promoteFrom?: string,
    values: Record<string, unknown> = {},
  ) {
    const t =
      delivery[stage] ??
      (await createTestStack(`pipeline-${stage}`, {
        KUBECONFIG: path.join(reportDir, "no-admin-kubeconfig"),
      }));
    delivery[stage] = t;
    t.setConfig({
      mode: "delivery",
      cluster: { name: "local" },
      accessStack: qualified(access.name),
      stages: {
        [stage]: {
          namespace: namespaceOf(stage),
          ...(promoteFrom ? { promoteFrom: qualified(promoteFrom) } : {}),
          releases: { storefront: { chart: "./charts/storefront", values } },
        },
      },
    });
    return t;
  }

  /**
   * `npm run drift` on one stack; the report is also kept as .local/sample-drift-report-<name>.md
   * (git-ignored) for the docs.
   */
  async function driftReport(t: TestStack, name: string) {
    const out = path.join(reportDir, `${name}.md`);
    const { code } = await runCli([
      "drift",
      "--work-dir",
      t.workDir,
      "--stack",
      t.name,
      "--out",
      out,
    ]);
    const report = fs.readFileSync(out, "utf8");
    fs.copyFileSync(out, path.join(REPO, ".local", `sample-drift-report-${name}.md`));
    return { code, report };
  }

  it("promotes the sample chart test -> preprod -> prod, recording provenance", async () => {
    const test = await deliveryStack("test");
    const testUp = await test.stack.up({ onOutput: collect(test) });
    assert.equal(testUp.outputs.stages.value.test.releases.storefront.status, "deployed");

    let upstream = test.name;
    for (const stage of ["preprod", "prod"]) {
      const t = await deliveryStack(stage, upstream, { replicaCount: 2 });
      const up = await t.stack.up({ onOutput: collect(t) });
      const release = up.outputs.stages.value[stage].releases.storefront;
      assert.equal(release.version, "1.4.2");
      assert.equal(release.status, "deployed");
      assert.deepEqual(release.promotedFrom, { stack: qualified(upstream), revision: 1 });
      const deployment = await admin.apps.readNamespacedDeployment({
        name: "storefront",
        namespace: namespaceOf(stage),
      });
      assert.equal(deployment.status?.readyReplicas, 2, `${stage} runs its own values`);
      upstream = t.name;
    }
  });

  it("fails the preview at the gate when the upstream stack has no such release", async () => {
    const gate = await createTestStack("pipeline-gate");
    try {
      gate.setConfig({
        mode: "delivery",
        cluster: { name: "local" },
        accessStack: qualified(access.name),
        stages: {
          prod: {
            namespace: namespaceOf("prod"),
            promoteFrom: qualified(access.name),
            releases: { storefront: { chart: "./charts/storefront" } },
          },
        },
      });
      let error = "";
      try {
        await gate.stack.preview({ onOutput: collect(gate) });
      } catch (err) {
        error = String(err);
      }
      assert.match(
        error,
        new RegExp(
          `promotion of release storefront \\(stage prod\\) from stack ${qualified(access.name)}: stack ${qualified(access.name)} has no release storefront`,
        ),
      );
    } finally {
      await gate.remove();
    }
  });

  it("reports a clean delivery stack with exit 0", async () => {
    const { code, report } = await driftReport(delivery.prod, "clean");
    assert.equal(code, 0, report);
  });

  it("verifies the containment of a good stage with its scoped kubeconfig only", async () => {
    const t = delivery.prod;
    const result = await runCli(
      [
        "verify",
        "--work-dir",
        t.workDir,
        "--stack",
        t.name,
        "--kubeconfig-file",
        `${t.name}=${kubeconfigFiles.prod}`,
      ],
      { KUBECONFIG: path.join(reportDir, "no-admin-kubeconfig") },
    );
    assert.equal(result.code, 0, result.stdout + result.stderr);
  });

  it("shows an operator's manual edit of the deployer Role in the access stack's drift report", async () => {
    const namespace = namespaceOf("prod");
    const role = await admin.rbac.readNamespacedRole({ name: "scoped-deployer", namespace });
    const declaredRules = role.rules ?? [];
    // Appended: the edit `up` cannot see (docs/security.md "What is not contained"); verify and drift must.
    role.rules = [...declaredRules, { apiGroups: ["*"], resources: ["*"], verbs: ["*"] }];
    await admin.rbac.replaceNamespacedRole({ name: "scoped-deployer", namespace, body: role });

    const verify = await runCli([
      "verify",
      "--work-dir",
      delivery.prod.workDir,
      "--stack",
      delivery.prod.name,
      "--kubeconfig-file",
      `${delivery.prod.name}=${kubeconfigFiles.prod}`,
    ]);
    assert.equal(
      verify.code,
      1,
      `verify must fail on a widened Role:\n${verify.stdout}${verify.stderr}`,
    );

    const { code, report } = await driftReport(access, "access");
    assert.equal(code, 1, report);
    assert.match(report, /prod-deployer-role/);
    // Undo by hand for the tests that follow.
    const widened = await admin.rbac.readNamespacedRole({ name: "scoped-deployer", namespace });
    widened.rules = declaredRules;
    await admin.rbac.replaceNamespacedRole({ name: "scoped-deployer", namespace, body: widened });
  });

  it("shows a manual helm rollback in the delivery stack's drift report and exits 1", async () => {
    const t = await deliveryStack("test", undefined, { greeting: "revision two" });
    await t.stack.up({ onOutput: collect(t) });
    await execFileAsync(
      "helm",
      ["rollback", "storefront", "1", "-n", namespaceOf("test"), "--wait"],
      {
        env: process.env,
        timeout: 120_000,
      },
    );
    const { code, report } = await driftReport(t, "rollback");
    assert.equal(code, 1, report);
    assert.match(report, /test-releases-storefront/);
    assert.ok(!report.includes(fs.readFileSync(kubeconfigFiles.test, "utf8").slice(0, 100)));
  });
});
