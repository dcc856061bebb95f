// The drift report's two pull-request sections end to end (issue 19, docs/jenkins.md "The drift
// report"): the permission delta of an access stack's deployer, and the admission preview of a
// delivery stack's release, each rendered from a real refreshing preview and a real server-side
// dry-run as the stage's scoped identity. One access stack and one delivery stack are deployed
// once; each test is a pull-request-style change of one stack's config that `drift` previews
// (nothing is applied), and the config is put back afterwards.
//
// The delivery stack runs with a kubeconfig file of the stage's scoped identity and no admin
// credential reachable, as a Jenkins agent does. The admission preview's cost (printed by drift on
// stderr) is echoed as `[drift-report] ...` lines.
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { renderRelease } from "../../cli/lib/admissionPreview";
import { collect, createTestStack, REPO, runCli, TestStack, uniqueSuffix } from "./support";

const suffix = uniqueSuffix();
const STAGE = "pr";
const NS = `e2e-drift-${suffix}`;
const CHART = path.join(REPO, "test/e2e/charts/drift-preview");
const KEY = `scoped-cd:stages.${STAGE}.guardrails`;
const qualified = (stack: string) => `organization/scoped-cd/${stack}`;

interface Refusal {
  object: string;
  source: string;
  rule: string;
  policy?: string;
  configKey: string | null;
  message: string;
}
interface ReleaseAdmission {
  stage: string;
  release: string;
  objects: number;
  refusals: Refusal[];
  error?: string;
  skipped?: string;
}
interface PermissionChange {
  group: string;
  resource: string;
  verb: string;
  classes: string[];
}
interface StagePermissionDelta {
  stage: string;
  role?: { added: PermissionChange[]; removed: PermissionChange[] };
  allowances: { key: string; added: string[]; removed: string[] }[];
}
interface Analysis {
  stack: string;
  permissionDelta: StagePermissionDelta[];
  admission: ReleaseAdmission[];
  planned: { kind: string; label: string }[];
  drifted: unknown[];
}

const accessConfig = (stage: Record<string, unknown> = {}) => ({
  mode: "access",
  cluster: { name: "local" },
  stages: {
    [STAGE]: {
      namespace: NS,
      deletable: true,
      guardrails: { ingress: { allowHosts: ["shop.e2e.test"] } },
      ...stage,
    },
  },
});

