import * as assert from "node:assert/strict";
import type { EngineEvent } from "@pulumi/pulumi/automation";
import { deployerRules } from "../../policy/deployerProfile";
import { ruleCovers } from "../../policy/rbac";
import { buildContainmentMatrix, ContainmentCheck } from "../../policy/containment";
import {
  analyzeStack,
  driftExitCode,
  maskSecrets,
  parsePropertyPath,
  renderDriftReport,
  resourceLabel,
} from "../../cli/lib/driftReport";
import { cleanStack, driftedStack, failedStack } from "./driftReport.fixtures";

// The report exactly as a reviewer sees it in the pull request.
const EXPECTED_REPORT = [
  "# Drift report",
  "",
  "Refreshing preview of 3 stacks: **could not run:** prod; **changes or drift:** preprod.",
  "",
  "| stack | resources | create | update | replace | delete | drifted |",
  "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
  "| test | 3 | 0 | 0 | 0 | 0 | 0 |",
  "| preprod | 5 | 1 | 1 | 1 | 0 | 3 |",
  "| prod | could not run | \u2014 | \u2014 | \u2014 | \u2014 | \u2014 |",
  "",
  "## test",
  "",
  "No drift, no planned changes.",
  "",
  "## preprod",
  "",
  "### Drifted (3)",
  "",
  "#### `kubernetes:core/v1:ConfigMap::storefront-flags`",
  "",
  "Deleted outside Pulumi: the refresh found no such object.",
  "",
  "#### `kubernetes:core/v1:Secret::storefront-db`",
  "",
  "| property | before | after |",
  "| --- | --- | --- |",
  '| `data["token"]` | [secret] | [secret] |',
  "",
  "#### `kubernetes:helm.sh/v3:Release::preprod-storefront`",
  "",
  "| property | before | after |",
  "| --- | --- | --- |",
  "| `values.db.password` | [secret] | [secret] |",
  '| `values.debug` | \u2014 | `"a\\|b"` |',
  "| `values.replicaCount` | `2` | `5` |",
  "",
  "### Planned changes (3)",
  "",
  "| op | resource | properties |",
  "| --- | --- | --- |",
  "| create | `kubernetes:core/v1:ConfigMap::storefront-flags` | \u2014 |",
  "| update | `kubernetes:helm.sh/v3:Release::preprod-storefront` | `values` |",
  "| replace | `kubernetes:core/v1:Service::storefront` | `spec` |",
  "",
  "## prod",
  "",
  "The preview could not run:",
  "",
  "```text",
  "error: preview failed: scoped-cd:stages.prod.releases.storefront: upstream stack preprod has release storefront in status failed, not deployed",
  "```",
  "",
].join("\n");

