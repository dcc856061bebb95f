// The security model (docs/security.md), proven against the real API server with the real
// Pulumi CLI. One stack with two stages is shared by the describes below, which run in order.
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { EngineEvent, OpType } from "@pulumi/pulumi/automation";
import { deployerRules } from "../../policy/deployerProfile";
import {
  adminClients,
  canI,
  Clients,
  clientsFor,
  loadClientNode,
  messageOf,
  statusOf,
  tokenOf,
} from "./kube";
import {
  collect,
  createTestStack,
  execFileAsync,
  REPO,
  TEST_PASSPHRASE,
  TestStack,
  uniqueSuffix,
  waitFor,
  pathsContaining,
} from "./support";

const suffix = uniqueSuffix();
const NS_A = `e2e-sec-a-${suffix}`;
const NS_B = `e2e-sec-b-${suffix}`;
const CHART = "./charts/storefront";

function stackConfig(overrides: { rotation?: string; chart?: string } = {}) {
  return {
    mode: "all",
    cluster: { name: "local" },
    stages: {
      a: {
        namespace: NS_A,
        deletable: true,
        deployer: { rotation: overrides.rotation ?? "r1", allowRbac: true },
        tiller: { enabled: true },
        releases: {
          storefront: { chart: overrides.chart ?? CHART, timeoutSeconds: 120 },
        },
      },
      b: { namespace: NS_B, deletable: true },
    },
  };
}

/** Write a kubeconfig to a 0600 temp file for kubectl. */
function kubeconfigFile(text: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "scoped-cd-kc-"));
  const file = path.join(dir, "kubeconfig");
  fs.writeFileSync(file, text, { mode: 0o600 });
  return file;
}

/** kubectl's outcome: "ok" or its stderr. */
async function kubectlOutcome(kubeconfig: string, ...args: string[]): Promise<string> {
  try {
    await execFileAsync("kubectl", ["--kubeconfig", kubeconfig, ...args], { timeout: 60_000 });
    return "ok";
  } catch (err) {
    return String((err as { stderr?: string }).stderr ?? err);
  }
}

/**
 * Update an object's labels with a read-modify-replace, retried on 409: the Deployment controller
 * writes status between our read and our replace.
 */
async function replaceWithRetry(
  clients: Clients,
  obj: { apiVersion: string; kind: string; metadata: { name: string; namespace: string } },
  labels: Record<string, string>,
) {
  for (let attempt = 1; ; attempt++) {
    const current = await clients.objects.read(obj);
    try {
      return await clients.objects.replace({
        ...current,
        metadata: { ...current.metadata, labels },
      });
    } catch (err) {
      if ((err as { code?: number }).code !== 409 || attempt >= 5) throw err;
    }
  }
}

