// The admission policies a stage gets are exactly what stacks hold today: the snapshot was taken
// from the single admissionPolicies function before it was split into one builder per class, so a
// refactoring that changes a name, an order or a CEL expression (and would rewrite or replace live
// policies) fails here. A deliberate change regenerates the snapshot and says so in its commit.
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import type { AdmissionSettings } from "../../policy/admission";
import { admissionPolicies, guardrailPolicy } from "../../policy/admissionPolicies";
import { classesOf, mergePolicies, ruleMatch } from "../../policy/admissionPolicies/merged";
import { PROJECT_ROOT } from "../../cli/lib/paths";

const base: AdmissionSettings = {
  stage: "dev",
  namespace: "dev-ns",
  services: { allowTypes: [] },
  ingress: { allowHosts: [], allowClasses: [], allowAnnotations: [] },
  workloads: { allowPriorityClasses: [] },
  disruptionBudgets: { allowMinAvailable: false },
  gateway: { allowParents: [], allowHosts: [] },
};
const relaxed: AdmissionSettings = {
  stage: "prod",
  namespace: "prod-ns",
  services: { allowTypes: ["NodePort", "LoadBalancer", "ExternalName"] },
  ingress: {
    allowHosts: ["app.example.com", "*.test.example.com"],
    allowClasses: ["nginx", "traefik"],
    allowAnnotations: ["meta.helm.sh/release-name", "cert-manager.io/*"],
  },
  workloads: { allowPriorityClasses: ["high", "low"] },
  disruptionBudgets: { allowMinAvailable: true },
  gateway: { allowParents: ["infra/shared"], allowHosts: ["app.example.com"] },
};

describe("admission policies (one builder per class)", () => {
  const snapshot = JSON.parse(
    fs.readFileSync(
      path.join(PROJECT_ROOT, "test", "unit", "snapshots", "admissionPolicies.json"),
      "utf8",
    ),
  );
  for (const [name, settings] of [
    ["base", base],
    ["relaxed", relaxed],
  ] as const) {
    it(`builds the same policies as before the split (${name} stage)`, () => {
      const snap = (snapshot as Record<string, unknown[]>)[name];
      const built = JSON.parse(JSON.stringify(admissionPolicies(settings)));
      // The snapshot's policies unchanged, in order; policies added since come after them.
      assert.deepEqual(built.slice(0, snap.length), snap);
      assert.deepEqual(
        built.slice(snap.length).map((p: { class: string }) => p.class),
        ["gateway"],
      );
    });
  }
});

describe("the merged stage policy (one policy and binding per stage)", () => {
  for (const [name, settings] of [
    ["base", base],
    ["relaxed", relaxed],
  ] as const) {
    it(`keeps every class's validations, variables and messages exactly (${name} stage)`, () => {
      const classes = admissionPolicies(settings);
      const merged = guardrailPolicy(settings);
      const split = classesOf(merged as never);
      assert.deepEqual(
        split.map((c) => c.class),
        classes.map((c) => c.class),
      );
      for (const [i, c] of classes.entries()) {
        assert.deepEqual(split[i].validations, c.validations, c.class);
        assert.deepEqual(split[i].variables, c.variables ?? [], c.class);
        for (const m of c.matchConditions ?? []) {
          assert.ok(split[i].guard.includes(`(${m.expression})`), `${c.class}: ${m.name}`);
        }
      }
      // Every class's rules are in the merged policy's match constraints.
      for (const r of classes.flatMap((c) => c.resourceRules)) {
        assert.ok(
          merged.resourceRules.some((m) => JSON.stringify(m) === JSON.stringify(r)),
          JSON.stringify(r),
        );
      }
      // No list literal outside the classes' own expressions (allowances are read from those).
      for (const v of merged.variables!.filter((x) => x.name.endsWith("_applies"))) {
        assert.doesNotMatch(v.expression.replace(/\(request\.userInfo[^]*$/, ""), /\[/, v.name);
      }
    });
  }

  it("matches resource rules as the API server does: subresources only when named", () => {
    const rule = (resources: string[], operations = ["CREATE"]) => ({
      apiGroups: [""],
      apiVersions: ["*"],
      operations,
      resources,
    });
    const sub = '(has(request.subResource) ? request.subResource : "")';
    assert.equal(
      ruleMatch(rule(["pods"])),
      `request.resource.group == "" && request.resource.resource == "pods" && ${sub} == "" && request.operation == "CREATE"`,
    );
    assert.equal(
      ruleMatch(rule(["serviceaccounts/token"])),
      `request.resource.group == "" && request.resource.resource == "serviceaccounts" && ${sub} == "token" && request.operation == "CREATE"`,
    );
    assert.equal(
      ruleMatch({ apiGroups: ["*"], apiVersions: ["*"], operations: ["*"], resources: ["*"] }),
      `${sub} == ""`,
    );
    assert.equal(
      ruleMatch({ apiGroups: ["*"], apiVersions: ["*"], operations: ["*"], resources: ["*/*"] }),
      "true",
    );
  });

  it("refuses two classes that would define the same variable", () => {
    const p = admissionPolicies(base)[2];
    assert.throws(() => mergePolicies([p, { ...p }]), /defined twice/);
  });
});
