// Issue 18 under mocks: the access layer out of CI's reach (the `access` admission policy), a
// revocation that cannot be stalled (deletion guards, teardown), bounded disk (ephemeral storage).
import * as assert from "node:assert/strict";
import { parseConfig } from "../../config";
import {
  ACCESS_LAYER_LABEL,
  CI_FINALIZERS,
  CI_REQUESTER,
  RESERVED_NAMES,
} from "../../policy/admission";
import { admissionPolicies } from "../../policy/admissionPolicies";
import { DEFAULT_QUOTA } from "../../policy/quota";
import {
  foreignFinalizers,
  identityFinalizers,
  isKubernetesFinalizer,
} from "../../policy/revocation";
import { accessModeConfig, allModeConfig } from "./fixtures";
import { runProgram, RunResult } from "./harness";

const T = {
  vap: "kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicy",
  limits: "kubernetes:core/v1:LimitRange",
  quota: "kubernetes:core/v1:ResourceQuota",
  sa: "kubernetes:core/v1:ServiceAccount",
  secret: "kubernetes:core/v1:Secret",
  release: "kubernetes:helm.sh/v3:Release",
  namespace: "kubernetes:core/v1:Namespace",
  identityDeletion: "pulumi-nodejs:dynamic/scoped-cd:IdentityDeletion",
  teardown: "pulumi-nodejs:dynamic/scoped-cd:StageTeardown",
};

async function run(config: Record<string, any>): Promise<RunResult> {
  const result = await runProgram(config);
  if (result.error) throw result.error;
  return result;
}

const settings = {
  stage: "dev",
  namespace: "shop-dev",
  services: { allowTypes: [] },
  ingress: { allowHosts: [], allowClasses: [], allowAnnotations: [] },
  workloads: { allowPriorityClasses: [] },
  disruptionBudgets: { allowMinAvailable: false },
  gateway: { allowParents: [], allowHosts: [] },
} as const;
const accessPolicy = () => admissionPolicies(settings).find((p) => p.class === "access")!;

describe("the access policy (identity objects out of CI's reach)", () => {
  it("applies to every resource of the namespace on create, update and delete, for CI requesters only", () => {
    const p = accessPolicy();
    assert.deepEqual(p.resourceRules, [
      {
        apiGroups: ["*"],
        apiVersions: ["*"],
        operations: ["CREATE", "UPDATE", "DELETE"],
        resources: ["*"],
      },
    ]);
    assert.deepEqual(p.matchConditions, [{ name: "ci-requester", expression: CI_REQUESTER }]);
  });

  it("refuses any write of an object labelled as the access layer's, before and after the change", () => {
    const [owned] = accessPolicy().validations;
    const label = `"${ACCESS_LAYER_LABEL.key}"`;
    assert.match(
      owned.expression,
      new RegExp(`^!\\(oldObject != null .*${label}.*\\) && !\\(object != null`),
    );
    assert.match(owned.messageExpression!, /scoped-cd guardrail access\.owned: /);
    assert.match(owned.messageExpression!, /no setting relaxes it/);
  });

  it("reserves every name the access layer creates, each with a reason", () => {
    const names = accessPolicy().validations[1];
    for (const r of RESERVED_NAMES) {
      assert.ok(names.expression.includes(`request.resource.resource == "${r.resource}"`), r.kind);
      assert.ok(names.expression.includes(`variables.name.matches("${r.pattern}")`), r.kind);
      assert.ok(r.why.length > 20, `${r.kind} needs a reason`);
      assert.ok(!r.pattern.includes("\\"), "patterns are inlined into CEL without escapes");
    }
    const deployerSa = RESERVED_NAMES.find((r) => r.resource === "serviceaccounts")!;
    assert.ok(new RegExp(deployerSa.pattern).test("deployer-a1b2c3"));
    assert.ok(new RegExp(deployerSa.pattern).test("tiller-a1b2c3"));
    assert.ok(!new RegExp(deployerSa.pattern).test("storefront"));
    const secrets = RESERVED_NAMES.find((r) => r.resource === "secrets")!;
    assert.ok(new RegExp(secrets.pattern).test("deployer-a1b2c3-cred-mf3x1"));
    assert.ok(new RegExp(secrets.pattern).test("deployer-a1b2c3-token"));
    assert.ok(!new RegExp(secrets.pattern).test("sh.helm.release.v1.web.v1"));
  });

  it("admits only the garbage collector's finalizers and PVC protection from CI, and keeps existing ones", () => {
    const finalizers = accessPolicy().validations[2];
    assert.deepEqual([...CI_FINALIZERS], ["foregroundDeletion", "orphan"]);
    assert.match(finalizers.expression, /f in \["foregroundDeletion", "orphan"\]/);
    assert.match(
      finalizers.expression,
      /"kubernetes.io\/pvc-protection" && .*persistentvolumeclaims/,
    );
    assert.match(finalizers.expression, /f in oldObject\.metadata\.finalizers/);
    assert.match(finalizers.messageExpression!, /access\.finalizers: /);
  });

  it("refuses controller and blockOwnerDeletion owner references from CI", () => {
    const refs = accessPolicy().validations[3];
    assert.match(refs.expression, /r\.controller/);
    assert.match(refs.expression, /r\.blockOwnerDeletion/);
    assert.match(refs.expression, /r in oldObject\.metadata\.ownerReferences/);
    assert.match(refs.messageExpression!, /access\.ownerReferences: /);
  });

  it("names the object in each message (a generated name included)", () => {
    const p = accessPolicy();
    assert.deepEqual(
      p.variables?.map((v) => v.name),
      ["name"],
    );
    for (const v of p.validations) assert.match(v.messageExpression!, /variables\.name/);
  });
});

