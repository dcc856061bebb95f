import * as assert from "node:assert/strict";
import * as pulumi from "@pulumi/pulumi";
import * as yaml from "js-yaml";
import { deployerRules } from "../../policy/deployerProfile";
import { accessModeConfig, allModeConfig, deliveryModeConfig, SERVER } from "./fixtures";
import { CA_DATA, promiseOf, runProgram, RunResult, secretInput, TOKEN } from "./harness";

const T = {
  provider: "pulumi:providers:kubernetes",
  namespace: "kubernetes:core/v1:Namespace",
  quota: "kubernetes:core/v1:ResourceQuota",
  limits: "kubernetes:core/v1:LimitRange",
  netpol: "kubernetes:networking.k8s.io/v1:NetworkPolicy",
  endpointSlice: "kubernetes:discovery.k8s.io/v1:EndpointSlice",
  vap: "kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicy",
  vapBinding: "kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicyBinding",
  sa: "kubernetes:core/v1:ServiceAccount",
  role: "kubernetes:rbac.authorization.k8s.io/v1:Role",
  binding: "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding",
  secret: "kubernetes:core/v1:Secret",
  deployment: "kubernetes:apps/v1:Deployment",
  service: "kubernetes:core/v1:Service",
  release: "kubernetes:helm.sh/v3:Release",
  random: "random:index/randomString:RandomString",
  stackRef: "pulumi:pulumi:StackReference",
  tokenRequest: "pulumi-nodejs:dynamic/scoped-cd:TokenRequest",
  identityDeletion: "pulumi-nodejs:dynamic/scoped-cd:IdentityDeletion",
  teardown: "pulumi-nodejs:dynamic/scoped-cd:StageTeardown",
};

/** Custom resource types and how many of each were registered. */
function census(run: RunResult): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const r of run.registrations.filter((r) => r.custom))
    counts[r.type] = (counts[r.type] ?? 0) + 1;
  return counts;
}

const providerName = (ref: string) => ref.split("::")[3];

async function run(config: Record<string, any>, opts?: Parameters<typeof runProgram>[1]) {
  const result = await runProgram(config, opts);
  if (result.error) throw result.error;
  return result;
}

const ACCESS_STACK = {
  "prod-access": {
    kubeconfigs: { prod: "apiVersion: v1\nkind: Config\n# scoped prod kubeconfig\n" },
    stages: {
      prod: {
        namespace: "shop-prod",
        serviceAccount: "deployer-abc123",
        rotation: "2026-11",
        tiller: { enabled: true, namespace: "shop-prod" },
        releases: {},
      },
    },
  },
};

