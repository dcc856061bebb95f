// The drift report's permission delta and admission preview sections: the pure parts
// (policy/escalation.ts, allowances.ts, admissionRelief.ts), the analysis of engine events
// (cli/lib/permissionDelta.ts, admissionPreview.ts releaseTargets), and the text and JSON.
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { EngineEvent, StepEventMetadata } from "@pulumi/pulumi/automation";
import { driftJson } from "../../cli/commands/drift";
import {
  programDir,
  releaseTargets,
  ReleaseAdmission,
  renderFlags,
  warningTexts,
} from "../../cli/lib/admissionPreview";
import { driftExitCode, renderDriftReport, StackPreview } from "../../cli/lib/driftReport";
import { permissionDeltas } from "../../cli/lib/permissionDelta";
import { AdmissionSettings } from "../../policy/admission";
import { admissionPolicies } from "../../policy/admissionPolicies";
import { podSecurityWarning, reliefOf } from "../../policy/admissionRelief";
import { allowancesOf, diffAllowances } from "../../policy/allowances";
import { deployerRules } from "../../policy/deployerProfile";
import { diffRules } from "../../policy/escalation";

const ROLE = "kubernetes:rbac.authorization.k8s.io/v1:Role";
const VAP = "kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicy";
const RELEASE = "kubernetes:helm.sh/v3:Release";
const urn = (type: string, name: string) => `urn:pulumi:s::scoped-cd::${type}::${name}`;
const labels = { "scoped-cd.io/stage": "prod", "app.kubernetes.io/managed-by": "scoped-cd" };

let seq = 0;
function ev(kind: "resourcePreEvent" | "resOutputsEvent", md: Partial<StepEventMetadata>) {
  return {
    sequence: seq++,
    timestamp: 1760000000,
    [kind]: { metadata: { provider: "", ...md }, planning: true },
  } as EngineEvent;
}
const st = (type: string, u: string, o: object) =>
  ({ type, urn: u, id: "id", parent: "", provider: "", inputs: o, outputs: o }) as never;

/** Refresh reads `live`; the preview plans `planned` (op update when they differ). */
function resourceEvents(type: string, name: string, live: object, planned: object) {
  const u = urn(type, name);
  const same = JSON.stringify(live) === JSON.stringify(planned);
  return [
    ev("resourcePreEvent", { op: "refresh", urn: u, type, old: st(type, u, live) }),
    ev("resOutputsEvent", {
      op: "refresh",
      urn: u,
      type,
      old: st(type, u, live),
      new: st(type, u, live),
    }),
    ev("resourcePreEvent", {
      op: same ? "same" : "update",
      urn: u,
      type,
      old: st(type, u, live),
      new: st(type, u, planned),
      diffs: same ? [] : ["rules"],
    }),
  ];
}

const role = (rules: object[]) => ({
  metadata: { name: "scoped-deployer", namespace: "shop-prod", labels },
  rules,
});
const settings = (over: Partial<AdmissionSettings> = {}): AdmissionSettings => ({
  stage: "prod",
  namespace: "shop-prod",
  services: { allowTypes: [] },
  ingress: { allowHosts: ["*.prod.example.com"], allowClasses: [], allowAnnotations: [] },
  workloads: { allowPriorityClasses: [] },
  disruptionBudgets: { allowMinAvailable: false },
  gateway: { allowParents: [], allowHosts: [] },
  ...over,
});
const validationsOf = (s: AdmissionSettings) => admissionPolicies(s).flatMap((p) => p.validations);
const policyObjects = (s: AdmissionSettings) =>
  admissionPolicies(s).map((p) => ({
    cls: p.class,
    obj: {
      metadata: { name: `scoped-cd-shop-prod-${p.class}`, labels },
      spec: { validations: p.validations },
    },
  }));

const base = deployerRules({ allowRbac: false, tiller: false });
const execRule = { apiGroups: [""], resources: ["pods/exec"], verbs: ["create"] };

