// The namespace's guardrails (docs/security.md: admission, quota, authoritative objects),
// attacked on the real API server with the stage's scoped kubeconfig only. One stack, shared by
// the tests below, which run in order; most attempts are server-side dry-run creates.
import * as assert from "node:assert/strict";
import * as path from "node:path";
import { admissionProbes, refusalText } from "../../policy/admissionProbes";
import { policyName } from "../../policy/admission";
import { MERGED_CLASS } from "../../policy/admissionPolicies/merged";
import { adminClients, Clients, clientsFor, messageOf } from "./kube";
import {
  collect,
  createTestStack,
  REPO,
  runCli,
  TestStack,
  uniqueSuffix,
  waitFor,
} from "./support";

const suffix = uniqueSuffix();
const NS = `e2e-guard-${suffix}`;
const NS_OTHER = `e2e-guard-o-${suffix}`;
const CHART = path.join(REPO, "test/e2e/charts/guarded");
const KEY = "scoped-cd:stages.g.guardrails";

function stackConfig(intercept = false) {
  return {
    mode: "all",
    cluster: { name: "local" },
    stages: {
      g: {
        namespace: NS,
        deletable: true,
        deployer: { allowRbac: true },
        guardrails: {
          quota: { configmaps: "4" },
          ingress: { allowHosts: ["*.test.example.com"], allowClasses: ["nginx"] },
        },
        releases: {
          guarded: { chart: CHART, values: { intercept }, timeoutSeconds: 60 },
        },
      },
      o: { namespace: NS_OTHER, deletable: true },
    },
  };
}

const meta = (name: string) => ({ name: `${name}-${suffix}`, namespace: NS });