describe("finalizers the access layer removes", () => {
  it("leaves Kubernetes' own finalizers to their controllers", () => {
    for (const f of [
      "kubernetes",
      "foregroundDeletion",
      "orphan",
      "kubernetes.io/pvc-protection",
      "batch.kubernetes.io/job-tracking",
      "service.kubernetes.io/load-balancer-cleanup",
      "networking.k8s.io/ingress-protection",
    ])
      assert.ok(isKubernetesFinalizer(f), f);
    assert.deepEqual(
      foreignFinalizers(["kubernetes.io/pvc-protection", "example.com/stall", "stall"]),
      ["example.com/stall", "stall"],
    );
    assert.ok(!isKubernetesFinalizer("evil.example.com/kubernetes.io"));
  });

  it("removes every finalizer from an identity object it deletes", () => {
    assert.deepEqual(identityFinalizers(["foregroundDeletion", "example.com/stall"]), [
      "foregroundDeletion",
      "example.com/stall",
    ]);
    assert.deepEqual(identityFinalizers(undefined), []);
  });
});

describe("deletion guards and teardown", () => {
  let all: RunResult;
  before(async () => {
    all = await run(allModeConfig());
  });

  it("guards the deployer's and Tiller's ServiceAccounts, each depending on its object", () => {
    const guards = all.byType(T.identityDeletion);
    assert.equal(guards.length, 2);
    for (const sa of all.byType(T.sa)) {
      const guard = guards.find((g) => g.inputs.description.endsWith(sa.inputs.metadata.name));
      assert.ok(guard, `no guard for ${sa.inputs.metadata.name}`);
      assert.ok(guard.dependencies.includes(sa.urn));
      assert.equal(
        guard.inputs.path,
        `/api/v1/namespaces/shop-dev/serviceaccounts/${sa.inputs.metadata.name}`,
      );
      assert.equal(guard.inputs.waitSeconds, 60);
      // Foreground deletion would wait for dependents holding blockOwnerDeletion.
      assert.equal(
        sa.inputs.metadata.annotations["pulumi.com/deletionPropagationPolicy"],
        "background",
      );
    }
  });

  it("guards the legacy token Secret too", async () => {
    const c = allModeConfig();
    c.stages.dev.deployer.credential = { kind: "legacy" };
    const legacy = await run(c);
    const secret = legacy.byType(T.secret).find((s) => s.inputs.type?.includes("token"))!;
    const guard = legacy
      .byType(T.identityDeletion)
      .find((g) => g.inputs.path.includes("/secrets/"))!;
    assert.ok(guard.dependencies.includes(secret.urn));
  });

  it("tears a deletable stage of an all stack down before its releases, without deleting the namespace itself", () => {
    const [teardown] = all.byType(T.teardown);
    assert.equal(teardown.inputs.namespace, "shop-dev");
    assert.equal(teardown.inputs.deleteNamespace, false);
    assert.equal(teardown.inputs.graceSeconds, 0);
    const release = all.byType(T.release)[0];
    assert.ok(
      teardown.dependencies.includes(release.urn),
      "the teardown must go before the release",
    );
  });

  it("tears a deletable stage of an access stack down after everything else, deleting the namespace", async () => {
    const c = accessModeConfig();
    c.stages.prod.deletable = true;
    const access = await run(c);
    const [teardown] = access.byType(T.teardown);
    assert.equal(teardown.inputs.deleteNamespace, true);
    assert.equal(teardown.inputs.waitSeconds, 120);
    const ns = access.byType(T.namespace)[0];
    assert.ok(teardown.dependencies.includes(ns.urn));
    // The deployer (a component: its children are deleted before it) waits for the guardrails,
    // the teardown among them, so the whole identity is deleted before the teardown runs.
    const deployer = access.registrations.find(
      (r) => r.type === "scoped-cd:access:DeployerAccess",
    )!;
    assert.ok(deployer.dependencies.includes(teardown.urn));
  });

  it("hands no Kubernetes provider to a dynamic resource (it would go to the wrong plugin)", async () => {
    const c = accessModeConfig();
    c.stages.prod.deletable = true;
    const access = await run(c);
    for (const r of [...all.registrations, ...access.registrations].filter((x) =>
      x.type.startsWith("pulumi-nodejs:dynamic/"),
    ))
      assert.ok(!r.provider.includes("pulumi:providers:kubernetes"), `${r.name}: ${r.provider}`);
  });

  it("declares no teardown for a stage that is kept", async () => {
    const access = await run(accessModeConfig());
    assert.deepEqual(access.byType(T.teardown), []);
  });
});

