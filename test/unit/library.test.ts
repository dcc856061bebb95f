// The components as a library: another Pulumi TypeScript program imports `scoped-cd` by its
// package name (package.json `exports`) and declares one stage, as docs/development.md "Using the
// components from your own program" shows.
import * as assert from "node:assert/strict";
import * as pulumi from "@pulumi/pulumi";
import * as yaml from "js-yaml";
import { AdminProvider, ConfigError, Stage, stageConfig } from "scoped-cd";
import { deployerRules } from "scoped-cd/policy/deployerProfile";
import { mockRegistrations, promiseOf, Registration } from "./harness";

describe("scoped-cd as a library", () => {
  let registrations: Registration[];
  let shop: Stage;

  before(async () => {
    registrations = await mockRegistrations("library");
    // No API server under mocks: the live reads find nothing, as before a first `up`.
    const admin = new AdminProvider("admin", { context: "prod-admin" }, async () => undefined);
    shop = new Stage("shop", {
      mode: "all",
      clusterName: "prod-eu1",
      config: stageConfig("shop", {
        namespace: "shop-prod",
        releases: { web: { chart: "./charts/storefront" } },
      }),
      access: {
        kind: "declare",
        adminProvider: admin,
        clusterName: "prod-eu1",
        server: "https://api.prod:6443",
      },
    });
    await promiseOf(shop.summary);
  });

  it("declares the stage's namespace, deployer and release from a user's program", () => {
    const types = registrations.map((r) => r.type);
    for (const type of [
      "scoped-cd:stage:Stage",
      "kubernetes:core/v1:Namespace",
      "kubernetes:rbac.authorization.k8s.io/v1:Role",
      "kubernetes:helm.sh/v3:Release",
    ]) {
      assert.ok(types.includes(type), `${type} is not registered`);
    }
    const role = registrations.find(
      (r) => r.type === "kubernetes:rbac.authorization.k8s.io/v1:Role",
    );
    assert.deepEqual(
      role?.inputs.rules,
      deployerRules({ allowRbac: false, tiller: false, extraRules: [] }),
    );
  });

  it("applies the documented defaults to the stage config", () => {
    const cfg = stageConfig("shop", {});
    assert.equal(cfg.namespace, "shop");
    assert.equal(cfg.deletable, false);
    assert.equal(cfg.guardrails.podSecurity, "restricted");
    assert.equal(cfg.tiller.enabled, false);
  });

  it("exports the scoped kubeconfig as a secret whose context is the stage namespace", async () => {
    assert.ok(await pulumi.isSecret(shop.kubeconfig!));
    const doc = yaml.load(await promiseOf(shop.kubeconfig!)) as any;
    assert.equal(doc.contexts[0].context.namespace, "shop-prod");
    assert.equal(doc.clusters[0].cluster.server, "https://api.prod:6443");
  });

  it("refuses a bad stage config with every problem and its key path", () => {
    assert.throws(
      () => stageConfig("shop", { namespace: "kube-system", deletable: "yes" }),
      (err: unknown) =>
        err instanceof ConfigError &&
        err.problems.includes("scoped-cd:stages.shop.deletable: must be a boolean") &&
        err.problems.includes(
          "scoped-cd:stages.shop.namespace: namespace kube-system is reserved; choose a namespace of the stage's own",
        ),
    );
  });
});
