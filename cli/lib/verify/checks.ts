// What `scoped-cd verify` checks for each stage, as a list: each check asks the API server, as
// the stage's scoped identity, and returns one row per question. A new kind of check (say, an
// admission dry-run probe) is one more entry in STAGE_CHECKS.
import { buildContainmentMatrix } from "../../../policy/containment";
import { foreignIdentitiesCheck, strayGrantsCheck } from "../identityCheck";
import { inventoryCheck } from "../inventory";
import { admissionProbeCheck } from "./admission";
import { checkContainment } from "./containment";
import { externalIdentityCheck, identityRulesCheck } from "./rules";
import { inClusterTiller, tillerCheck } from "./tiller";
import type { StageCheck } from "./types";

export type { CheckRow, StageCheck, StageTarget } from "./types";

/** The containment matrix of the security model, by SelfSubjectAccessReview. */
export const containmentMatrixCheck: StageCheck = {
  name: "containment",
  async run(target) {
    const matrix = buildContainmentMatrix({
      namespace: target.summary.namespace,
      otherNamespace: target.otherNamespace,
      tiller: inClusterTiller(target.summary),
      tillerEnabled: target.summary.tiller?.enabled ?? undefined,
    });
    const rows = await checkContainment(target.kubeconfig, matrix);
    return rows.map((r) => ({
      check: "containment",
      description: r.check.description,
      expected: r.expected,
      actual: r.actual,
      ok: r.ok,
      ...(r.check.note ? { note: r.check.note } : {}),
      ...(r.reason ? { reason: r.reason } : {}),
    }));
  },
};

export const STAGE_CHECKS: readonly StageCheck[] = [
  externalIdentityCheck,
  containmentMatrixCheck,
  identityRulesCheck,
  admissionProbeCheck,
  strayGrantsCheck,
  foreignIdentitiesCheck,
  tillerCheck,
  inventoryCheck,
];