describe("bounded disk (ephemeral storage)", () => {
  it("gives containers a default ephemeral-storage request and limit", async () => {
    const result = await run(allModeConfig());
    const [limits] = result.byType(T.limits);
    assert.deepEqual(limits.inputs.spec.limits, [
      {
        type: "Container",
        defaultRequest: { cpu: "100m", memory: "128Mi", "ephemeral-storage": "128Mi" },
        default: { cpu: "500m", memory: "512Mi", "ephemeral-storage": "1Gi" },
      },
    ]);
    const [quota] = result.byType(T.quota);
    assert.equal(quota.inputs.spec.hard["requests.ephemeral-storage"], "10Gi");
    assert.equal(quota.inputs.spec.hard["limits.ephemeral-storage"], "20Gi");
  });

  it("keeps the ephemeral-storage default when a stage sets only cpu and memory", () => {
    const c = allModeConfig();
    c.stages.dev.guardrails = { containerLimits: { cpu: "1", memory: "1Gi" } };
    const { config } = parseConfig(c);
    assert.deepEqual(config!.stages[0].guardrails.containerLimits, {
      cpu: "1",
      memory: "1Gi",
      ephemeralStorage: "1Gi",
    });
    assert.equal(DEFAULT_QUOTA["limits.ephemeral-storage"], "20Gi");
  });

  it("refuses an ephemeral-storage default that is no quantity, naming its key", () => {
    const c = allModeConfig();
    c.stages.dev.guardrails = { containerRequests: { ephemeralStorage: "lots" } };
    assert.deepEqual(parseConfig(c).problems, [
      'scoped-cd:stages.dev.guardrails.containerRequests.ephemeralStorage: must be a Kubernetes quantity such as "500m", "2" or "4Gi"',
    ]);
  });
});
