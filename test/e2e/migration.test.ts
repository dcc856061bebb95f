// An `all` stack deployed by the previous layout (nine admission policies and nine bindings per
// stage, commit PREVIOUS_LAYOUT) upgraded by this one (one merged policy and binding, issue 20):
// the namespace, the deployer's identity and the release are kept (same uids, no replacement),
// the new policy is in force before the first old binding goes, and it refuses what the old ones
// did. The previous program is built from git into a cache under .local/ (once per machine).
import * as assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { EngineEvent } from "@pulumi/pulumi/automation";
import { policyName } from "../../policy/admission";
import { MERGED_CLASS } from "../../policy/admissionPolicies/merged";
import { adminClients, clientsFor, messageOf } from "./kube";
import { collect, createTestStack, REPO, TestStack, uniqueSuffix } from "./support";

/** The last commit whose access layer declares one policy per class. */
const PREVIOUS_LAYOUT = "9eed031cbdf46b82ef0a8d47afcbf635518b238a";
const CLASSES = [
  "access",
  "disruption",
  "gateway",
  "identities",
  "ingress",
  "rbac",
  "services",
  "volumes",
  "workloads",
];

/** The previous layout's compiled program (bin/), built once from git. */
function previousBuild(): string {
  const dir = path.join(REPO, ".local", "layouts", PREVIOUS_LAYOUT);
  const bin = path.join(dir, "bin");
  if (fs.existsSync(path.join(bin, "index.js"))) return bin;
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  // `git archive` of the commit: a plain tree, no worktree registered in the repository.
  const tar = execFileSync("git", ["-C", REPO, "archive", PREVIOUS_LAYOUT], {
    maxBuffer: 256 * 1024 * 1024,
  });
  execFileSync("tar", ["-x", "-C", dir], { input: tar });
  fs.symlinkSync(path.join(REPO, "node_modules"), path.join(dir, "node_modules"));
  execFileSync(path.join(REPO, "node_modules", ".bin", "tsc"), ["-p", "tsconfig.json"], {
    cwd: dir,
    stdio: "inherit",
    timeout: 5 * 60_000,
  });
  return bin;
}

