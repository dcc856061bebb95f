// `scoped-cd verify --attacks` on the real API server: one access stack with a stage of each shape
// (plain, allowRbac, Tiller in the cluster and locally, relaxed allowances with Gateway API routes),
// the Gateway API CRDs installed as a cluster would have them (the toolchain's gateway-api step:
// the standard channel of sigs.k8s.io/gateway-api). Every attempt of the catalogue is refused, or
// admitted on purpose where the stage's config allows it; then an admin weakens the plain stage
// and the report names exactly the attempts that now get through.
//
// The CRDs stay installed afterwards (cluster-scoped types, like any cluster with the Gateway API):
// deleting them while other files list the namespace's kinds would fail those lists.
// The Tiller stage runs Tiller in the cluster: this file needs the instance with the real node.
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import { policyName } from "../../policy/admission";
import { MERGED_CLASS } from "../../policy/admissionPolicies/merged";
import {
  allowedByConfig,
  Attack,
  attackCatalogue,
  allowedTargets,
  StageAllowances,
} from "../../policy/attacks";
import type { AttackResult } from "../../cli/lib/verify/attacks";
import { adminClients, Clients, clientsFor, messageOf } from "./kube";
import {
  collect,
  createTestStack,
  kubectl,
  requireEnv,
  runCli,
  TestStack,
  uniqueSuffix,
  waitFor,
} from "./support";

const suffix = uniqueSuffix();
const NS = {
  p: `e2e-attacks-p-${suffix}`,
  r: `e2e-attacks-r-${suffix}`,
  c: `e2e-attacks-c-${suffix}`,
  l: `e2e-attacks-l-${suffix}`,
  g: `e2e-attacks-g-${suffix}`,
};
type StageName = keyof typeof NS;
const STAGES = Object.keys(NS) as StageName[];
const GW = "gateway.networking.k8s.io";
/** The Gateway stage g may attach to (admission does not need it to exist: no controller here). */
const GW_PARENT = `e2e-attacks-infra-${suffix}/shared`;
const GW_HOSTS = `*.g-${suffix}.example.test`;
const INGRESS_HOSTS = `*.web-g-${suffix}.example.test`;
const ROUTES = ["httproutes", "grpcroutes", "tlsroutes"];

const stackConfig = {
  mode: "access",
  cluster: { name: "local" },
  stages: {
    p: { namespace: NS.p, deletable: true },
    r: { namespace: NS.r, deletable: true, deployer: { allowRbac: true } },
    c: { namespace: NS.c, deletable: true, tiller: { enabled: true, mode: "cluster" } },
    l: { namespace: NS.l, deletable: true, tiller: { enabled: true, mode: "local" } },
    g: {
      namespace: NS.g,
      deletable: true,
      // The profile grants no Gateway API routes: without this the routes would meet RBAC only.
      deployer: {
        extraRules: [
          {
            apiGroups: [GW],
            resources: ROUTES,
            verbs: ["get", "list", "create", "update", "patch"],
          },
        ],
      },
      guardrails: {
        services: { allowTypes: ["LoadBalancer"] },
        ingress: { allowHosts: [INGRESS_HOSTS] },
        disruptionBudgets: { allowMinAvailable: true },
        gateway: { allowParents: [GW_PARENT], allowHosts: [GW_HOSTS] },
      },
    },
  },
};

/** What each stage allows on purpose, from the config above (not from the CLI's reading of it). */
const NONE: StageAllowances = {
  serviceTypes: [],
  allowMinAvailable: false,
  allowRbac: false,
  tillerPortForward: false,
};
const ALLOWANCES: Record<StageName, StageAllowances> = {
  p: NONE,
  r: { ...NONE, allowRbac: true },
  c: { ...NONE, tillerPortForward: true },
  l: NONE,
  g: {
    ...NONE,
    serviceTypes: ["LoadBalancer"],
    allowMinAvailable: true,
    ingressHosts: [INGRESS_HOSTS],
    gatewayParents: [GW_PARENT],
    gatewayHosts: [GW_HOSTS],
  },
};
const catalogueOf = (stage: StageName) =>
  attackCatalogue({
    namespace: NS[stage],
    otherNamespace: "default",
    id: "e2e",
    ...allowedTargets(ALLOWANCES[stage]),
  });

interface AttackDoc {
  ok: boolean;
  allowed: number;
  stages: { stage: string; seconds: number; summary: string; attempts: AttackResult[] }[];
}