describe("drift report", () => {
  it("renders clean, drifted and failed stacks exactly", () => {
    assert.equal(renderDriftReport([cleanStack(), driftedStack(), failedStack()]), EXPECTED_REPORT);
  });

  it("never shows a secret value, whether marked secret or only named like one", () => {
    const report = renderDriftReport([driftedStack()]);
    for (const leaked of [
      "hunter2",
      "changed-by-hand",
      "ciphertext",
      "4dabf18193072939515e22adb298388d",
    ]) {
      assert.ok(!report.includes(leaked), `report shows ${leaked}`);
    }
  });

  it("exits 0 when clean, 1 on changes or drift, 2 when a stack could not run", () => {
    assert.equal(driftExitCode([cleanStack()]), 0);
    assert.equal(driftExitCode([cleanStack(), driftedStack()]), 1);
    assert.equal(driftExitCode([cleanStack(), driftedStack(), failedStack()]), 2);
    assert.equal(driftExitCode([failedStack()]), 2);
  });

  it("reports identities outside the stack in a clean stack, and exits 1 for them", () => {
    const grant =
      "stage test (namespace shop-test): RoleBinding persist grants Role scoped-deployer to ServiceAccount persist";
    const clean = cleanStack();
    const withStray = { ...clean, strayGrants: [grant] };
    assert.equal(driftExitCode([clean]), 0);
    assert.equal(driftExitCode([withStray]), 1);
    const report = renderDriftReport([withStray]);
    assert.ok(
      report.includes("Refreshing preview of 1 stack: **identities outside the stack:** test."),
      report,
    );
    assert.ok(report.includes(`### Identities outside the stack (1)\n`), report);
    assert.ok(report.includes(`- ${grant}\n`), report);
    assert.ok(!report.includes("No drift, no planned changes."), report);
    assert.ok(report.includes("No drift.\n") && report.includes("No planned changes.\n"), report);
  });

  it("takes no refresh of a read resource (.get, external in the state) for drift", () => {
    const p = driftedStack();
    const all = analyzeStack(p.stack, p.events);
    const read = all.drifted.find((d) => d.label.includes("storefront-db"))!;
    assert.ok(read, "the fixture has that drifted resource");
    const analysis = analyzeStack(p.stack, p.events, [], [], [read.urn]);
    assert.deepEqual(
      analysis.drifted.map((d) => d.label),
      all.drifted.map((d) => d.label).filter((l) => l !== read.label),
    );
    assert.equal(analysis.resources, all.resources, "it is still one of the stack's resources");
  });

  it("counts a replacement once, and neither the root stack nor bookkeeping churn", () => {
    const preview = driftedStack();
    const analysis = analyzeStack(preview.stack, preview.events);
    assert.deepEqual(analysis.counts, { create: 1, update: 1, replace: 1, delete: 0 });
    assert.equal(analysis.resources, 5);
    assert.ok(!analysis.drifted.some((d) => d.label.endsWith("::storefront-worker")));
  });

  it("does not count the API server's last-used stamp on a legacy token Secret as drift", () => {
    const type = "kubernetes:core/v1:Secret";
    const urn = `urn:pulumi:ops::scoped-cd::${type}::prod-deployer-token`;
    const metadata = { name: "deployer-abc123-token", labels: { "scoped-cd.io/stage": "prod" } };
    const old = {
      type,
      urn,
      id: "shop/t",
      parent: "",
      provider: "",
      inputs: {},
      outputs: { metadata },
    };
    const live = {
      ...old,
      outputs: {
        metadata: {
          ...metadata,
          labels: { ...metadata.labels, "kubernetes.io/legacy-token-last-used": "2026-11-25" },
        },
      },
    };
    const events = [
      {
        sequence: 1,
        timestamp: 0,
        resOutputsEvent: { metadata: { op: "refresh", urn, type, provider: "", old, new: live } },
      },
    ] as EngineEvent[];
    assert.deepEqual(analyzeStack("ops", events).drifted, []);
  });

  it("reports output changes as drift when the provider names no properties", () => {
    const type = "pulumi-nodejs:dynamic:Resource";
    const urn = `urn:pulumi:lab::lab::${type}::web`;
    const old = {
      type,
      urn,
      id: "web",
      parent: "",
      provider: "",
      inputs: {},
      outputs: { replicas: 1, labels: { app: "web" } },
    };
    const live = { ...old, outputs: { replicas: 3, labels: { app: "web", team: "shop" } } };
    const events = [
      {
        sequence: 1,
        timestamp: 0,
        resOutputsEvent: { metadata: { op: "refresh", urn, type, provider: "", old, new: live } },
      },
    ] as EngineEvent[];
    const [drift] = analyzeStack("lab", events).drifted;
    assert.deepEqual(drift.properties, [
      { path: "labels.team", before: "—", after: '`"shop"`' },
      { path: "replicas", before: "`1`", after: "`3`" },
    ]);
  });

  it("masks secrets by sentinel, by key and by shape", () => {
    const sentinel = {
      "4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270",
      ciphertext: "[secret]",
    };
    assert.deepEqual(
      maskSecrets({
        image: "nginx:1.27",
        env: [{ name: "A", value: sentinel }],
        stringData: { user: "admin" },
        kubeconfig: "apiVersion: v1",
        note: "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJkZXBsb3llciJ9.c2lnbmF0dXJl",
      }),
      {
        image: "nginx:1.27",
        env: [{ name: "A", value: "[secret]" }],
        stringData: "[secret]",
        kubeconfig: "[secret]",
        note: "[secret]",
      },
    );
  });

  it("parses property paths and labels resources by type and name", () => {
    assert.deepEqual(parsePropertyPath('spec.containers[0]["app.kubernetes.io/name"].x'), [
      "spec",
      "containers",
      0,
      "app.kubernetes.io/name",
      "x",
    ]);
    assert.equal(
      resourceLabel(
        "urn:pulumi:prod::scoped-cd::scoped-cd:stage:Stage$kubernetes:helm.sh/v3:Release::prod-storefront",
      ),
      "kubernetes:helm.sh/v3:Release::prod-storefront",
    );
  });
});