describe("migration: a stack of the nine-policy layout upgraded to the merged policy", function () {
  this.timeout(15 * 60_000);
  const ns = `e2e-migrate-${uniqueSuffix()}`;
  let t: TestStack;
  let admin: Awaited<ReturnType<typeof adminClients>>;

  /**
   * Put a program build into the stack's work dir. A copy, not a link: the program resolves chart
   * paths from its own real location, which must be the same for both builds (as it is for a user
   * whose project directory stays where it is).
   */
  const useBuild = (bin: string) => {
    const dest = path.join(t.workDir, "bin");
    fs.rmSync(dest, { recursive: true, force: true });
    fs.cpSync(bin, dest, { recursive: true });
  };
  const uids = async () => ({
    namespace: (await admin.core.readNamespace({ name: ns })).metadata?.uid,
    serviceAccounts: (await admin.core.listNamespacedServiceAccount({ namespace: ns })).items
      .filter((s) => s.metadata?.name?.startsWith("deployer-"))
      .map((s) => `${s.metadata?.name}/${s.metadata?.uid}`),
    releaseSecrets: (
      await admin.core.listNamespacedSecret({ namespace: ns, labelSelector: "owner=helm" })
    ).items
      .map((s) => s.metadata?.name)
      .sort(),
  });
  const policiesOf = async (
    kind: "ValidatingAdmissionPolicy" | "ValidatingAdmissionPolicyBinding",
  ) => {
    const list = (await admin.objects.list("admissionregistration.k8s.io/v1", kind)) as {
      items: { metadata?: { name?: string } }[];
    };
    return list.items
      .map((p) => p.metadata?.name ?? "")
      .filter((n) => n.startsWith(`scoped-cd-${ns}-`))
      .sort();
  };

  before(async function () {
    this.timeout(10 * 60_000);
    admin = await adminClients();
    const old = previousBuild();
    t = await createTestStack("migrate");
    t.setConfig({
      mode: "all",
      cluster: { name: "local" },
      stages: {
        m: {
          namespace: ns,
          deletable: true,
          releases: { storefront: { chart: "./charts/storefront", values: { replicaCount: 1 } } },
        },
      },
    });
    useBuild(old);
    const up = await t.stack.up({ onOutput: collect(t) });
    assert.equal(up.summary.result, "succeeded");
  });

  after(async function () {
    if (this.currentTest?.state === "failed") console.log(t?.log.join(""));
    if (t) useBuild(path.join(REPO, "bin"));
    await t?.stack.destroy({ onOutput: collect(t) }).catch(() => undefined);
    await t?.remove().catch(() => undefined);
  });

  it("upgrades in place: nothing replaced, namespace, identity and release kept, no gap in enforcement", async () => {
    assert.deepEqual(
      await policiesOf("ValidatingAdmissionPolicyBinding"),
      CLASSES.map((c) => policyName(ns, c)).sort(),
      "the previous layout's nine bindings",
    );
    const before = await uids();
    assert.equal(before.serviceAccounts.length, 1, JSON.stringify(before));

    useBuild(path.join(REPO, "bin"));
    // The engine's order: every step as it finished.
    const finished: { op: string; urn: string }[] = [];
    const onEvent = (e: EngineEvent) => {
      const m = e.resOutputsEvent?.metadata;
      if (m) finished.push({ op: m.op, urn: m.urn });
    };
    const preview = await t.stack.preview({ onOutput: collect(t), diff: true });
    assert.deepEqual(
      { ...preview.changeSummary, same: undefined },
      { create: 2, delete: 18, same: undefined },
      JSON.stringify(preview.changeSummary),
    );
    const up = await t.stack.up({ onOutput: collect(t), onEvent });
    assert.equal(up.summary.result, "succeeded");
    const changes = up.summary.resourceChanges ?? {};
    assert.equal(changes.create, 2, JSON.stringify(changes));
    assert.equal(changes.delete, 18, JSON.stringify(changes));
    assert.equal(changes.replace ?? 0, 0, JSON.stringify(changes));
    assert.equal(changes.update ?? 0, 0, JSON.stringify(changes));

    // The new binding existed before the first old one was deleted.
    const newBinding = finished.findIndex(
      (s) =>
        s.op === "create" &&
        s.urn.endsWith(`ValidatingAdmissionPolicyBinding::m-ns-admission-${MERGED_CLASS}-binding`),
    );
    const firstDelete = finished.findIndex((s) => s.op === "delete");
    assert.ok(newBinding >= 0 && firstDelete > newBinding, JSON.stringify(finished));

    assert.deepEqual(await uids(), before, "namespace, deployer identity and release revisions");
    assert.deepEqual(await policiesOf("ValidatingAdmissionPolicy"), [policyName(ns, MERGED_CLASS)]);
    assert.deepEqual(await policiesOf("ValidatingAdmissionPolicyBinding"), [
      policyName(ns, MERGED_CLASS),
    ]);
    await t.stack.preview({ expectNoChanges: true, onOutput: collect(t) });
  });

  it("refuses through the merged policy what the nine refused, naming it", async () => {
    const kubeconfig = (await t.stack.outputs()).kubeconfigs.value.m as string;
    const scoped = await clientsFor(kubeconfig);
    const message = await messageOf(
      scoped.core.createNamespacedService({
        namespace: ns,
        body: {
          metadata: { name: "np" },
          spec: { type: "NodePort", ports: [{ port: 80 }] },
        },
      }),
    );
    assert.match(message, /scoped-cd guardrail services\.type:/);
    assert.ok(message.includes(`'${policyName(ns, MERGED_CLASS)}'`), message);
    const externalIPs = await messageOf(
      scoped.core.createNamespacedService({
        namespace: ns,
        body: {
          metadata: { name: "eip" },
          spec: { externalIPs: ["198.18.0.9"], ports: [{ port: 80 }] },
        },
      }),
    );
    assert.match(externalIPs, /scoped-cd guardrail services\.externalIPs:/);
  });
});