/**
 * Whether a refusal came from where the catalogue says: the guardrail's own message, the quota,
 * or RBAC where the stage's Role lacks the verb (RBAC answers before admission). A 422 or a webhook
 * error is not a refusal. On a stage without allowed Ingress hosts the host rule refuses every
 * Ingress first (the API server reports a policy's first failing rule); stage g has hosts, and
 * there each Ingress attempt must meet its own rule.
 */
function refusedAsExpected(stage: StageName, a: Attack, answer: string): boolean {
  // "cannot <verb>" from the authorizer, "is attempting to grant" from the escalation check.
  const rbac = /is forbidden: [Uu]ser "system:serviceaccount:[^"]+"|^RBAC: not allowed/;
  if (a.refusedBy === "RBAC") return rbac.test(answer);
  if (a.refusedBy === "ResourceQuota") return /exceeded quota/.test(answer);
  const rules = [a.refusedBy];
  if (a.class === "ingress" && !ALLOWANCES[stage].ingressHosts) rules.push("ingress.host");
  if (rules.some((r) => answer.includes(`scoped-cd guardrail ${r}:`))) return true;
  // RoleBindings meet RBAC's escalation check before admission (binding cluster-admin), and the
  // profile grants no Gateway API routes (stage g adds them): elsewhere the Role grants the verb.
  const rbacFirst = a.class === "rbac" || (a.class === "gateway" && stage !== "g");
  return rbacFirst && rbac.test(answer);
}

