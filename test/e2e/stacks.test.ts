// Stack-level behaviour on the real CLI: bad config changes nothing, a delivery stack needs no
// admin credential, and destroy honours `deletable`.
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { adminClients, Clients } from "./kube";
import { collect, createTestStack, TestStack, uniqueSuffix, waitFor } from "./support";

/**
 * Other e2e files run at the same time (mocha `parallel`) and create and delete objects in their
 * own `e2e-*` namespaces; a bad stack here could only touch the namespaces its config names
 * (`e2e-bad-*`, `bad`, kube-system) and cluster-scoped objects, so the others are left out.
 */
const concurrentFilesNamespace = (ns: string) =>
  ns.startsWith("e2e-") && !ns.startsWith("e2e-bad-");

/** Names of the objects a bad stack could have touched, cluster-wide. */
async function clusterSnapshot(admin: Clients): Promise<string[]> {
  const names = (kind: string, items: { metadata?: { namespace?: string; name?: string } }[]) =>
    items
      .filter((i) => {
        const ns = kind === "Namespace" ? i.metadata?.name : i.metadata?.namespace;
        return !concurrentFilesNamespace(ns ?? "");
      })
      .map((i) => `${kind}/${i.metadata?.namespace ?? ""}/${i.metadata?.name}`);
  return [
    ...names("Namespace", (await admin.core.listNamespace()).items),
    ...names("ServiceAccount", (await admin.core.listServiceAccountForAllNamespaces()).items),
    ...names("Secret", (await admin.core.listSecretForAllNamespaces()).items),
    ...names("Role", (await admin.rbac.listRoleForAllNamespaces()).items),
    ...names("RoleBinding", (await admin.rbac.listRoleBindingForAllNamespaces()).items),
    ...names("Deployment", (await admin.apps.listDeploymentForAllNamespaces()).items),
    ...names("ResourceQuota", (await admin.core.listResourceQuotaForAllNamespaces()).items),
  ].sort();
}

describe("stacks on the real CLI", function () {
  this.timeout(15 * 60_000);
  let admin: Clients;
  before(async () => {
    admin = await adminClients();
  });

  describe("a malformed stack", () => {
    const cases: [string, Record<string, unknown>, string][] = [
      [
        "a reserved namespace",
        { cluster: { name: "local" }, stages: { bad: { namespace: "kube-system" } } },
        "scoped-cd:stages.bad.namespace: namespace kube-system is reserved",
      ],
      [
        "an unacknowledged token-minting rule",
        {
          cluster: { name: "local" },
          stages: {
            bad: {
              namespace: `e2e-bad-${uniqueSuffix()}`,
              deployer: {
                extraRules: [
                  { apiGroups: [""], resources: ["serviceaccounts/token"], verbs: ["create"] },
                ],
              },
            },
          },
        },
        "scoped-cd:stages.bad.deployer.extraRules[0]: carries the escalation class token-minting",
      ],
      [
        "a delivery stack without an access source",
        {
          mode: "delivery",
          cluster: { name: "local" },
          stages: { bad: { releases: { web: { chart: "./charts/storefront" } } } },
        },
        "scoped-cd:mode: delivery mode needs the scoped kubeconfig",
      ],
    ];
    for (const [what, config, keyPath] of cases) {
      it(`with ${what} fails at preview with its key path and leaves the cluster as it was`, async () => {
        const t = await createTestStack("bad");
        try {
          t.setConfig(config);
          const before = await clusterSnapshot(admin);
          let error = "";
          try {
            await t.stack.preview({ onOutput: collect(t) });
          } catch (err) {
            error = String(err);
          }
          assert.ok(error.includes(keyPath), `expected "${keyPath}" in:\n${error}`);
          assert.deepEqual(await clusterSnapshot(admin), before);
        } finally {
          await t.remove();
        }
      });
    }
  });

  describe("a delivery stack", () => {
    const namespace = `e2e-delivery-${uniqueSuffix()}`;
    let access: TestStack;
    let delivery: TestStack;

    before(async () => {
      access = await createTestStack("access");
      access.setConfig({
        mode: "access",
        cluster: { name: "local" },
        stages: { shop: { namespace, deletable: true } },
      });
      await access.stack.up({ onOutput: collect(access) });
    });

    after(async () => {
      await delivery?.stack.destroy({ onOutput: collect(delivery) }).catch(() => undefined);
      await delivery?.remove().catch(() => undefined);
      await access.stack.destroy({ onOutput: collect(access) }).catch(() => undefined);
      await access.remove().catch(() => undefined);
    });

    it("deploys its release with no admin credential reachable", async () => {
      // No KUBECONFIG, and a HOME without ~/.kube: the only credential is the access stack's output.
      const emptyHome = fs.mkdtempSync(path.join(os.tmpdir(), "scoped-cd-nohome-"));
      delivery = await createTestStack("delivery", {
        KUBECONFIG: path.join(emptyHome, "absent"),
        HOME: emptyHome,
      });
      delivery.setConfig({
        mode: "delivery",
        cluster: { name: "local" },
        accessStack: `organization/scoped-cd/${access.name}`,
        stages: { shop: { namespace, releases: { storefront: { chart: "./charts/storefront" } } } },
      });
      const up = await delivery.stack.up({ onOutput: collect(delivery) });
      assert.equal(up.outputs.stages.value.shop.releases.storefront.status, "deployed");
      assert.equal(up.outputs.kubeconfigs, undefined);
      const deployment = await admin.apps.readNamespacedDeployment({
        name: "storefront",
        namespace,
      });
      assert.equal(deployment.status?.readyReplicas, 1);
      const resources = (await delivery.stack.exportStack()).deployment.resources as {
        type: string;
        urn: string;
      }[];
      const providers = resources.filter((r) => r.type === "pulumi:providers:kubernetes");
      assert.deepEqual(
        providers.map((p) => p.urn.split("::").pop()),
        ["shop-releases-scoped"],
      );
    });
  });

  describe("destroy", () => {
    it("keeps the namespace of a non-deletable stage", async () => {
      const namespace = `e2e-keep-${uniqueSuffix()}`;
      const t = await createTestStack("keep");
      try {
        t.setConfig({
          mode: "access",
          cluster: { name: "local" },
          stages: { keep: { namespace, deletable: false } },
        });
        await t.stack.up({ onOutput: collect(t) });
        const result = await t.stack.destroy({ onOutput: collect(t) });
        assert.equal(result.summary.result, "succeeded");
        assert.match(t.log.join(""), /retain/i, "destroy should say the namespace is retained");
        const ns = await admin.core.readNamespace({ name: namespace });
        assert.equal(ns.status?.phase, "Active");
      } finally {
        await t.remove();
        await admin.core.deleteNamespace({ name: namespace }).catch(() => undefined);
      }
    });

    it("removes the namespace of a deletable stage", async () => {
      const namespace = `e2e-drop-${uniqueSuffix()}`;
      const t = await createTestStack("drop");
      try {
        t.setConfig({
          mode: "access",
          cluster: { name: "local" },
          stages: { drop: { namespace, deletable: true } },
        });
        await t.stack.up({ onOutput: collect(t) });
        await t.stack.destroy({ onOutput: collect(t) });
        await waitFor(`namespace ${namespace} to be gone`, 60, async () =>
          (await admin.core.listNamespace()).items.some((n) => n.metadata?.name === namespace)
            ? undefined
            : true,
        );
      } finally {
        await t.remove();
      }
    });
  });
});