describe("the program in mode all", () => {
  let result: RunResult;
  before(async () => {
    result = await run(allModeConfig());
  });

  it("declares namespace, guardrails, deployer, Tiller and the release of the stage", () => {
    assert.deepEqual(census(result), {
      [T.provider]: 2, // admin + scoped
      [T.namespace]: 1,
      [T.quota]: 1,
      [T.limits]: 1,
      [T.netpol]: 3, // ingress + egress isolation, Tiller's egress to the API server
      [T.endpointSlice]: 1, // read: default/kubernetes, the API server as pods reach it
      [T.vap]: 1, // every class merged: policy/admissionPolicies/merged.ts
      [T.vapBinding]: 1,
      [T.random]: 1,
      [T.sa]: 2, // deployer + tiller
      [T.role]: 2,
      [T.binding]: 2,
      [T.tokenRequest]: 1, // the deployer's expiring token (default credential kind)
      [T.deployment]: 1, // tiller
      [T.release]: 1,
      [T.identityDeletion]: 2, // deployer + tiller ServiceAccounts
      [T.teardown]: 1, // the stage is deletable
    });
  });

  it("uses a token type for every component, and parents every child", () => {
    const components = result.registrations.filter((r) => !r.custom);
    assert.deepEqual([...new Set(components.map((c) => c.type))].sort(), [
      "scoped-cd:access:AdmissionGuardrails",
      "scoped-cd:access:DeployerAccess",
      "scoped-cd:access:ScopedNamespace",
      "scoped-cd:access:Tiller",
      "scoped-cd:delivery:StageReleases",
      "scoped-cd:stage:Stage",
    ]);
    const componentUrns = new Set(components.map((c) => c.urn));
    for (const r of result.registrations) {
      if (r.type === "scoped-cd:stage:Stage" || r.name === "admin") continue;
      assert.ok(componentUrns.has(r.parent), `${r.name} is not parented to a component`);
    }
  });

  it("names an explicit provider for every Kubernetes resource", () => {
    const k8sResources = result.registrations.filter(
      (r) => r.custom && r.type.startsWith("kubernetes:"),
    );
    assert.ok(k8sResources.length > 10);
    for (const r of k8sResources) assert.ok(r.provider, `${r.name} uses a default provider`);
  });

  it("gives the deployer Role exactly the profile's rules", () => {
    const role = result.one(T.role, "dev-deployer-role");
    assert.deepEqual(role.inputs.rules, deployerRules({ allowRbac: false, tiller: true }));
  });

  it("exports the kubeconfig as a secret whose context defaults to the stage namespace", async () => {
    const kubeconfigs = result.outputs.kubeconfigs as pulumi.Output<Record<string, string>>;
    assert.equal(await pulumi.isSecret(kubeconfigs), true);
    const doc = yaml.load((await promiseOf(kubeconfigs)).dev) as any;
    assert.equal(doc["current-context"], "local-dev");
    assert.deepEqual(doc.contexts[0].context, {
      cluster: "local",
      user: "dev-deployer",
      namespace: "shop-dev",
    });
    assert.equal(doc.clusters[0].cluster.server, SERVER);
    assert.equal(doc.clusters[0].cluster["certificate-authority-data"], CA_DATA);
    assert.equal(doc.users[0].user.token, TOKEN);
  });

  it("deploys every release in the stage namespace through the scoped provider", async () => {
    const scoped = result.one(T.provider, "dev-releases-scoped");
    const kubeconfigs = await promiseOf(
      result.outputs.kubeconfigs as pulumi.Output<Record<string, string>>,
    );
    assert.equal(secretInput(scoped.inputs.kubeconfig), kubeconfigs.dev);
    for (const release of result.byType(T.release)) {
      assert.equal(providerName(release.provider), "dev-releases-scoped");
      assert.equal(release.inputs.namespace, "shop-dev");
      assert.equal(release.inputs.createNamespace, false);
    }
    assert.equal(scoped.inputs.namespace, "shop-dev");
    assert.equal(scoped.inputs.clusterIdentifier, "local/shop-dev");
  });

  it("keeps the admin provider to the access layer", () => {
    const adminUsers = result.registrations.filter(
      (r) => r.provider && providerName(r.provider) === "admin",
    );
    assert.ok(adminUsers.length > 0);
    assert.ok(adminUsers.every((r) => r.type !== T.release));
  });

  it("waits for the deployer's grants and the guardrails before deploying", () => {
    const scoped = result.one(T.provider, "dev-releases-scoped");
    for (const suffix of [
      "dev-deployer-binding",
      "dev-deployer-role",
      "dev-ns-quota",
      "dev-ns-limits",
    ]) {
      const dep = result.registrations.find((r) => r.name === suffix)!;
      assert.ok(
        scoped.dependencies.includes(dep.urn),
        `scoped provider does not wait for ${suffix}`,
      );
    }
  });

  it("labels the namespace with the Pod Security Admission level", () => {
    const labels = result.one(T.namespace, "dev-ns-namespace").inputs.metadata.labels;
    assert.equal(labels["pod-security.kubernetes.io/enforce"], "restricted");
    assert.equal(labels["app.kubernetes.io/managed-by"], "scoped-cd");
  });

  it("isolates the namespace's ingress to its own pods", () => {
    const spec = result.one(T.netpol, "dev-ns-isolation").inputs.spec;
    assert.deepEqual(spec, {
      podSelector: {},
      policyTypes: ["Ingress"],
      ingress: [{ from: [{ podSelector: {} }] }],
    });
  });

  it("takes back manual edits of guardrails and RBAC on the next up (forced apply)", () => {
    for (const [type, name] of [
      [T.namespace, "dev-ns-namespace"],
      [T.quota, "dev-ns-quota"],
      [T.limits, "dev-ns-limits"],
      [T.netpol, "dev-ns-isolation"],
      [T.role, "dev-deployer-role"],
      [T.binding, "dev-deployer-binding"],
      [T.role, "dev-tiller-role"],
    ]) {
      const annotations = result.one(type, name).inputs.metadata.annotations;
      assert.equal(annotations?.["pulumi.com/patchForce"], "true", name);
    }
  });

  it("lets a deletable stage's namespace be deleted", () => {
    assert.equal(result.one(T.namespace, "dev-ns-namespace").retainOnDelete, false);
  });

  it("runs Tiller hardened, on localhost, with secret storage", () => {
    const deployment = result.one(T.deployment, "dev-tiller-deploy");
    const pod = deployment.inputs.spec.template.spec;
    const [container] = pod.containers;
    assert.ok(container.args.includes("--storage=secret"));
    assert.ok(container.args.includes("--listen=localhost:44134"));
    assert.equal(container.image, "ghcr.io/helm/tiller:v2.17.0");
    assert.deepEqual(container.securityContext, {
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      runAsNonRoot: true,
      capabilities: { drop: ["ALL"] },
    });
    assert.equal(pod.securityContext.runAsNonRoot, true);
    assert.ok(container.resources.limits.cpu && container.resources.limits.memory);
    // Tiller's identity carries the deployer's rotation suffix: a rotation replaces it too.
    const suffix = result
      .one(T.sa, "dev-deployer-sa")
      .inputs.metadata.name.replace("deployer-", "");
    assert.equal(pod.serviceAccountName, `tiller-${suffix}`);
    assert.equal(result.byType(T.service).length, 0, "no Service may expose Tiller");
  });

  it("gives Tiller a Role no wider than the deployer's", () => {
    const tiller = result.one(T.role, "dev-tiller-role").inputs.rules;
    const deployer = result.one(T.role, "dev-deployer-role").inputs.rules;
    for (const rule of tiller)
      assert.ok(deployer.some((d: any) => JSON.stringify(d) === JSON.stringify(rule)));
  });

  it("exports a plain stages summary", async () => {
    const stages = result.outputs.stages as pulumi.Output<any>;
    assert.equal(await pulumi.isSecret(stages), false);
    const summary = await promiseOf(stages);
    // The summary names Tiller's mode and in-cluster identity (verify checks both).
    const { serviceAccount: tillerAccount, ...tiller } = summary.dev.tiller;
    assert.deepEqual(tiller, {
      enabled: true,
      namespace: "shop-dev",
      mode: "cluster",
      historyMax: 10,
    });
    assert.match(tillerAccount, /^tiller-[a-z0-9]{6}$/);
    assert.equal(summary.dev.namespace, "shop-dev");
    assert.equal(summary.dev.rotation, "2026-11");
    assert.match(summary.dev.serviceAccount, /^deployer-[a-z0-9]{6}$/);
    assert.deepEqual(summary.dev.releases.storefront, {
      chart: "./charts/storefront",
      version: "1.4.2",
      status: "deployed",
      revision: 1,
    });
    assert.ok(!JSON.stringify(summary).includes(TOKEN));
  });

  it("lets no token reach a resource name", () => {
    for (const r of result.registrations)
      assert.ok(!r.name.includes(TOKEN) && !r.urn.includes(TOKEN));
  });
});

