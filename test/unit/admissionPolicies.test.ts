// The admission policies a stage gets are exactly what stacks hold today: the snapshot was taken
// from the single admissionPolicies function before it was split into one builder per class, so a
// refactoring that changes a name, an order or a CEL expression (and would rewrite or replace live
// policies) fails here. A deliberate change regenerates the snapshot and says so in its commit.
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import type { AdmissionSettings } from "../../policy/admission";
import { admissionPolicies } from "../../policy/admissionPolicies";
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