describe("guardrails of the stage namespace on the real API server", function () {
  this.timeout(8 * 60_000);
  let t: TestStack;
  let admin: Clients;
  let scoped: Clients;
  let deployerSa: string;

  /** Dry-run create as the scoped identity: "" when admitted, else the API server's message. */
  const attempt = (obj: Record<string, unknown>) =>
    messageOf(scoped.objects.create(obj as never, undefined, "All"));

  before(async () => {
    admin = await adminClients();
    t = await createTestStack("guard");
    t.setConfig(stackConfig());
    const up = await t.stack.up({ onOutput: collect(t) });
    scoped = await clientsFor(up.outputs.kubeconfigs.value.g);
    deployerSa = up.outputs.stages.value.g.serviceAccount;
  });

  after(async function () {
    if (process.env.E2E_VERBOSE || this.currentTest?.state === "failed")
      console.log(t?.log.join(""));
    await t?.stack.destroy({ onOutput: collect(t) }).catch((err) => console.error(String(err)));
    await t?.remove().catch(() => undefined);
  });

  it("previews no change on a clean stack (the reconcile tokens are stable)", async () => {
    const preview = await t.stack.preview({ onOutput: collect(t), refresh: true });
    const changed = Object.entries(preview.changeSummary).filter(([op]) => op !== "same");
    assert.deepEqual(changed, [], preview.stdout.slice(-3000));
  });

  it("refuses every verify probe with its rule's message and admits the ordinary objects", async () => {
    for (const probe of admissionProbes(NS, suffix)) {
      const message = await attempt(probe.object);
      if (probe.expect === "admitted") assert.equal(message, "", probe.description);
      else
        assert.ok(message.includes(refusalText(probe.rule!)), `${probe.description}: ${message}`);
    }
  });

  describe("Services", () => {
    const service = (name: string, spec: Record<string, unknown>) => ({
      apiVersion: "v1",
      kind: "Service",
      metadata: meta(name),
      spec: { ports: [{ port: 80 }], ...spec },
    });

    it("refuses NodePort, LoadBalancer and ExternalName, naming the key that allows them", async () => {
      for (const spec of [
        { type: "NodePort" },
        { type: "LoadBalancer" },
        { type: "ExternalName", externalName: "kubernetes.default.svc.cluster.local", ports: [] },
      ]) {
        const message = await attempt(service(`t-${spec.type.toLowerCase()}`, spec));
        assert.ok(message.includes(`Service type ${spec.type} is not allowed`), message);
        assert.ok(message.includes(`${KEY}.services.allowTypes`), message);
      }
    });

    it("refuses externalIPs on UPDATE of an admitted Service too", async () => {
      const created = (await scoped.objects.create(service("upd", {}) as never)) as any;
      const message = await messageOf(
        scoped.objects.replace({
          ...created,
          spec: { ...(created as any).spec, externalIPs: ["203.0.113.9"] },
        } as never),
      );
      assert.ok(message.includes(refusalText("services.externalIPs")), message);
      await scoped.objects.delete(created);
    });
  });

  describe("Ingresses", () => {
    const ingress = (name: string, spec: Record<string, unknown>, annotations = {}) => ({
      apiVersion: "networking.k8s.io/v1",
      kind: "Ingress",
      metadata: { ...meta(name), annotations },
      spec: { ingressClassName: "nginx", ...spec },
    });
    const backend = { service: { name: "web", port: { number: 80 } } };
    const rule = (host?: string) => ({
      ...(host ? { host } : {}),
      http: { paths: [{ path: "/", pathType: "Prefix", backend }] },
    });

    it("admits an Ingress on an allowed host with an allowed class and Helm's annotations", async () => {
      const message = await attempt(
        ingress(
          "ok",
          { rules: [rule("shop.test.example.com")], tls: [{ hosts: ["shop.test.example.com"] }] },
          {
            "meta.helm.sh/release-name": "guarded",
          },
        ),
      );
      assert.equal(message, "");
    });

    it("refuses another stage's host, a wildcard host, a rule without host and a foreign TLS host", async () => {
      for (const spec of [
        { rules: [rule("shop.prod.example.com")] },
        { rules: [rule("*.test.example.com")] },
        { rules: [rule()] },
        { rules: [rule("shop.test.example.com")], tls: [{ hosts: ["shop.prod.example.com"] }] },
      ]) {
        const message = await attempt(ingress("host", spec));
        assert.ok(message.includes(refusalText("ingress.host")), message);
        assert.ok(message.includes(`${KEY}.ingress.allowHosts`), message);
      }
    });

    it("refuses another ingress class, by field or by the legacy annotation", async () => {
      for (const [spec, annotations] of [
        [{ ingressClassName: "internal" }, {}],
        [{ ingressClassName: undefined }, { "kubernetes.io/ingress.class": "internal" }],
      ] as const) {
        const message = await attempt(
          ingress("cls", { rules: [rule("a.test.example.com")], ...spec }, annotations),
        );
        assert.ok(message.includes(refusalText("ingress.class")), message);
      }
    });

    it("refuses the injection families and unlisted annotations", async () => {
      for (const key of [
        "nginx.ingress.kubernetes.io/server-snippet",
        "nginx.ingress.kubernetes.io/server-alias",
        "nginx.org/location-snippets",
        "traefik.ingress.kubernetes.io/router.middlewares",
      ]) {
        const message = await attempt(
          ingress("ann", { rules: [rule("a.test.example.com")] }, { [key]: "x" }),
        );
        assert.ok(message.includes(`annotation ${key} injects`), message);
      }
      const message = await attempt(
        ingress("ann", { rules: [rule("a.test.example.com")] }, { "example.com/whatever": "x" }),
      );
      assert.ok(message.includes(`${KEY}.ingress.allowAnnotations`), message);
    });
  });

  describe("workload scheduling on every pod template", () => {
    const spec = (extra: Record<string, unknown>) => ({
      securityContext: {
        runAsNonRoot: true,
        runAsUser: 101,
        seccompProfile: { type: "RuntimeDefault" },
      },
      restartPolicy: "Never",
      containers: [
        {
          name: "c",
          image: "registry.invalid/c:1",
          securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] } },
        },
      ],
      ...extra,
    });
    const template = (extra: Record<string, unknown>) => ({
      metadata: { labels: { a: "b" } },
      spec: spec(extra),
    });

    it("refuses priority classes, nodeName and control-plane tolerations in Jobs, CronJobs and StatefulSets", async () => {
      const cases: [string, Record<string, unknown>][] = [
        ["workloads.priorityClassName", { priorityClassName: "system-cluster-critical" }],
        ["workloads.priorityClassName", { priorityClassName: "high" }],
        ["workloads.nodeName", { nodeName: "control-plane-1" }],
        [
          "workloads.tolerations",
          { tolerations: [{ key: "node-role.kubernetes.io/control-plane", operator: "Exists" }] },
        ],
        ["workloads.tolerations", { tolerations: [{ operator: "Exists", effect: "NoSchedule" }] }],
      ];
      for (const [ruleId, extra] of cases) {
        for (const obj of [
          {
            apiVersion: "batch/v1",
            kind: "Job",
            metadata: meta("job"),
            spec: { template: template(extra) },
          },
          {
            apiVersion: "batch/v1",
            kind: "CronJob",
            metadata: meta("cron"),
            spec: { schedule: "0 0 1 1 *", jobTemplate: { spec: { template: template(extra) } } },
          },
          {
            apiVersion: "apps/v1",
            kind: "StatefulSet",
            metadata: meta("sts"),
            spec: {
              serviceName: "x",
              selector: { matchLabels: { a: "b" } },
              template: { ...template(extra), spec: { ...spec(extra), restartPolicy: "Always" } },
            },
          },
        ]) {
          const message = await attempt(obj);
          assert.ok(
            message.includes(refusalText(ruleId)),
            `${obj.kind} ${JSON.stringify(extra)}: ${message}`,
          );
        }
      }
    });

    // The deployer may not create these kinds at all (RBAC); the scheduling rules bind everyone
    // (only the identity rules are limited to CI requesters), so an admin's dry-run proves that
    // the policy covers them should a Role ever grant them.
    it("covers Pods, ReplicaSets, DaemonSets and ReplicationControllers too", async () => {
      const selector = { matchLabels: { a: "b" } };
      const bad = { priorityClassName: "system-node-critical" };
      for (const obj of [
        { apiVersion: "v1", kind: "Pod", metadata: meta("pod"), spec: spec(bad) },
        {
          apiVersion: "apps/v1",
          kind: "ReplicaSet",
          metadata: meta("rs"),
          spec: {
            selector,
            template: { ...template(bad), spec: { ...spec(bad), restartPolicy: "Always" } },
          },
        },
        {
          apiVersion: "apps/v1",
          kind: "DaemonSet",
          metadata: meta("ds"),
          spec: {
            selector,
            template: { ...template(bad), spec: { ...spec(bad), restartPolicy: "Always" } },
          },
        },
        {
          apiVersion: "v1",
          kind: "ReplicationController",
          metadata: meta("rc"),
          spec: {
            selector: { a: "b" },
            template: { ...template(bad), spec: { ...spec(bad), restartPolicy: "Always" } },
          },
        },
      ]) {
        const message = await messageOf(admin.objects.create(obj as never, undefined, "All"));
        assert.ok(
          message.includes(refusalText("workloads.priorityClassName")),
          `${obj.kind}: ${message}`,
        );
        assert.equal(await attempt(obj).then((m) => m.includes("forbidden")), true, obj.kind);
      }
    });

    it("refuses a toleration added to the chart's running Deployment (UPDATE)", async () => {
      const current = (await scoped.apps.readNamespacedDeployment({
        name: "guarded",
        namespace: NS,
      })) as any;
      current.spec.template.spec.tolerations = [
        { key: "node-role.kubernetes.io/master", operator: "Exists" },
      ];
      const message = await messageOf(
        scoped.apps.replaceNamespacedDeployment({
          name: "guarded",
          namespace: NS,
          body: current,
          dryRun: "All",
        }),
      );
      assert.ok(message.includes(refusalText("workloads.tolerations")), message);
    });
  });

  describe("PodDisruptionBudgets", () => {
    const pdb = (budget: Record<string, unknown>) => ({
      apiVersion: "policy/v1",
      kind: "PodDisruptionBudget",
      metadata: meta("pdb"),
      spec: { selector: { matchLabels: { a: "b" } }, ...budget },
    });

    it("refuses budgets that can block every eviction and admits maxUnavailable 1", async () => {
      assert.ok(
        (await attempt(pdb({ maxUnavailable: "0%" }))).includes(
          refusalText("disruptionBudgets.maxUnavailable"),
        ),
      );
      for (const minAvailable of [1, "100%", "50%"]) {
        const message = await attempt(pdb({ minAvailable }));
        assert.ok(message.includes(`${KEY}.disruptionBudgets.allowMinAvailable`), message);
      }
      assert.equal(await attempt(pdb({ maxUnavailable: 1 })), "");
    });
  });

  describe("RoleBindings (allowRbac)", () => {
    const binding = (
      subjects: Record<string, unknown>[],
      roleRef = { kind: "Role", name: "scoped-deployer" },
    ) => ({
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "RoleBinding",
      metadata: meta("rb"),
      roleRef: { apiGroup: "rbac.authorization.k8s.io", ...roleRef },
      subjects,
    });

    it("refuses groups, users and other namespaces' accounts, admits an own ServiceAccount", async () => {
      for (const subject of [
        { kind: "Group", apiGroup: "rbac.authorization.k8s.io", name: "system:authenticated" },
        {
          kind: "Group",
          apiGroup: "rbac.authorization.k8s.io",
          name: `system:serviceaccounts:${NS}`,
        },
        { kind: "User", apiGroup: "rbac.authorization.k8s.io", name: "mallory" },
        { kind: "ServiceAccount", name: "default", namespace: NS_OTHER },
      ]) {
        const message = await attempt(binding([subject]));
        assert.ok(message.includes(refusalText("rbac.subjects")), `${subject.name}: ${message}`);
      }
      assert.equal(
        await attempt(binding([{ kind: "ServiceAccount", name: "default", namespace: NS }])),
        "",
      );
    });

    // A ClusterRole the deployer holds entirely, so the escalation check lets it through.
    it("refuses a binding of a ClusterRole", async () => {
      const message = await attempt(
        binding([{ kind: "ServiceAccount", name: "default" }], {
          kind: "ClusterRole",
          name: "system:basic-user",
        }),
      );
      assert.ok(message.includes(refusalText("rbac.roleRef")), message);
    });
  });

  describe("identities", () => {
    it("refuses legacy token Secrets for the deployer, Tiller and default accounts", async () => {
      for (const account of [deployerSa, "tiller", "default"]) {
        const message = await attempt({
          apiVersion: "v1",
          kind: "Secret",
          metadata: {
            ...meta("tok"),
            annotations: { "kubernetes.io/service-account.name": account },
          },
          type: "kubernetes.io/service-account-token",
        });
        assert.ok(
          message.includes(refusalText("identities.tokenSecret")),
          `${account}: ${message}`,
        );
      }
    });

    it("cannot turn an Opaque Secret into a token Secret by UPDATE", async () => {
      const created = (await scoped.objects.create({
        apiVersion: "v1",
        kind: "Secret",
        metadata: {
          ...meta("opaque"),
          annotations: { "kubernetes.io/service-account.name": "default" },
        },
        type: "Opaque",
      } as never)) as any;
      const message = await messageOf(
        scoped.objects.replace({
          ...created,
          type: "kubernetes.io/service-account-token",
        } as never),
      );
      assert.ok(/immutable|identities\.tokenSecret/.test(message), message);
      await scoped.objects.delete(created);
    });

    it("refuses a Job that runs as the deployer's own ServiceAccount", async () => {
      const message = await attempt({
        apiVersion: "batch/v1",
        kind: "Job",
        metadata: meta("asdeployer"),
        spec: {
          template: {
            spec: {
              serviceAccountName: deployerSa,
              restartPolicy: "Never",
              containers: [{ name: "c", image: "registry.invalid/c:1" }],
            },
          },
        },
      });
      assert.ok(message.includes(refusalText("identities.serviceAccountName")), message);
    });
  });

  describe("trust and storage", () => {
    it("refuses a rewrite of the namespace's cluster CA, which the next kubeconfig would trust", async () => {
      const ca = (await scoped.core.readNamespacedConfigMap({
        name: "kube-root-ca.crt",
        namespace: NS,
      })) as any;
      const message = await messageOf(
        scoped.core.replaceNamespacedConfigMap({
          name: "kube-root-ca.crt",
          namespace: NS,
          body: { ...ca, data: { "ca.crt": "-----BEGIN CERTIFICATE-----\nattacker\n" } },
        }),
      );
      assert.ok(message.includes(refusalText("identities.clusterCA")), message);
      const after = await admin.core.readNamespacedConfigMap({
        name: "kube-root-ca.crt",
        namespace: NS,
      });
      assert.equal(after.data?.["ca.crt"], ca.data["ca.crt"]);
    });

    it("refuses a claim that names a PersistentVolume, admits one that lets the class provision", async () => {
      const claim = (volumeName?: string) => ({
        apiVersion: "v1",
        kind: "PersistentVolumeClaim",
        metadata: meta(volumeName ? "pvc-named" : "pvc"),
        spec: {
          accessModes: ["ReadWriteOnce"],
          resources: { requests: { storage: "1Gi" } },
          ...(volumeName ? { volumeName } : {}),
        },
      });
      const message = await attempt(claim("another-tenants-volume"));
      assert.ok(message.includes(refusalText("volumes.volumeName")), message);
      assert.equal(await attempt(claim()), "");
    });
  });

  it("refuses ConfigMaps beyond the quota's object count", async () => {
    let refusal = "";
    for (let i = 0; i < 6 && !refusal; i++) {
      refusal = await messageOf(
        scoped.objects.create({
          apiVersion: "v1",
          kind: "ConfigMap",
          metadata: meta(`fill-${i}`),
          data: { k: "v" },
        } as never),
      );
    }
    assert.match(refusal, /exceeded quota: stage-quota.*configmaps/);
    // Leave nothing behind: verify's inventory would list them (and rightly so).
    for (let i = 0; i < 6; i++) {
      await scoped.objects
        .delete({ apiVersion: "v1", kind: "ConfigMap", metadata: meta(`fill-${i}`) } as never)
        .catch(() => undefined);
    }
  });

  it("fails a release whose chart ships an externalIPs Service, keeping the previous revision", async () => {
    t.setConfig(stackConfig(true));
    const failed = await t.stack.up({ onOutput: collect(t) }).then(
      () => "",
      (err) => String(err),
    );
    assert.ok(failed.includes(refusalText("services.externalIPs")), failed.slice(-2000));
    const service = await admin.core.readNamespacedService({ name: "guarded", namespace: NS });
    assert.equal(service.spec?.externalIPs, undefined);
    const deployment = await admin.apps.readNamespacedDeployment({
      name: "guarded",
      namespace: NS,
    });
    assert.equal(deployment.status?.readyReplicas, 1);
    t.setConfig(stackConfig(false));
  });

  it("undoes an appended Role rule and a weakened policy binding on the next up", async () => {
    const role = await admin.rbac.readNamespacedRole({ name: "scoped-deployer", namespace: NS });
    const declared = role.rules ?? [];
    role.rules = [...declared, { apiGroups: ["*"], resources: ["*"], verbs: ["*"] }];
    await admin.rbac.replaceNamespacedRole({ name: "scoped-deployer", namespace: NS, body: role });
    const name = policyName(NS, MERGED_CLASS);
    const binding = (await admin.objects.read({
      apiVersion: "admissionregistration.k8s.io/v1",
      kind: "ValidatingAdmissionPolicyBinding",
      metadata: { name },
    } as never)) as any;
    binding.spec.matchResources.excludeResourceRules = [
      { apiGroups: [""], apiVersions: ["*"], operations: ["*"], resources: ["services"] },
    ];
    await admin.objects.replace(binding);

    // A refreshing preview (what `drift` runs) shows both objects as updates.
    const preview = await t.stack.preview({ onOutput: collect(t), refresh: true, diff: true });
    assert.ok((preview.changeSummary.update ?? 0) >= 2, preview.stdout.slice(-3000));
    await t.stack.up({ onOutput: collect(t) });
    const after = await admin.rbac.readNamespacedRole({ name: "scoped-deployer", namespace: NS });
    assert.deepEqual(after.rules, declared);
    const restored = (await admin.objects.read(binding)) as any;
    assert.equal(restored.spec.matchResources.excludeResourceRules?.length ?? 0, 0);
  });

  it("fails verify after an admin deletes one policy binding, and passes after up", async () => {
    const verify = () =>
      runCli(["verify", "--work-dir", t.workDir, "--stack", t.name, "--stage", "g"]);
    const name = policyName(NS, MERGED_CLASS);
    await admin.objects.delete({
      apiVersion: "admissionregistration.k8s.io/v1",
      kind: "ValidatingAdmissionPolicyBinding",
      metadata: { name },
    } as never);
    // The API server's policy cache follows the deletion within a moment.
    const failed = await waitFor("verify to fail", 30, async () => {
      const r = await verify();
      return r.code === 1 ? r : undefined;
    });
    assert.match(failed.stdout, /externalIPs/);
    await t.stack.up({ onOutput: collect(t), refresh: true });
    let last = "";
    const ok = await waitFor("verify to pass", 30, async () => {
      const r = await verify();
      last = r.stdout + r.stderr;
      return r.code === 0 ? r : undefined;
    }).catch((err) => assert.fail(`${String(err)}\n${last}`));
    assert.equal(ok.code, 0);
    // It asked about the stack's other stage and the identity's effective rules too.
    assert.ok(ok.stdout.includes(NS_OTHER), ok.stdout);
    assert.match(ok.stdout, /stay within the deployer profile/);
  });
});
