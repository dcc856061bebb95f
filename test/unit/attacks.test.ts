// `verify --attacks` without a cluster: the catalogue's shape (policy/attacks.ts) and the report.
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import {
  allowedByConfig,
  ATTACK_CLASSES,
  attackCatalogue,
  allowedTargets,
  StageAllowances,
} from "../../policy/attacks";
import { RULE_PREFIX } from "../../policy/admission";
import { admissionPolicies } from "../../policy/admissionPolicies";
import { attacksJson, renderAttackStage } from "../../cli/commands/verify";
import { AttackResult, attackSummary } from "../../cli/lib/verify/attacks";

const ctx = { namespace: "stage-ns", otherNamespace: "default", id: "abc123" };
const catalogue = attackCatalogue(ctx);
const none: StageAllowances = {
  serviceTypes: [],
  allowMinAvailable: false,
  allowRbac: false,
  tillerPortForward: false,
};

describe("the escape-attempt catalogue", () => {
  it("has at least 40 attempts, each with a unique id, a class, a reason and an expected refusal", () => {
    assert.ok(catalogue.length >= 40, `only ${catalogue.length} attempts`);
    assert.equal(new Set(catalogue.map((a) => a.id)).size, catalogue.length, "ids repeat");
    for (const a of catalogue) {
      assert.ok((ATTACK_CLASSES as readonly string[]).includes(a.class), `${a.id}: class`);
      assert.ok(a.attempt.length > 10 && a.reason.length > 10, `${a.id}: attempt and reason`);
      assert.equal(a.expect, "refused", a.id);
      assert.ok(a.refusedBy, `${a.id}: refusedBy`);
    }
  });

  it("covers every class, and CREATE, UPDATE, every patch type, subresources and access reviews", () => {
    assert.deepEqual(
      [...new Set(catalogue.map((a) => a.class))].sort(),
      [...ATTACK_CLASSES].sort(),
    );
    const kinds = new Set(catalogue.map((a) => a.action.kind));
    assert.deepEqual([...kinds].sort(), ["access", "create", "patch"]);
    const patchTypes = new Set(
      catalogue.flatMap((a) => (a.action.kind === "patch" ? [a.action.patchType] : [])),
    );
    assert.deepEqual([...patchTypes].sort(), ["apply", "json", "merge", "strategic"]);
    const subresources = new Set(
      catalogue.flatMap((a) =>
        a.action.kind === "access" && a.action.attributes.subresource
          ? [a.action.attributes.subresource]
          : [],
      ),
    );
    for (const s of [
      "exec",
      "attach",
      "portforward",
      "ephemeralcontainers",
      "proxy",
      "scale",
      "status",
      "token",
    ])
      assert.ok(subresources.has(s), `no ${s} attempt`);
    for (const kind of ["HTTPRoute", "GRPCRoute", "TLSRoute"])
      assert.ok(
        catalogue.some((a) => a.action.kind === "create" && a.action.object.kind === kind),
        `no ${kind} attempt`,
      );
  });

  it("is counted as it is in the README (attempts and classes)", () => {
    const readme = fs
      .readFileSync(path.resolve(__dirname, "../../../README.md"), "utf8")
      .replace(/\s+/g, " ");
    assert.match(
      readme,
      new RegExp(
        `try ${catalogue.length} harmless escape attempts as that identity, in ${ATTACK_CLASSES.length} classes`,
      ),
    );
  });

  it("names only guardrail rules that exist (their message starts the denial)", () => {
    const settings = {
      stage: "s",
      namespace: "stage-ns",
      services: { allowTypes: [] },
      ingress: { allowHosts: [], allowClasses: [], allowAnnotations: [] },
      workloads: { allowPriorityClasses: [] },
      disruptionBudgets: { allowMinAvailable: false },
      gateway: { allowParents: [], allowHosts: [] },
    };
    const text = JSON.stringify(admissionPolicies(settings));
    for (const a of catalogue.filter((x) => x.refusedBy.includes("."))) {
      assert.ok(text.includes(`${RULE_PREFIX} ${a.refusedBy}:`), `${a.id}: ${a.refusedBy}`);
    }
  });

  it("stays in the stage namespace unless the attempt is about leaving it", () => {
    for (const a of catalogue) {
      const ns =
        a.action.kind === "create"
          ? (a.action.object.metadata as { namespace?: string }).namespace
          : a.action.kind === "patch"
            ? a.action.target.namespace
            : a.action.attributes.namespace;
      if (ns !== undefined && ns !== ctx.namespace)
        assert.ok(["cluster-scope"].includes(a.class), `${a.id} writes to ${ns}`);
      if (a.action.kind === "patch" && a.action.base) {
        assert.equal((a.action.base.metadata as { namespace: string }).namespace, ctx.namespace);
        assert.match((a.action.base.metadata as { name: string }).name, /abc123$/);
      }
    }
  });

  it("breaks one Ingress or Gateway API rule per attempt and keeps the others, with the stage's allowed hosts and Gateway", () => {
    const allowances = {
      ...none,
      ingressHosts: ["*.web.example.com"],
      gatewayParents: ["infra/shared", "infra/other"],
      gatewayHosts: ["*.shop.example.com"],
    };
    const targets = allowedTargets(allowances);
    assert.deepEqual(targets, {
      ingressHost: "scoped-cd-attack.web.example.com",
      gatewayParent: "infra/shared",
      gatewayHost: "scoped-cd-attack.shop.example.com",
    });
    assert.deepEqual(allowedTargets({ ...none, gatewayHosts: ["app.example.com"] }), {
      gatewayHost: "app.example.com",
    });
    assert.deepEqual(allowedTargets(none), {});
    const relaxed = attackCatalogue({ ...ctx, ...targets });
    for (const a of relaxed.filter((x) => x.class === "gateway")) {
      assert.equal(a.action.kind, "create", a.id);
      if (a.action.kind !== "create") continue;
      const spec = a.action.object.spec as Record<string, any>;
      const parentOk = (
        spec.parentRefs as { namespace?: string; name: string; kind?: string }[]
      ).every((p) => !p.kind && `${p.namespace}/${p.name}` === "infra/shared");
      const hostOk =
        Array.isArray(spec.hostnames) &&
        spec.hostnames.every((h: string) => h.endsWith(".shop.example.com"));
      // Exactly the rule the attempt names is broken.
      assert.equal(parentOk, a.refusedBy !== "gateway.parentRefs", `${a.id}: parentRefs`);
      assert.equal(hostOk, a.refusedBy !== "gateway.hostnames", `${a.id}: hostnames`);
    }
    // Every Ingress attempt that is not about hosts has only the stage's host in its rules.
    for (const a of relaxed.filter((x) => x.class === "ingress" && x.action.kind === "create")) {
      if (a.action.kind !== "create") continue;
      const spec = a.action.object.spec as { rules?: { host?: string }[]; tls?: unknown[] };
      const hosts = (spec.rules ?? []).map((r) => r.host);
      if (a.refusedBy === "ingress.host" && !spec.tls) continue;
      assert.ok(
        hosts.every((h) => h === "scoped-cd-attack.web.example.com"),
        `${a.id}: rule hosts ${hosts.join(", ")}`,
      );
    }
  });

  it("turns an attempt into allowed-by-config only for the matching allowance", () => {
    const byId = (id: string) => catalogue.find((a) => a.id === id)!;
    assert.equal(allowedByConfig(byId("services.type.NodePort"), none), false);
    assert.equal(
      allowedByConfig(byId("services.type.NodePort"), { ...none, serviceTypes: ["NodePort"] }),
      true,
    );
    assert.equal(
      allowedByConfig(byId("services.type.LoadBalancer"), { ...none, serviceTypes: ["NodePort"] }),
      false,
    );
    assert.equal(
      allowedByConfig(byId("rbac.rolebindings.create"), { ...none, allowRbac: true }),
      true,
    );
    assert.equal(
      allowedByConfig(byId("services.externalIPs.create"), { ...none, allowRbac: true }),
      false,
    );
    assert.equal(allowedByConfig(byId("services.type.NodePort"), undefined), false);
  });
});