describe("drift report: permission delta and admission preview", function () {
  this.timeout(15 * 60_000);
  let access: TestStack;
  let delivery: TestStack;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "scoped-cd-drift-report-"));
  const kubeconfigFile = path.join(dir, "pr.kubeconfig");
  /** No admin credential for the delivery stack's runs (a Jenkins agent has none). */
  const noAdmin = { KUBECONFIG: path.join(dir, "no-admin-kubeconfig") };

  const deliveryConfig = (values: Record<string, unknown> = {}) => ({
    mode: "delivery",
    cluster: { name: "local" },
    accessStack: qualified(access.name),
    stages: {
      [STAGE]: {
        namespace: NS,
        releases: { shop: { chart: CHART, values, timeoutSeconds: 120 } },
      },
    },
  });

  /** `scoped-cd drift --output json` on one stack: exit code, analysis, Markdown report. */
  async function drift(t: TestStack, withKubeconfig: boolean) {
    const out = path.join(dir, `${t.name}.md`);
    const t0 = Date.now();
    const run = await runCli(
      [
        "drift",
        "--work-dir",
        t.workDir,
        "--stack",
        t.name,
        ...(withKubeconfig ? ["--kubeconfig-file", `${t.name}=${kubeconfigFile}`] : []),
        "--output",
        "json",
        "--out",
        out,
      ],
      withKubeconfig ? noAdmin : {},
    );
    const cost = /admission preview of .*/.exec(run.stderr)?.[0];
    console.log(
      `      [drift-report] drift of ${t.name}: exit ${run.code} after ${((Date.now() - t0) / 1000).toFixed(1)}s${cost ? `; ${cost}` : ""}`,
    );
    let analysis: Analysis;
    try {
      analysis = (JSON.parse(run.stdout) as { stacks: Analysis[] }).stacks[0];
    } catch {
      assert.fail(`drift printed no JSON (exit ${run.code}):\n${run.stdout}\n${run.stderr}`);
    }
    return { code: run.code, analysis, report: fs.readFileSync(out, "utf8"), stderr: run.stderr };
  }

  /** The release's admission result: exactly one, checked (no error, not skipped). */
  function admissionOf(analysis: Analysis): ReleaseAdmission {
    assert.equal(analysis.admission.length, 1, JSON.stringify(analysis.admission));
    const [release] = analysis.admission;
    assert.equal(release.error, undefined, release.error);
    assert.equal(release.skipped, undefined, release.skipped);
    assert.equal(release.release, "shop");
    assert.equal(release.stage, STAGE);
    assert.ok(release.objects >= 3, `the chart renders at least 3 objects, got ${release.objects}`);
    return release;
  }

  const refusalOf = (release: ReleaseAdmission, object: string) => {
    const found = release.refusals.find((r) => r.object === object);
    assert.ok(found, `${object} is not among the refusals: ${JSON.stringify(release.refusals)}`);
    return found;
  };

  before(async () => {
    access = await createTestStack("drift-access");
    access.setConfig(accessConfig());
    const up = await access.stack.up({ onOutput: collect(access) });
    fs.writeFileSync(kubeconfigFile, up.outputs.kubeconfigs.value[STAGE], { mode: 0o600 });

    delivery = await createTestStack("drift-delivery", noAdmin);
    delivery.setConfig(deliveryConfig());
    const deployed = await delivery.stack.up({ onOutput: collect(delivery) });
    assert.equal(deployed.outputs.stages.value[STAGE].releases.shop.status, "deployed");
  });

  afterEach(() => {
    // Every change is a pull request that is not merged: back to what is deployed.
    access.setConfig(accessConfig());
    delivery.setConfig(deliveryConfig());
  });

  after(async function () {
    if (process.env.E2E_VERBOSE || this.currentTest?.state === "failed") {
      for (const t of [delivery, access]) console.log(t?.log.join(""));
    }
    for (const t of [delivery, access]) {
      await t?.stack.destroy({ onOutput: collect(t) }).catch((err) => console.error(String(err)));
      await t?.remove().catch(() => undefined);
    }
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("shows an added extra rule in the permission delta with its escalation class", async () => {
    access.setConfig(
      accessConfig({
        deployer: {
          extraRules: [
            {
              apiGroups: [""],
              resources: ["pods/exec"],
              verbs: ["create"],
              acknowledge: ["exec-attach"],
            },
          ],
        },
      }),
    );
    const { code, analysis, report } = await drift(access, false);
    assert.equal(code, 1, report);
    assert.equal(analysis.permissionDelta.length, 1, JSON.stringify(analysis.permissionDelta));
    const [delta] = analysis.permissionDelta;
    assert.equal(delta.stage, STAGE);
    assert.deepEqual(delta.role?.added, [
      { group: "", resource: "pods/exec", verb: "create", classes: ["exec-attach"] },
    ]);
    assert.deepEqual(delta.role?.removed, []);
    assert.deepEqual(delta.allowances, [], "no allowance changes");
    assert.match(report, /\*\*permissions change:\*\*/);
    assert.match(report, /### Permission delta \(1\)/);
    assert.match(report, /\| added \| `pods\/exec` \| create \| \*\*exec-attach\*\* \|/);
  });

  it("shows guardrail allowances added and removed", async () => {
    access.setConfig(
      accessConfig({
        guardrails: {
          services: { allowTypes: ["LoadBalancer"] },
          ingress: { allowHosts: ["*.shop.e2e.test"] },
        },
      }),
    );
    const { code, analysis, report } = await drift(access, false);
    assert.equal(code, 1, report);
    assert.equal(analysis.permissionDelta.length, 1, JSON.stringify(analysis.permissionDelta));
    const allowances = Object.fromEntries(
      analysis.permissionDelta[0].allowances.map((a) => [a.key, a]),
    );
    assert.deepEqual(allowances[`${KEY}.ingress.allowHosts`], {
      key: `${KEY}.ingress.allowHosts`,
      added: ["*.shop.e2e.test"],
      removed: ["shop.e2e.test"],
    });
    assert.deepEqual(allowances[`${KEY}.services.allowTypes`], {
      key: `${KEY}.services.allowTypes`,
      added: ["LoadBalancer"],
      removed: [],
    });
    assert.match(
      report,
      new RegExp(
        `\\| \`${KEY}.ingress.allowHosts\` \\| \`\\*.shop.e2e.test\` \\| \`shop.e2e.test\` \\|`,
      ),
    );
    assert.match(
      report,
      new RegExp(`\\| \`${KEY}.services.allowTypes\` \\| \`LoadBalancer\` \\| — \\|`),
    );
  });

  for (const [change, values, object, rule, key] of [
    [
      "a NodePort Service",
      { nodePort: true },
      "Service shop-nodeport",
      "services.type",
      "services.allowTypes",
    ],
    [
      "a foreign Ingress host",
      { ingressHost: "admin.other-team.test" },
      "Ingress shop",
      "ingress.host",
      "ingress.allowHosts",
    ],
  ] as const) {
    it(`lists a chart change that adds ${change} in the admission preview, exit 1`, async () => {
      delivery.setConfig(deliveryConfig(values));
      const { code, analysis, report } = await drift(delivery, true);
      assert.equal(code, 1, report);
      const release = admissionOf(analysis);
      assert.equal(release.refusals.length, 1, JSON.stringify(release.refusals));
      const refusal = refusalOf(release, object);
      assert.equal(refusal.source, "guardrail");
      assert.equal(refusal.rule, rule);
      assert.equal(refusal.configKey, `${KEY}.${key}`);
      assert.match(refusal.policy ?? "", new RegExp(`^scoped-cd-${NS}-`));
      assert.match(
        report,
        new RegExp(`\\*\\*refused at admission, the deploy would fail:\\*\\* ${delivery.name}`),
      );
      assert.match(report, /### Admission preview \(1 refused\)/);
      assert.ok(
        report.includes(
          `| \`${object}\` | guardrail \`${refusal.policy}\` | \`${rule}\` | \`${KEY}.${key}\` |`,
        ),
        report,
      );
    });
  }

  it("shows neither section's findings for an unrelated values change", async () => {
    delivery.setConfig(deliveryConfig({ replicaCount: 2 }));
    const { code, analysis, report } = await drift(delivery, true);
    // Current semantics: a planned change is a finding (exit 1), not a refusal.
    assert.equal(code, 1, report);
    assert.ok(
      analysis.planned.some((p) => p.label.endsWith("-releases-shop")),
      JSON.stringify(analysis.planned),
    );
    assert.deepEqual(analysis.permissionDelta, []);
    assert.deepEqual(admissionOf(analysis).refusals, []);
    assert.doesNotMatch(report, /### Permission delta|### Admission preview|refused at admission/);
    assert.match(report, /Admission preview: \d+ objects of 1 release admitted/);

    // And the access stack unchanged: no permission delta, exit 0.
    const unchanged = await drift(access, false);
    assert.equal(unchanged.code, 0, unchanged.report);
    assert.deepEqual(unchanged.analysis.permissionDelta, []);
  });

  it("needs the upgrade flag and the cluster's APIs to render what the deploy renders", async () => {
    // Without them `helm template` renders an install against its built-in API list: the two
    // Services below exist only at deploy, so a preview without them could not refuse them.
    const names = async (upgrade: boolean) =>
      (
        await renderRelease(
          {
            stage: STAGE,
            release: "shop",
            namespace: NS,
            chart: CHART,
            values: { upgradeNodePort: true, capabilityNodePort: true },
            upgrade,
          },
          REPO,
        )
      ).map((o) => `${String(o.kind)} ${String((o.metadata as { name?: string }).name)}`);
    const plain = await names(false);
    assert.ok(plain.includes("Service shop"), plain.join(", "));
    assert.ok(!plain.includes("Service shop-on-upgrade"), plain.join(", "));
    assert.ok(!plain.includes("Service shop-if-aggregated"), plain.join(", "));
    assert.ok((await names(true)).includes("Service shop-on-upgrade"));
  });

  it("catches the same refusals through other objects: UPDATE, a LoadBalancer in a List, a subchart, an upgrade-only template, a template gated on the cluster's APIs, a workload's pods", async () => {
    delivery.setConfig(
      deliveryConfig({
        serviceType: "NodePort", // the deployed Service `shop`: the UPDATE path
        listLoadBalancer: true,
        exposer: { enabled: true },
        upgradeNodePort: true,
        capabilityNodePort: true,
        hostPortWorkload: true,
      }),
    );
    const { code, analysis, report } = await drift(delivery, true);
    assert.equal(code, 1, report);
    const release = admissionOf(analysis);
    for (const object of [
      "Service shop",
      "Service shop-listed",
      "Service shop-exposer",
      "Service shop-on-upgrade",
      "Service shop-if-aggregated",
    ]) {
      const refusal = refusalOf(release, object);
      assert.equal(refusal.rule, "services.type", JSON.stringify(refusal));
      assert.equal(refusal.configKey, `${KEY}.services.allowTypes`);
    }
    // The StatefulSet itself is admitted; the Pod Security level refuses each pod it would create.
    const job = refusalOf(release, "StatefulSet shop-hostport");
    assert.equal(job.source, "pod-security", JSON.stringify(job));
    assert.match(job.message, /hostPort/);
    assert.equal(job.configKey, null, "no Pod Security level a stage may choose admits a hostPort");
    assert.equal(release.refusals.length, 6, JSON.stringify(release.refusals));
    // LoadBalancer allocates node ports too, and is refused as a type of its own.
    assert.match(refusalOf(release, "Service shop-listed").message, /Service type LoadBalancer/);

    // And the deploy refuses what only an upgrade renders (atomic: rolled back). Last: the
    // failed revision is drift for any later report.
    delivery.setConfig(deliveryConfig({ upgradeNodePort: true }));
    let failure = "";
    try {
      await delivery.stack.up({ onOutput: collect(delivery) });
    } catch (err) {
      failure = String(err);
    }
    assert.match(failure, /scoped-cd guardrail services\.type: Service type NodePort/);
  });
});