describe("verify --attacks on a stage of each shape", function () {
  this.timeout(10 * 60_000);
  let t: TestStack;
  let admin: Clients;
  let kubeconfigs: Record<string, string>;
  const verify = (...more: string[]) =>
    runCli(["verify", "--attacks", "--work-dir", t.workDir, "--stack", t.name, ...more]);

  before(async () => {
    admin = await adminClients();
    // The standard channel's CRDs from the toolchain (hack/toolchain.sh gateway-api).
    const crds = requireEnv("SCOPED_CD_GATEWAY_API_CRDS");
    const files = fs.readdirSync(crds).filter((f) => f.endsWith(".yaml"));
    assert.ok(files.includes(`${GW}_httproutes.yaml`), `no Gateway API CRDs in ${crds}`);
    const kubeconfig = requireEnv("KUBECONFIG");
    await kubectl(kubeconfig, "apply", "--server-side", "--force-conflicts", "-f", crds);
    await kubectl(
      kubeconfig,
      "wait",
      "--for=condition=Established",
      "--timeout=60s",
      ...ROUTES.map((r) => `crd/${r}.${GW}`),
    );
    t = await createTestStack("attacks");
    t.setConfig(stackConfig);
    const up = await t.stack.up({ onOutput: collect(t) });
    kubeconfigs = up.outputs.kubeconfigs.value;
  });

  after(async function () {
    if (process.env.E2E_VERBOSE || this.currentTest?.state === "failed")
      console.log(t?.log.join(""));
    // refresh: an admin deleted a binding and edited the Role below.
    await t?.stack
      .destroy({ onOutput: collect(t), refresh: true })
      .catch((err) => console.error(String(err)));
    await t?.remove().catch(() => undefined);
  });

  it("refuses every attempt on every stage, or admits it where the stage's config says so (exit 0)", async () => {
    const t0 = Date.now();
    const run = await verify("--output", "json");
    const wall = (Date.now() - t0) / 1000;
    assert.equal(run.code, 0, run.stdout + run.stderr);
    const doc = JSON.parse(run.stdout) as AttackDoc;
    assert.equal(doc.ok, true);
    assert.deepEqual(doc.stages.map((s) => s.stage).sort(), [...STAGES].sort());
    for (const s of doc.stages) {
      const stage = s.stage as StageName;
      const catalogue = catalogueOf(stage);
      assert.deepEqual(
        s.attempts.map((r) => r.id),
        catalogue.map((a) => a.id),
        `${stage}: the whole catalogue, in order`,
      );
      const problems: string[] = [];
      for (const [i, r] of s.attempts.entries()) {
        const a = catalogue[i];
        const byConfig = allowedByConfig(a, ALLOWANCES[stage]);
        // The CRDs are installed: nothing is skipped; what the config allows was really admitted.
        const expected = byConfig ? "allowed-by-config" : "refused";
        if (r.outcome !== expected) {
          problems.push(`${r.id}: ${r.outcome}, expected ${expected}: ${r.answer}`);
        } else if (!byConfig && !refusedAsExpected(stage, a, r.answer)) {
          problems.push(`${r.id}: refused, but not by ${a.refusedBy}: ${r.answer}`);
        }
      }
      assert.deepEqual(problems, [], `stage ${stage}:\n${problems.join("\n")}`);
      console.log(`      [attacks] stage ${stage}: ${s.summary}, ${s.seconds} s`);
    }
    console.log(
      `      [attacks] verify --attacks, ${doc.stages.length} stages: ${wall.toFixed(1)} s`,
    );
  });

  it("admits a route to the stage's own Gateway and host (the positive control)", async () => {
    const scoped = await clientsFor(kubeconfigs.g);
    const [parentNs, parentName] = GW_PARENT.split("/");
    const httpRoute = (
      hostnames: string[],
      parent = { name: parentName, namespace: parentNs },
    ) => ({
      apiVersion: `${GW}/v1`,
      kind: "HTTPRoute",
      metadata: { name: `web-${suffix}`, namespace: NS.g },
      spec: {
        parentRefs: [parent],
        hostnames,
        rules: [{ backendRefs: [{ name: "web", port: 80 }] }],
      },
    });
    const create = (o: object) => messageOf(scoped.objects.create(o as never, undefined, "All"));
    assert.equal(await create(httpRoute([`shop.g-${suffix}.example.test`])), "");
    // One step off either allow-list, and the same route is refused.
    assert.match(
      await create(httpRoute([`shop.p-${suffix}.example.test`])),
      /scoped-cd guardrail gateway\.hostnames:/,
    );
    assert.match(
      await create(
        httpRoute([`shop.g-${suffix}.example.test`], { name: "other", namespace: parentNs }),
      ),
      /scoped-cd guardrail gateway\.parentRefs:/,
    );
  });

  it("names exactly the attempts that get through once an admin weakens the stage (exit 1)", async () => {
    // The ingress class's validations cut out of the stage's policy: every attempt that class
    // alone refuses now gets through.
    const policy = (await admin.objects.read({
      apiVersion: "admissionregistration.k8s.io/v1",
      kind: "ValidatingAdmissionPolicy",
      metadata: { name: policyName(NS.p, MERGED_CLASS) },
    } as never)) as any;
    const kept = policy.spec.validations.filter(
      (v: any) => !v.expression.startsWith("!variables.ingress_applies || ("),
    );
    assert.ok(kept.length < policy.spec.validations.length, "the ingress validations");
    policy.spec.validations = kept;
    await admin.objects.replace(policy);
    // The Role widened with subresources the profile leaves out.
    const added = { apiGroups: [""], resources: ["pods/exec", "pods/attach"], verbs: ["create"] };
    const role = await admin.rbac.readNamespacedRole({ name: "scoped-deployer", namespace: NS.p });
    role.rules = [...(role.rules ?? []), added];
    await admin.rbac.replaceNamespacedRole({
      name: "scoped-deployer",
      namespace: NS.p,
      body: role,
    });

    // Expected from the catalogue: the ingress class's attempts, and the access reviews the
    // added rule answers (it names subresources only, which no create or patch attempt writes).
    const catalogue = catalogueOf("p");
    const expected = catalogue
      .filter((a) => {
        if (a.refusedBy.startsWith("ingress.")) return true;
        if (a.action.kind !== "access") return false;
        const at = a.action.attributes;
        const resource = at.subresource ? `${at.resource}/${at.subresource}` : at.resource;
        return (
          at.namespace === NS.p &&
          added.apiGroups.includes(at.group) &&
          added.resources.includes(resource) &&
          added.verbs.includes(at.verb)
        );
      })
      .map((a) => a.id)
      .sort();
    assert.ok(expected.length >= 5, expected.join(", "));

    // The policy cache and the authorizer follow the change within moments.
    let last = "";
    const run = await waitFor("verify --attacks to name the weakened attempts", 60, async () => {
      const r = await verify("--stage", "p", "--output", "json");
      last = r.stdout + r.stderr;
      const doc = JSON.parse(r.stdout) as AttackDoc;
      const allowed = doc.stages[0].attempts.filter((x) => x.outcome !== "refused");
      return allowed.length >= expected.length ? { r, doc, allowed } : undefined;
    }).catch((err) => assert.fail(`${String(err)}\n${last}`));
    assert.equal(run.r.code, 1, last);
    assert.equal(run.doc.ok, false);
    assert.deepEqual(
      run.allowed.map((x) => `${x.id}: ${x.outcome}`).sort(),
      expected.map((id) => `${id}: ALLOWED`),
    );
    assert.equal(run.doc.allowed, expected.length);
    // The text report lists them too.
    const text = await verify("--stage", "p");
    assert.equal(text.code, 1);
    const line = text.stdout.split("\n").find((l) => l.includes("ALLOWED (an escape"));
    assert.deepEqual(line?.split(": ")[1].split(", ").sort(), expected, text.stdout);
  });
});