describe("the verify --attacks report", () => {
  const results: AttackResult[] = [
    {
      id: "services.externalIPs.create",
      class: "services",
      attempt: "create a Service with spec.externalIPs",
      outcome: "refused",
      answer: `admission webhook denied: ${RULE_PREFIX} services.externalIPs: …`,
      refusedBy: "services.externalIPs",
    },
    {
      id: "services.type.NodePort",
      class: "services",
      attempt: "create a NodePort Service",
      outcome: "allowed-by-config",
      answer: "dry-run create admitted (HTTP 201)",
      refusedBy: "services.type",
      allowedBy: "guardrails.services.allowTypes",
    },
    {
      id: "subresources.exec",
      class: "subresources",
      attempt: "exec into a pod (pods/exec)",
      outcome: "ALLOWED",
      answer: "SelfSubjectAccessReview: allowed",
      refusedBy: "RBAC",
    },
    {
      id: "gateway.httproute.hostname",
      class: "gateway",
      attempt: "create a HTTPRoute for a host outside the stage's patterns",
      outcome: "skipped",
      answer: "the Gateway API CRDs are not installed",
      refusedBy: "gateway.hostnames",
    },
  ];
  const stage = (attempts: AttackResult[]) => ({
    stage: "dev",
    namespace: "dev-ns",
    serviceAccount: "deployer-x",
    allowancesKnown: true,
    summary: attackSummary(attempts),
    allowed: attempts.filter((r) => r.outcome === "ALLOWED").length,
    seconds: 2.5,
    attempts,
  });

  it("summarises in one line", () => {
    assert.equal(attackSummary(results.slice(0, 1)), "1 attempts, all refused");
    assert.equal(
      attackSummary(results.slice(0, 2)),
      "2 attempts, all refused but 1 allowed by config",
    );
    assert.equal(
      attackSummary(results),
      "3 attempts, 1 ALLOWED, 1 skipped (not served by this cluster)",
    );
  });

  it("prints class, attempt, result and the API server's answer, and names what got through", () => {
    const text = renderAttackStage("dev", stage(results));
    assert.match(
      text,
      /^== stack dev, stage dev \(namespace dev-ns, as deployer-x\): escape attempts/,
    );
    assert.match(text, /CLASS\s+ATTEMPT\s+RESULT\s+ANSWER/);
    assert.match(
      text,
      /services\s+create a Service with spec\.externalIPs\s+refused\s+admission webhook denied/,
    );
    assert.match(text, /allowed by config \(guardrails\.services\.allowTypes\)/);
    assert.match(
      text,
      /subresources\s+exec into a pod \(pods\/exec\)\s+ALLOWED\s+SelfSubjectAccessReview: allowed/,
    );
    assert.match(text, /ALLOWED \(an escape, or a guardrail missing\): subresources\.exec\n/);
    assert.match(text, /3 attempts, 1 ALLOWED.* \(2\.5 s\)\n/);
  });

  it("gives the same as JSON, ok only when nothing got through", () => {
    const doc = attacksJson("dev", [stage(results)]);
    assert.equal(doc.ok, false);
    assert.equal(doc.allowed, 1);
    assert.deepEqual(doc.stages[0].attempts[2], results[2]);
    assert.equal(attacksJson("dev", [stage(results.slice(0, 2))]).ok, true);
  });
});