describe("Tiller", () => {
  it("is absent, and the deployer gets no port-forward, when the stage does not enable it", async () => {
    const config = allModeConfig();
    config.stages.dev.tiller.enabled = false;
    const result = await run(config);
    assert.equal(result.byType(T.deployment).length, 0);
    assert.equal(
      result.registrations.filter((r) => r.type === "scoped-cd:access:Tiller").length,
      0,
    );
    const rules = result.one(T.role, "dev-deployer-role").inputs.rules;
    assert.ok(!rules.some((r: any) => r.resources.includes("pods/portforward")));
  });
});

describe("a non-deletable stage", () => {
  it("keeps its namespace when the stage is removed", async () => {
    const config = allModeConfig();
    config.stages.dev.deletable = false;
    const result = await run(config);
    assert.equal(result.one(T.namespace, "dev-ns-namespace").retainOnDelete, true);
  });
});

describe("token rotation", () => {
  async function identity(rotation: string) {
    const config = allModeConfig();
    config.stages.dev.deployer.rotation = rotation;
    const result = await run(config);
    const token = result.one(T.tokenRequest, "dev-deployer-token");
    return {
      tokenSecret: token.inputs.serviceAccountName as string,
      tiller: result.one(T.sa, "dev-tiller-sa").inputs.metadata.name as string,
      serviceAccount: result.one(T.sa, "dev-deployer-sa").inputs.metadata.name as string,
      clusterIdentifier: result.one(T.provider, "dev-releases-scoped").inputs
        .clusterIdentifier as string,
      release: result.one(T.release, "dev-releases-storefront"),
    };
  }

  it("replaces the token's identity and Tiller's but keeps the provider's cluster identity", async () => {
    const before = await identity("2026-11");
    const after = await identity("2026-12");
    assert.notEqual(after.tokenSecret, before.tokenSecret);
    assert.notEqual(after.tiller, before.tiller);
    assert.notEqual(after.serviceAccount, before.serviceAccount);
    assert.equal(after.clusterIdentifier, before.clusterIdentifier);
    assert.equal(after.release.name, before.release.name);
  });

  it("keeps the same names while the rotation key is unchanged", async () => {
    assert.deepEqual(
      (await identity("2026-11")).tokenSecret,
      (await identity("2026-11")).tokenSecret,
    );
  });
});