describe("drift report: permission delta and admission preview", () => {
  it("names the escalation class of each added permission, and only effective changes", () => {
    const delta = diffRules(base, [
      ...base,
      execRule,
      { ...execRule, resources: ["secrets"], verbs: ["get"] },
    ]);
    assert.deepEqual(
      delta.added.map((a) => [a.resource, a.verb, a.classes]),
      [["pods/exec", "create", ["exec-attach"]]],
      "secrets get is covered by the base profile already: not an addition",
    );
    assert.deepEqual(delta.removed, []);
    const rbac = diffRules(base, deployerRules({ allowRbac: true, tiller: false }));
    assert.ok(rbac.added.some((a) => a.resource === "rolebindings" && a.classes.includes("rbac")));
    const wider = diffRules(base, [{ apiGroups: ["*"], resources: ["*"], verbs: ["*"] }]);
    assert.ok(wider.added[0].classes.includes("wildcard"));
    assert.ok(wider.removed.length === 0, "a wildcard covers every rule before");
  });

  it("reads every allowance back from the generated policies (round trip)", () => {
    const s = settings({
      services: { allowTypes: ["NodePort"] },
      ingress: {
        allowHosts: ["shop.example.com", "*.prod.example.com"],
        allowClasses: ["nginx"],
        allowAnnotations: ["example.com/*", "cert-manager.io/issuer"],
      },
      workloads: { allowPriorityClasses: ["batch-low"] },
      disruptionBudgets: { allowMinAvailable: true },
    });
    const a = allowancesOf("prod", validationsOf(s));
    const k = (x: string) => `scoped-cd:stages.prod.guardrails.${x}`;
    assert.deepEqual([...(a[k("services.allowTypes")] as string[])].sort(), [
      "ClusterIP",
      "NodePort",
    ]);
    assert.deepEqual([...(a[k("ingress.allowHosts")] as string[])].sort(), [
      "*.prod.example.com",
      "shop.example.com",
    ]);
    assert.ok((a[k("ingress.allowClasses")] as string[]).includes("nginx"));
    assert.ok((a[k("ingress.allowAnnotations")] as string[]).includes("example.com/*"));
    assert.ok((a[k("ingress.allowAnnotations")] as string[]).includes("cert-manager.io/issuer"));
    assert.ok((a[k("workloads.allowPriorityClasses")] as string[]).includes("batch-low"));
    assert.equal(a[k("disruptionBudgets.allowMinAvailable")], true);
    assert.equal(
      allowancesOf("prod", validationsOf(settings()))[k("disruptionBudgets.allowMinAvailable")],
      false,
    );
  });

  it("diffs allowances: added and removed values, switches, and nothing for the same policies", () => {
    const before = allowancesOf("prod", validationsOf(settings()));
    const after = allowancesOf(
      "prod",
      validationsOf(
        settings({
          services: { allowTypes: ["LoadBalancer"] },
          ingress: { allowHosts: [], allowClasses: [], allowAnnotations: [] },
          disruptionBudgets: { allowMinAvailable: true },
        }),
      ),
    );
    assert.deepEqual(diffAllowances(before, after), [
      {
        key: "scoped-cd:stages.prod.guardrails.disruptionBudgets.allowMinAvailable",
        added: [],
        removed: [],
        before: false,
        after: true,
      },
      {
        key: "scoped-cd:stages.prod.guardrails.ingress.allowHosts",
        added: [],
        removed: ["*.prod.example.com"],
      },
      {
        key: "scoped-cd:stages.prod.guardrails.services.allowTypes",
        added: ["LoadBalancer"],
        removed: [],
      },
    ]);
    assert.deepEqual(diffAllowances(before, before), []);
  });

  it("classifies refusals: guardrail rule, policy and key; quota; pod security; RBAC", () => {
    const vap =
      "services \"np\" is forbidden: ValidatingAdmissionPolicy 'scoped-cd-shop-prod-services' with binding 'scoped-cd-shop-prod-services' denied request: scoped-cd guardrail services.type: Service type NodePort is not allowed in stage prod; allow it with scoped-cd:stages.prod.guardrails.services.allowTypes";
    assert.deepEqual(reliefOf(vap, "prod", "shop-prod"), {
      source: "guardrail",
      rule: "services.type",
      policy: "scoped-cd-shop-prod-services",
      configKey: "scoped-cd:stages.prod.guardrails.services.allowTypes",
    });
    const fixed =
      "ValidatingAdmissionPolicy 'scoped-cd-shop-prod-services' with binding 'x' denied request: scoped-cd guardrail services.externalIPs: Service spec.externalIPs intercepts traffic; no setting relaxes it";
    assert.equal(reliefOf(fixed, "prod", "shop-prod").configKey, null);
    assert.deepEqual(
      reliefOf(
        'services "np" is forbidden: exceeded quota: stage-quota, requested: services.nodeports=1, used: services.nodeports=0, limited: services.nodeports=0',
        "prod",
        "shop-prod",
      ),
      {
        source: "quota",
        rule: "quota services.nodeports",
        configKey: 'scoped-cd:stages.prod.guardrails.quota["services.nodeports"]',
      },
    );
    const crb = reliefOf(
      'clusterrolebindings.rbac.authorization.k8s.io "x" is forbidden: User "system:serviceaccount:shop-prod:deployer-abc" cannot patch resource "clusterrolebindings" in API group "rbac.authorization.k8s.io" at the cluster scope',
      "prod",
      "shop-prod",
    );
    assert.equal(crb.source, "rbac");
    assert.equal(crb.configKey, null);
    const roles = reliefOf(
      'roles.rbac.authorization.k8s.io "x" is forbidden: User "u" cannot patch resource "roles" in API group "rbac.authorization.k8s.io" in the namespace "shop-prod"',
      "prod",
      "shop-prod",
    );
    assert.equal(roles.configKey, "scoped-cd:stages.prod.deployer.allowRbac");
    // Only a restricted-only violation is admitted by the looser level a stage may choose.
    assert.equal(
      reliefOf(
        'pods "p" is forbidden: violates PodSecurity "restricted:latest": runAsNonRoot != true (pod or container "web" must set securityContext.runAsNonRoot=true)',
        "prod",
        "shop-prod",
      ).configKey,
      "scoped-cd:stages.prod.guardrails.podSecurity",
    );
    assert.equal(
      reliefOf(
        'pods "p" is forbidden: violates PodSecurity "restricted:latest": privileged (container "web" must not set securityContext.privileged=true)',
        "prod",
        "shop-prod",
      ).configKey,
      null,
      "baseline refuses a privileged pod too",
    );
  });

  it("counts a workload's Pod Security warning as a refusal: its pods would be refused", () => {
    const header =
      '299 - "would violate PodSecurity \\"restricted:latest\\": hostPort (container \\"web\\" uses hostPort 30080)", 299 - "spec.template.spec.containers[0].ports[0]: duplicate port definition"';
    const texts = warningTexts(header);
    assert.deepEqual(texts, [
      'would violate PodSecurity "restricted:latest": hostPort (container "web" uses hostPort 30080)',
      "spec.template.spec.containers[0].ports[0]: duplicate port definition",
    ]);
    assert.deepEqual(warningTexts(undefined), []);
    const warning = podSecurityWarning(texts);
    assert.equal(warning, texts[0]);
    assert.deepEqual(reliefOf(warning!, "prod", "shop-prod"), {
      source: "pod-security",
      rule: "pod security restricted",
      configKey: null,
    });
    assert.equal(
      reliefOf(
        'would violate PodSecurity "restricted:latest": allowPrivilegeEscalation != false (container "web" must set securityContext.allowPrivilegeEscalation=false)',
        "prod",
        "shop-prod",
      ).configKey,
      "scoped-cd:stages.prod.guardrails.podSecurity",
    );
    assert.equal(podSecurityWarning([texts[1]]), undefined);
  });

  it("renders a release as the deploy will: upgrade or install, and the cluster's APIs", () => {
    const target = (op: "create" | "update" | "same" | "create-replacement") => {
      const u = urn(RELEASE, "prod-releases-storefront");
      return releaseTargets([
        ev("resourcePreEvent", {
          op,
          urn: u,
          type: RELEASE,
          new: st(RELEASE, u, { name: "storefront", namespace: "shop-prod", chart: "c" }),
        }),
      ])[0];
    };
    assert.equal(target("create").upgrade, false);
    assert.equal(target("create-replacement").upgrade, false);
    assert.equal(target("update").upgrade, true);
    assert.equal(target("same").upgrade, true);
    assert.deepEqual(renderFlags(target("create")), []);
    assert.deepEqual(
      renderFlags(target("update"), {
        kubeVersion: "v1.34.12",
        apiVersions: ["apiregistration.k8s.io/v1", "apiregistration.k8s.io/v1/APIService", "v1"],
      }),
      [
        "--is-upgrade",
        "--kube-version",
        "v1.34.12",
        "--api-versions",
        "apiregistration.k8s.io/v1,apiregistration.k8s.io/v1/APIService,v1",
      ],
    );
  });

  it("finds the deployer Role's and the policies' changes per stage in the preview events", () => {
    const events = [
      ...resourceEvents(ROLE, "prod-deployer-role", role(base), role([...base, execRule])),
      ...policyObjects(settings()).map(({ cls, obj }) =>
        resourceEvents(
          VAP,
          `prod-admission-${cls}`,
          obj,
          policyObjects(settings({ services: { allowTypes: ["NodePort"] } })).find(
            (p) => p.cls === cls,
          )!.obj,
        ),
      ),
    ].flat();
    const [delta, ...more] = permissionDeltas(events);
    assert.equal(more.length, 0);
    assert.equal(delta.stage, "prod");
    assert.deepEqual(
      delta.role!.added.map((a) => `${a.resource}:${a.verb}`),
      ["pods/exec:create"],
    );
    assert.deepEqual(delta.allowances, [
      {
        key: "scoped-cd:stages.prod.guardrails.services.allowTypes",
        added: ["NodePort"],
        removed: [],
      },
    ]);
  });

  it("leaves the permission delta out when nothing the deployer may do changes", () => {
    const events = [
      ...resourceEvents(ROLE, "prod-deployer-role", role(base), role([...base].reverse())),
      ...policyObjects(settings()).flatMap(({ cls, obj }) =>
        resourceEvents(VAP, `prod-admission-${cls}`, obj, obj),
      ),
    ];
    assert.deepEqual(permissionDeltas(events), []);
  });

  it("takes before from the live Role the refresh read (a hand edit), not from the state", () => {
    const u = urn(ROLE, "prod-deployer-role");
    const wide = role([...base, { apiGroups: ["*"], resources: ["*"], verbs: ["*"] }]);
    const events = [
      ev("resOutputsEvent", {
        op: "refresh",
        urn: u,
        type: ROLE,
        old: st(ROLE, u, role(base)),
        new: st(ROLE, u, wide),
      }),
      ev("resourcePreEvent", {
        op: "update",
        urn: u,
        type: ROLE,
        old: st(ROLE, u, wide),
        new: st(ROLE, u, role(base)),
      }),
    ];
    const [delta] = permissionDeltas(events);
    assert.deepEqual(
      delta.role!.removed.map((r) => `${r.group}/${r.resource}:${r.verb}`),
      ["*/*:*"],
    );
    assert.deepEqual(delta.role!.added, []);
  });

  it("reads the releases to check from the planned Release inputs, and says which it cannot", () => {
    const rel = (name: string, inputs: object) => {
      const u = urn(RELEASE, `prod-releases-${name}`);
      return ev("resourcePreEvent", {
        op: "update",
        urn: u,
        type: RELEASE,
        new: st(RELEASE, u, inputs),
      });
    };
    const targets = releaseTargets([
      rel("storefront", {
        name: "storefront",
        namespace: "shop-prod",
        chart: "../charts/storefront",
        values: { a: 1 },
      }),
      rel("api", {
        name: "api",
        namespace: "shop-prod",
        chart: "api",
        version: "1.0.0",
        repositoryOpts: { repo: "http://127.0.0.1:8879" },
        values: {
          password: { "4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270" },
        },
      }),
    ]);
    assert.deepEqual(
      targets.map((t) => [t.stage, t.release, t.chart, t.repo, t.unknown]),
      [
        [
          "prod",
          "api",
          "api",
          "http://127.0.0.1:8879",
          "its values hold secrets, which the preview does not see",
        ],
        ["prod", "storefront", "../charts/storefront", undefined, undefined],
      ],
    );
  });

  const refused: ReleaseAdmission = {
    stage: "prod",
    release: "storefront",
    namespace: "shop-prod",
    objects: 4,
    refusals: [
      {
        object: "Service storefront-np",
        source: "guardrail",
        rule: "services.type",
        policy: "scoped-cd-shop-prod-services",
        configKey: "scoped-cd:stages.prod.guardrails.services.allowTypes",
        message: "…",
      },
    ],
  };
  const stackWith = (admission: ReleaseAdmission[], events: EngineEvent[] = []): StackPreview => ({
    stack: "prod",
    events,
    admission,
  });

  it("renders refusals with the object, the guardrail and the config key, and exits 1", () => {
    const report = renderDriftReport([stackWith([refused])]);
    assert.match(report, /\*\*refused at admission, the deploy would fail:\*\* prod/);
    assert.match(report, /### Admission preview \(1 refused\)/);
    assert.ok(
      report.includes(
        "| `Service storefront-np` | guardrail `scoped-cd-shop-prod-services` | `services.type` | `scoped-cd:stages.prod.guardrails.services.allowTypes` |",
      ),
      report,
    );
    assert.equal(driftExitCode([stackWith([refused])]), 1);
  });

  it("shows no admission section when every object is admitted, only one line, and exits 0", () => {
    const admitted = { ...refused, refusals: [] };
    const report = renderDriftReport([stackWith([admitted])]);
    assert.ok(!report.includes("### Admission preview"), report);
    assert.match(report, /Admission preview: 4 objects of 1 release admitted/);
    assert.equal(driftExitCode([stackWith([admitted])]), 0);
  });

  it("exits 2 when a release could not be checked, and says why", () => {
    const unchecked = { ...refused, refusals: [], objects: 0, error: "helm (v3) is not on PATH" };
    const report = renderDriftReport([stackWith([unchecked])]);
    assert.match(report, /Could not check: helm \(v3\) is not on PATH/);
    assert.match(report, /\*\*admission preview could not run:\*\* prod/);
    assert.equal(driftExitCode([stackWith([unchecked])]), 2);
    const skipped = { ...unchecked, error: undefined, skipped: "not checked: a new stage" };
    assert.match(renderDriftReport([stackWith([skipped])]), /Not checked: a new stage\./);
    assert.equal(driftExitCode([stackWith([skipped])]), 0, "a skip is noted, not a failure");
  });

  it("renders the permission delta with classes and puts both sections in the JSON", () => {
    const events = resourceEvents(
      ROLE,
      "prod-deployer-role",
      role(base),
      role([...base, execRule]),
    );
    const preview = stackWith([refused], events);
    const report = renderDriftReport([preview]);
    assert.match(report, /### Permission delta \(1\)/);
    assert.ok(report.includes("| added | `pods/exec` | create | **exec-attach** |"), report);
    assert.match(report, /\*\*permissions change:\*\* prod/);
    const doc = JSON.parse(JSON.stringify(driftJson([preview])));
    assert.equal(doc.exitCode, 1);
    assert.deepEqual(doc.stacks[0].permissionDelta[0].role.added, [
      { group: "", resource: "pods/exec", verb: "create", classes: ["exec-attach"] },
    ]);
    assert.equal(doc.stacks[0].admission[0].refusals[0].rule, "services.type");
  });
});

describe("admission preview: where a release's local chart path is relative to", () => {
  it("is the program directory's real path, as the program's working directory was", () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), "scoped-cd-programdir-"));
    try {
      const real = path.join(root, "checkout", "bin");
      const work = path.join(root, "work");
      fs.mkdirSync(real, { recursive: true });
      fs.mkdirSync(work);
      fs.writeFileSync(path.join(work, "Pulumi.yaml"), "name: x\nmain: bin/index.js\n");
      fs.symlinkSync(real, path.join(work, "bin"));
      assert.equal(programDir(work), fs.realpathSync(real));
      // Without a project file: the work dir itself.
      assert.equal(programDir(real), fs.realpathSync(real));
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
});