describe("security model on the real API server", function () {
  this.timeout(15 * 60_000);
  let t: TestStack;
  let admin: Clients;
  let kubeconfigA: string;
  let scoped: Clients;

  before(async () => {
    admin = await adminClients();
    t = await createTestStack("security");
    t.setConfig(stackConfig());
    const up = await t.stack.up({ onOutput: collect(t) });
    kubeconfigA = up.outputs.kubeconfigs.value.a;
    scoped = await clientsFor(kubeconfigA);
  });

  after(async function () {
    if (process.env.E2E_VERBOSE || this.currentTest?.state === "failed")
      console.log(t.log.join(""));
    await t?.stack.destroy({ onOutput: collect(t) }).catch((err) => console.error(String(err)));
    await t?.remove().catch(() => undefined);
  });

  describe("containment of the scoped kubeconfig (real requests)", () => {
    const configMap = (name: string, namespace: string) => ({
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name, namespace },
      data: { k: "v" },
    });

    it("may create, update and delete Deployments, Services, ConfigMaps and Secrets in its namespace", async () => {
      const objects = [
        {
          apiVersion: "apps/v1",
          kind: "Deployment",
          metadata: { name: "probe", namespace: NS_A },
          spec: {
            replicas: 0,
            selector: { matchLabels: { app: "probe" } },
            template: {
              metadata: { labels: { app: "probe" } },
              spec: {
                securityContext: {
                  runAsNonRoot: true,
                  runAsUser: 1000,
                  seccompProfile: { type: "RuntimeDefault" },
                },
                containers: [
                  {
                    name: "c",
                    image: "registry.k8s.io/pause:3.10",
                    securityContext: {
                      allowPrivilegeEscalation: false,
                      capabilities: { drop: ["ALL"] },
                    },
                  },
                ],
              },
            },
          },
        },
        {
          apiVersion: "v1",
          kind: "Service",
          metadata: { name: "probe", namespace: NS_A },
          spec: { selector: { app: "probe" }, ports: [{ port: 80 }] },
        },
        configMap("probe", NS_A),
        {
          apiVersion: "v1",
          kind: "Secret",
          metadata: { name: "probe", namespace: NS_A },
          stringData: { k: "v" },
        },
      ];
      for (const obj of objects) {
        await scoped.objects.create(obj);
        const replaced = await replaceWithRetry(scoped, obj, { touched: "yes" });
        assert.equal(replaced.metadata?.labels?.touched, "yes", `${obj.kind} update`);
        await scoped.objects.delete(obj);
      }
    });

    it("may read pod logs and port-forward to Tiller (by SelfSubjectAccessReview: no kubelet here)", async () => {
      assert.equal(
        await canI(scoped, { verb: "get", resource: "pods", subresource: "log", namespace: NS_A }),
        true,
      );
      assert.equal(
        await canI(scoped, {
          verb: "create",
          resource: "pods",
          subresource: "portforward",
          namespace: NS_A,
        }),
        true,
      );
    });

    it("is allowed the discovery endpoints every identity gets, and nothing more cluster-wide", async () => {
      const k = await loadClientNode();
      // system:discovery: /version, /api, /apis are open to every authenticated identity.
      assert.ok((await scoped.kc.makeApiClient(k.VersionApi).getCode()).gitVersion);
      assert.ok((await scoped.kc.makeApiClient(k.CoreApi).getAPIVersions()).versions.length > 0);
      assert.ok((await scoped.kc.makeApiClient(k.ApisApi).getAPIVersions()).groups.length > 0);
      assert.equal(await statusOf(scoped.core.listNamespace()), 403);
      assert.equal(await statusOf(scoped.core.listNode()), 403);
    });

    it("is forbidden everything in kube-system and in the other stage's namespace", async () => {
      for (const namespace of ["kube-system", NS_B]) {
        assert.equal(await statusOf(scoped.core.listNamespacedPod({ namespace })), 403, namespace);
        assert.equal(
          await statusOf(scoped.core.listNamespacedSecret({ namespace })),
          403,
          namespace,
        );
        assert.equal(
          await statusOf(
            scoped.core.createNamespacedConfigMap({
              namespace,
              body: configMap("probe", namespace),
            }),
          ),
          403,
          namespace,
        );
      }
    });

    it("is forbidden to create cluster-scoped objects", async () => {
      const attempts: [string, () => Promise<unknown>][] = [
        [
          "Namespace",
          () => scoped.core.createNamespace({ body: { metadata: { name: `probe-${suffix}` } } }),
        ],
        [
          "ClusterRole",
          () =>
            scoped.rbac.createClusterRole({
              body: { metadata: { name: `probe-${suffix}` }, rules: [] },
            }),
        ],
        [
          "ClusterRoleBinding",
          () =>
            scoped.rbac.createClusterRoleBinding({
              body: {
                metadata: { name: `probe-${suffix}` },
                roleRef: {
                  apiGroup: "rbac.authorization.k8s.io",
                  kind: "ClusterRole",
                  name: "cluster-admin",
                },
                subjects: [{ kind: "ServiceAccount", name: "default", namespace: NS_A }],
              },
            }),
        ],
        [
          "PersistentVolume",
          () =>
            scoped.core.createPersistentVolume({
              body: {
                metadata: { name: `probe-${suffix}` },
                spec: {
                  capacity: { storage: "1Gi" },
                  accessModes: ["ReadWriteOnce"],
                  hostPath: { path: "/" },
                },
              },
            }),
        ],
        [
          "CustomResourceDefinition",
          () =>
            scoped.objects.create({
              apiVersion: "apiextensions.k8s.io/v1",
              kind: "CustomResourceDefinition",
              metadata: { name: `probes${suffix}.example.com` },
            }),
        ],
        [
          "ValidatingWebhookConfiguration",
          () =>
            scoped.objects.create({
              apiVersion: "admissionregistration.k8s.io/v1",
              kind: "ValidatingWebhookConfiguration",
              metadata: { name: `probe-${suffix}` },
            }),
        ],
        [
          "MutatingWebhookConfiguration",
          () =>
            scoped.objects.create({
              apiVersion: "admissionregistration.k8s.io/v1",
              kind: "MutatingWebhookConfiguration",
              metadata: { name: `probe-${suffix}` },
            }),
        ],
      ];
      for (const [kind, attempt] of attempts) assert.equal(await statusOf(attempt()), 403, kind);
    });

    it("is forbidden to approve CSRs, mint tokens, or impersonate", async () => {
      const k = await loadClientNode();
      const certificates = scoped.kc.makeApiClient(k.CertificatesV1Api);
      assert.equal(
        await statusOf(
          certificates.replaceCertificateSigningRequestApproval({
            name: "any",
            body: {
              metadata: { name: "any" },
              spec: { request: "", signerName: "kubernetes.io/kube-apiserver-client" },
            },
          }),
        ),
        403,
        "CSR approval",
      );
      const summary = (await t.stack.outputs()).stages.value.a;
      assert.equal(
        await statusOf(
          scoped.core.createNamespacedServiceAccountToken({
            name: summary.serviceAccount,
            namespace: NS_A,
            body: { spec: { audiences: [], expirationSeconds: 600 } },
          }),
        ),
        403,
        "serviceaccounts/token",
      );
      const file = kubeconfigFile(kubeconfigA);
      for (const as of [
        ["--as=system:admin"],
        ["--as=system:serviceaccount:kube-system:default"],
        ["--as=x", "--as-group=system:masters"],
      ]) {
        const outcome = await kubectlOutcome(file, ...as, "get", "pods", "-n", NS_A);
        assert.match(outcome, /cannot impersonate/, as.join(" "));
      }
    });

    it("may read but not patch its own Namespace (stage a runs Tiller), nor read another", async () => {
      // Tiller v2 GETs its release namespace before every install (test/e2e/tiller.test.ts), so
      // the deployer of a Tiller stage may read its own Namespace; without Tiller it may not
      // (test/unit/tiller.test.ts, and verify's containment row).
      assert.equal(await statusOf(scoped.core.readNamespace({ name: NS_A })), 0);
      assert.equal(await statusOf(scoped.core.readNamespace({ name: NS_B })), 403);
      const outcome = await kubectlOutcome(
        kubeconfigFile(kubeconfigA),
        "label",
        "namespace",
        NS_A,
        "pod-security.kubernetes.io/enforce=privileged",
        "--overwrite",
      );
      assert.match(outcome, /forbidden/i);
    });

    it("is forbidden to loosen its ResourceQuota, LimitRange or NetworkPolicy", async () => {
      const file = kubeconfigFile(kubeconfigA);
      for (const [kind, name] of [
        ["resourcequota", "stage-quota"],
        ["limitrange", "stage-defaults"],
        ["networkpolicy", "stage-isolation"],
      ]) {
        const patch = await kubectlOutcome(
          file,
          "-n",
          NS_A,
          "annotate",
          kind,
          name,
          "loosened=yes",
        );
        assert.match(patch, /forbidden/i, `patch ${kind}`);
        const del = await kubectlOutcome(file, "-n", NS_A, "delete", kind, name);
        assert.match(del, /forbidden/i, `delete ${kind}`);
      }
      assert.equal(
        await canI(scoped, {
          verb: "create",
          resource: "networkpolicies",
          group: "networking.k8s.io",
          namespace: NS_A,
        }),
        false,
      );
    });

    it("is forbidden to exec into pods", async () => {
      assert.equal(
        await canI(scoped, {
          verb: "create",
          resource: "pods",
          subresource: "exec",
          namespace: NS_A,
        }),
        false,
      );
    });
  });

  describe("escalation through RBAC objects", () => {
    it("cannot create a Role granting a verb it lacks", async () => {
      const message = await messageOf(
        scoped.rbac.createNamespacedRole({
          namespace: NS_A,
          body: {
            metadata: { name: "escalate" },
            rules: [{ apiGroups: [""], resources: ["pods/exec"], verbs: ["create"] }],
          },
        }),
      );
      assert.match(message, /attempting to grant RBAC permissions not currently held/);
    });

    for (const clusterRole of ["admin", "cluster-admin"]) {
      it(`cannot bind ClusterRole ${clusterRole} in its namespace`, async () => {
        const message = await messageOf(
          scoped.rbac.createNamespacedRoleBinding({
            namespace: NS_A,
            body: {
              metadata: { name: `bind-${clusterRole}` },
              roleRef: {
                apiGroup: "rbac.authorization.k8s.io",
                kind: "ClusterRole",
                name: clusterRole,
              },
              subjects: [{ kind: "ServiceAccount", name: "default", namespace: NS_A }],
            },
          }),
        );
        assert.match(message, /attempting to grant RBAC permissions not currently held/);
      });
    }
  });

  describe("Pod Security Admission", () => {
    const pod = (name: string, spec: object) => ({
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name, namespace: NS_A },
      spec: { containers: [{ name: "c", image: "registry.k8s.io/pause:3.10" }], ...spec },
    });

    it("rejects a privileged pod in the stage namespace, whoever asks", async () => {
      const message = await messageOf(
        admin.objects.create(
          pod("privileged", {
            containers: [
              {
                name: "c",
                image: "registry.k8s.io/pause:3.10",
                securityContext: { privileged: true },
              },
            ],
          }),
        ),
      );
      assert.match(message, /violates PodSecurity "restricted:latest"/);
    });

    it("rejects a hostPath volume", async () => {
      const message = await messageOf(
        admin.objects.create(
          pod("hostpath", { volumes: [{ name: "root", hostPath: { path: "/" } }] }),
        ),
      );
      assert.match(message, /restricted volume type "hostPath"/);
    });
  });

  describe("Tiller", () => {
    it("runs Ready with secret storage and a localhost listener, exposed by no Service", async () => {
      const deployment = await waitFor("tiller to be Ready", 60, async () => {
        const d = await admin.apps.readNamespacedDeployment({
          name: "tiller-deploy",
          namespace: NS_A,
        });
        return d.status?.readyReplicas === 1 ? d : undefined;
      });
      const args = deployment.spec!.template.spec!.containers[0].args!;
      assert.ok(args.includes("--storage=secret"));
      assert.ok(args.includes("--listen=localhost:44134"));
      const services = await admin.core.listNamespacedService({ namespace: NS_A });
      for (const s of services.items) {
        assert.ok(
          !s.spec?.ports?.some((p) => p.port === 44134 || p.targetPort === 44134),
          s.metadata?.name,
        );
      }
    });

    it("has a ServiceAccount that can do nothing the deployer cannot", async () => {
      // Tiller's ServiceAccount carries the deployer's rotation suffix (tiller-<suffix>).
      const tillerSa = (await admin.core.listNamespacedServiceAccount({ namespace: NS_A })).items
        .map((sa) => sa.metadata!.name!)
        .find((n) => n.startsWith("tiller-"))!;
      const token = await admin.core.createNamespacedServiceAccountToken({
        name: tillerSa,
        namespace: NS_A,
        body: { spec: { audiences: [], expirationSeconds: 600 } },
      });
      const tillerKubeconfig = kubeconfigA.replace(await tokenOf(kubeconfigA), token.status!.token);
      const tiller = await clientsFor(tillerKubeconfig);
      const rulesOf = async (c: Clients) =>
        (
          await c.authz.createSelfSubjectRulesReview({
            body: {
              apiVersion: "authorization.k8s.io/v1",
              kind: "SelfSubjectRulesReview",
              spec: { namespace: NS_A },
            },
          })
        ).status!.resourceRules;
      const deployer = await rulesOf(scoped);
      for (const rule of await rulesOf(tiller)) {
        for (const group of rule.apiGroups ?? []) {
          for (const resource of rule.resources ?? []) {
            for (const verb of rule.verbs) {
              assert.ok(
                deployer.some(
                  (d) =>
                    (d.apiGroups ?? []).some((g) => g === group || g === "*") &&
                    (d.resources ?? []).some((r) => r === resource || r === "*") &&
                    d.verbs.some((v) => v === verb || v === "*"),
                ),
                `tiller may ${verb} ${group}/${resource}, the deployer may not`,
              );
            }
          }
        }
      }
      for (const namespace of ["kube-system", NS_B]) {
        assert.equal(
          await statusOf(tiller.core.listNamespacedSecret({ namespace })),
          403,
          namespace,
        );
      }
      assert.equal(
        await statusOf(
          tiller.core.createNamespace({ body: { metadata: { name: `t-${suffix}` } } }),
        ),
        403,
      );
    });
  });

  describe("a chart that tries to leave its namespace", () => {
    for (const [chart, offender] of [
      [
        "escape-cluster",
        /clusterrolebindings.*storefront-escape|storefront-escape.*clusterrolebindings/s,
      ],
      [
        "escape-namespace",
        /configmaps.*storefront-escape|storefront-escape.*configmaps|namespace "default"/s,
      ],
    ] as const) {
      it(`fails (${chart}) naming the offending object, and the deployed release stays`, async () => {
        const before = await admin.apps.readNamespacedDeployment({
          name: "storefront",
          namespace: NS_A,
        });
        t.setConfig(stackConfig({ chart: path.join(REPO, "test/e2e/charts", chart) }));
        let error = "";
        try {
          await t.stack.up({ onOutput: collect(t) });
        } catch (err) {
          error = String(err);
        } finally {
          t.setConfig(stackConfig());
        }
        assert.match(error, offender);
        const after = await admin.apps.readNamespacedDeployment({
          name: "storefront",
          namespace: NS_A,
        });
        assert.equal(after.metadata?.uid, before.metadata?.uid);
        assert.equal(
          after.spec?.template.metadata?.annotations?.["checksum/config"],
          before.spec?.template.metadata?.annotations?.["checksum/config"],
        );
        assert.equal(after.status?.readyReplicas, 1);
        await t.stack.up({ onOutput: collect(t), refresh: true });
      });
    }
  });

  describe("idempotence and drift", () => {
    it("previews no changes on a second run", async () => {
      await t.stack.preview({ expectNoChanges: true, onOutput: collect(t) });
    });

    it("shows an admin's wildcard rule on the deployer Role in a refreshing preview, and up undoes it", async () => {
      // The admin's edit puts the wildcard first. (An edit that only appends a rule is invisible to
      // the Kubernetes provider's refresh, which compares live lists only up to the declared
      // length; `npm run verify` and the drift report's output comparison catch that case.)
      const role = await admin.rbac.readNamespacedRole({
        name: "scoped-deployer",
        namespace: NS_A,
      });
      role.rules = [{ apiGroups: ["*"], resources: ["*"], verbs: ["*"] }, ...(role.rules ?? [])];
      await admin.rbac.replaceNamespacedRole({
        name: "scoped-deployer",
        namespace: NS_A,
        body: role,
      });

      const preview = await t.stack.preview({ refresh: true, diff: true, onOutput: collect(t) });
      assert.equal(preview.changeSummary.update, 1, JSON.stringify(preview.changeSummary));
      assert.match(preview.stdout, /a-deployer-role/);

      await t.stack.up({ refresh: true, onOutput: collect(t) });
      const restored = await admin.rbac.readNamespacedRole({
        name: "scoped-deployer",
        namespace: NS_A,
      });
      const plain = (restored.rules ?? []).map((r) => ({
        apiGroups: r.apiGroups ?? [],
        resources: r.resources ?? [],
        verbs: r.verbs,
      }));
      assert.deepEqual(plain, deployerRules({ allowRbac: true, tiller: true }));
    });
  });

  describe("secrets at rest", () => {
    it("keeps the token and kubeconfig out of the state, the backend files, outputs and the CLI's output", async () => {
      const token = await tokenOf(kubeconfigA);
      // The CLI itself, without --show-secrets (the Automation API's exportStack decrypts).
      const pulumiEnv = { ...process.env, PULUMI_CONFIG_PASSPHRASE: TEST_PASSPHRASE };
      const exportRun = await execFileAsync("pulumi", ["stack", "export", "--stack", t.name], {
        cwd: t.workDir,
        env: pulumiEnv,
        maxBuffer: 64 * 1024 * 1024,
      });
      const exported: unknown = JSON.parse(exportRun.stdout);
      assert.deepEqual(pathsContaining(exported, token), [], "stack export contains the token");
      const kubeconfigText = kubeconfigA.slice(0, 200);
      assert.deepEqual(
        pathsContaining(exported, kubeconfigText),
        [],
        "stack export contains the kubeconfig",
      );

      const backend = process.env.PULUMI_BACKEND_URL!.replace(/^file:\/\//, "");
      const files: string[] = [];
      const walk = (dir: string) => {
        for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
          const full = path.join(dir, entry.name);
          if (entry.isDirectory()) walk(full);
          else files.push(full);
        }
      };
      walk(backend);
      assert.ok(files.length > 0);
      for (const file of files) {
        const content = fs.readFileSync(file);
        assert.ok(!content.includes(token), `${file} contains the token`);
      }

      const { stdout } = await execFileAsync(
        "pulumi",
        ["stack", "output", "kubeconfigs", "--stack", t.name],
        {
          cwd: t.workDir,
          env: { ...process.env, PULUMI_CONFIG_PASSPHRASE: TEST_PASSPHRASE },
        },
      );
      assert.equal(stdout.trim(), "[secret]");
      assert.ok(!t.log.join("").includes(token), "the CLI printed the token");
    });
  });

  describe("rotation", () => {
    it("issues a new token, revokes the old one, and updates the releases in place", async () => {
      const oldKubeconfig = kubeconfigA;
      t.setConfig(stackConfig({ rotation: "r2" }));

      const previewOps: { op: OpType; type: string }[] = [];
      const recordOps = (into: typeof previewOps) => (e: EngineEvent) => {
        const m = e.resourcePreEvent?.metadata;
        if (m) into.push({ op: m.op, type: m.type });
      };
      await t.stack.preview({ onEvent: recordOps(previewOps), onOutput: collect(t) });
      const upOps: typeof previewOps = [];
      const up = await t.stack.up({ onEvent: recordOps(upOps), onOutput: collect(t) });

      for (const ops of [previewOps, upOps]) {
        const releaseOps = ops
          .filter((o) => o.type === "kubernetes:helm.sh/v3:Release")
          .map((o) => o.op);
        assert.ok(releaseOps.length > 0);
        assert.ok(
          releaseOps.every((op) => op === "same" || op === "update"),
          `release ops: ${releaseOps}`,
        );
        const providerOps = ops
          .filter((o) => o.type === "pulumi:providers:kubernetes")
          .map((o) => o.op);
        assert.ok(
          !providerOps.some((op) => op.includes("replace")),
          `provider ops: ${providerOps}`,
        );
      }

      kubeconfigA = up.outputs.kubeconfigs.value.a;
      assert.notEqual(await tokenOf(kubeconfigA), await tokenOf(oldKubeconfig));
      scoped = await clientsFor(kubeconfigA);
      assert.equal(await statusOf(scoped.core.listNamespacedConfigMap({ namespace: NS_A })), 0);

      const old = await clientsFor(oldKubeconfig);
      // The API server caches successful token authentications for about 10 s.
      await waitFor("the old token to be rejected", 30, async () =>
        (await statusOf(old.core.listNamespacedConfigMap({ namespace: NS_A }))) === 401
          ? true
          : undefined,
      );
    });
  });
});