describe("the program in mode access", () => {
  it("declares the access layer and the kubeconfig, but no release and no scoped provider", async () => {
    const result = await run(accessModeConfig());
    const counts = census(result);
    assert.equal(counts[T.release], undefined);
    assert.equal(counts[T.provider], 1);
    assert.equal(result.byType(T.provider)[0].name, "admin");
    assert.equal(counts[T.namespace], 1);
    assert.equal(result.one(T.namespace, "prod-ns-namespace").retainOnDelete, true);
    const kubeconfigs = result.outputs.kubeconfigs as pulumi.Output<Record<string, string>>;
    assert.equal(await pulumi.isSecret(kubeconfigs), true);
    assert.deepEqual(Object.keys(await promiseOf(kubeconfigs)), ["prod"]);
  });
});

describe("the program in mode delivery", () => {
  let result: RunResult;
  before(async () => {
    result = await run(deliveryModeConfig(), { stacks: ACCESS_STACK });
  });

  it("creates no admin provider and no access-layer resource", () => {
    assert.deepEqual(census(result), { [T.stackRef]: 1, [T.provider]: 1, [T.release]: 1 });
    assert.equal(result.byType(T.provider)[0].name, "prod-releases-scoped");
  });

  it("deploys through the kubeconfig the access stack exports", () => {
    const provider = result.one(T.provider, "prod-releases-scoped");
    assert.equal(
      secretInput(provider.inputs.kubeconfig),
      ACCESS_STACK["prod-access"].kubeconfigs.prod,
    );
    assert.equal(providerName(result.byType(T.release)[0].provider), "prod-releases-scoped");
  });

  it("exports no kubeconfigs, and the access stack's identity in stages", async () => {
    assert.equal(result.outputs.kubeconfigs, undefined);
    const summary = await promiseOf(result.outputs.stages as pulumi.Output<any>);
    assert.equal(summary.prod.serviceAccount, "deployer-abc123");
    assert.deepEqual(summary.prod.tiller, { enabled: true, namespace: "shop-prod" });
  });

  it("fails clearly when the access stack has no kubeconfig for the stage", async () => {
    const config = deliveryModeConfig();
    config.stages.qa = config.stages.prod;
    delete config.stages.prod;
    config.stages.qa.namespace = "shop-qa";
    const outcome = await runProgram(config, { stacks: ACCESS_STACK });
    const provider = outcome.registrations.find((r) => r.type === T.provider);
    assert.equal(provider, undefined, "no provider may be built without a kubeconfig");
    assert.ok(outcome.error instanceof pulumi.RunError, String(outcome.error));
    assert.equal(
      (outcome.error as Error).message,
      "scoped-cd:accessStack: stack prod-access exports no kubeconfig for stage qa (it has prod); " +
        "declare the stage in the access stack and run its `up`, or fix the stage name",
    );
  });

  it("takes the kubeconfig from secret config when no access stack is named", async () => {
    const config = deliveryModeConfig();
    delete config.accessStack;
    config.kubeconfig = "apiVersion: v1\nkind: Config\n# from secret config\n";
    const outcome = await run(config, { secretKeys: ["kubeconfig"] });
    assert.equal(outcome.byType(T.stackRef).length, 0);
    const provider = outcome.one(T.provider, "prod-releases-scoped");
    assert.equal(secretInput(provider.inputs.kubeconfig), config.kubeconfig);
  });
});

describe("the admin credential (modes all and access)", () => {
  it("is required before anything is registered, with what to do when it is missing", async () => {
    const outcome = await runProgram(accessModeConfig(), {
      adminKubeconfig: "/nonexistent/admin.kubeconfig",
    });
    assert.ok(outcome.error instanceof pulumi.RunError, String(outcome.error));
    assert.equal(
      (outcome.error as Error).message,
      "scoped-cd:mode: mode access declares the access layer and needs the cluster's admin kubeconfig, " +
        "but none was found (looked for /nonexistent/admin.kubeconfig): set KUBECONFIG to the cluster " +
        "operators' admin kubeconfig (or cluster.context to one of its contexts); CI deploys through a " +
        "delivery stack, which needs no admin credential",
    );
    assert.deepEqual(outcome.registrations, []);
  });

  it("names the context that the admin kubeconfig lacks", async () => {
    const config = accessModeConfig();
    config.cluster.context = "prod-admin";
    const outcome = await runProgram(config);
    assert.match(
      String((outcome.error as Error)?.message),
      /^scoped-cd:cluster\.context: the admin kubeconfig \(.*admin\.kubeconfig\) has no context prod-admin \(it has unit, other\)$/,
    );
    assert.deepEqual(outcome.registrations, []);
  });

  it("gives scoped kubeconfigs the admin kubeconfig's server when cluster.server is unset", async () => {
    const config = accessModeConfig();
    delete config.cluster.server;
    const outcome = await run(config);
    const kubeconfigs = await promiseOf(outcome.outputs.kubeconfigs as pulumi.Output<any>);
    const doc = yaml.load(kubeconfigs.prod) as any;
    assert.equal(doc.clusters[0].cluster.server, "https://127.0.0.1:6443");
  });
});