describe("containment matrix", () => {
  const matrix = (tiller: boolean | undefined) =>
    buildContainmentMatrix({ namespace: "shop-test", otherNamespace: "default", tiller });
  const key = (c: ContainmentCheck) => JSON.stringify(c.resourceAttributes);
  const find = (m: ContainmentCheck[], description: string) =>
    m.find((c) => c.description === description);

  it("has no duplicate checks", () => {
    const m = matrix(true);
    assert.equal(new Set(m.map(key)).size, m.length);
    assert.equal(new Set(m.map((c) => c.description)).size, m.length);
  });

  it("allows the deployer's work in its namespace only", () => {
    const m = matrix(false);
    for (const c of m.filter((c) => c.expect === "allowed")) {
      assert.equal(c.resourceAttributes.namespace, "shop-test", c.description);
    }
    for (const expected of [
      "create apps/deployments in shop-test",
      "delete secrets in shop-test",
      "update configmaps in shop-test",
      "list pods in shop-test",
      "get pods/log in shop-test",
    ]) {
      assert.equal(find(m, expected)?.expect, "allowed", expected);
    }
  });

  it("forbids other namespaces, cluster-scoped objects, escalation and the guardrails", () => {
    const m = matrix(false);
    for (const c of m.filter((c) => c.resourceAttributes.namespace !== "shop-test")) {
      assert.equal(c.expect, "forbidden", c.description);
    }
    for (const expected of [
      "get secrets in kube-system",
      "list pods in default",
      "create apps/deployments in kube-system",
      "create namespaces (cluster)",
      "create rbac.authorization.k8s.io/clusterrolebindings (cluster)",
      "create apiextensions.k8s.io/customresourcedefinitions (cluster)",
      "create admissionregistration.k8s.io/mutatingwebhookconfigurations (cluster)",
      "update certificates.k8s.io/certificatesigningrequests/approval (cluster)",
      "create serviceaccounts/token in shop-test",
      "impersonate users (cluster)",
      "bind rbac.authorization.k8s.io/roles in shop-test",
      "escalate rbac.authorization.k8s.io/roles in shop-test",
      "patch namespaces shop-test in shop-test",
      "delete resourcequotas in shop-test",
      "patch networking.k8s.io/networkpolicies in shop-test",
      "update limitranges in shop-test",
      "create pods/exec in shop-test",
    ]) {
      assert.equal(find(m, expected)?.expect, "forbidden", expected);
    }
  });

  it("expects port-forward exactly when Tiller runs, and leaves it out when unknown", () => {
    const portForward = "create pods/portforward in shop-test";
    assert.equal(find(matrix(true), portForward)?.expect, "allowed");
    assert.equal(find(matrix(false), portForward)?.expect, "forbidden");
    assert.equal(find(matrix(undefined), portForward), undefined);
  });

  it("agrees with the deployer's generated Role on every namespaced check", () => {
    for (const tiller of [false, true]) {
      const rules = deployerRules({ allowRbac: false, tiller });
      for (const c of matrix(tiller).filter(
        (c) => c.resourceAttributes.namespace === "shop-test",
      )) {
        const r = c.resourceAttributes;
        const resource = r.subresource ? `${r.resource}/${r.subresource}` : r.resource;
        const granted = rules.some((rule) => ruleCovers(rule, r.group, resource, r.verb));
        assert.equal(granted, c.expect === "allowed", `${c.description} (tiller ${tiller})`);
      }
    }
  });

  it("refuses an other namespace that is the stage's own or kube-system", () => {
    assert.throws(() =>
      buildContainmentMatrix({ namespace: "a", otherNamespace: "a", tiller: false }),
    );
    assert.throws(() =>
      buildContainmentMatrix({ namespace: "a", otherNamespace: "kube-system", tiller: false }),
    );
  });
});
