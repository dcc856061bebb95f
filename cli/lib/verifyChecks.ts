// What `scoped-cd verify` checks for each stage, as a list: each check asks the API server, as
// the stage's scoped identity, and returns one row per question. A new kind of check (say, an
// admission dry-run probe) is one more entry in STAGE_CHECKS.
import { buildContainmentMatrix, Expectation } from "../../policy/containment";
import type { StageSummary } from "../../components/outputs";
import type { UndeclaredObject } from "../../policy/inventory";
import { admissionProbeCheck } from "./admissionCheck";
import { checkContainment } from "./containmentCheck";
import { identityRulesCheck } from "./rulesCheck";
import { strayGrantsCheck } from "./identityCheck";
import { inClusterTiller, tillerCheck } from "./tillerCheck";
import { inventoryCheck } from "./inventory";

/** One stage of a stack, with the kubeconfig to ask as. */
export interface StageTarget {
  readonly stack: string;
  readonly stage: string;
  readonly summary: StageSummary;
  /** Kubeconfig YAML: kept in memory, never printed. */
  readonly kubeconfig: string;
  /** A namespace besides kube-system that must be out of reach. */
  readonly otherNamespace: string;
  /** The namespaces of the stack's other stages: as far out of reach as any. */
  readonly siblingNamespaces?: readonly string[];
  /** The stack's mode (`access` stacks declare no releases: the inventory counts every stored one). */
  readonly mode?: string;
}

/** One answer, expected or not. */
export interface CheckRow {
  /** Which check of STAGE_CHECKS asked. */
  readonly check: string;
  readonly description: string;
  readonly expected: Expectation;
  readonly actual: Expectation;
  readonly ok: boolean;
  readonly note?: string;
  /** The authorizer's reason or evaluation error, when it gave one. */
  readonly reason?: string;
  /** The inventory check: the undeclared (or acknowledged) object the row is about. */
  readonly object?: UndeclaredObject;
}

export interface StageCheck {
  readonly name: string;
  /** Resolves with the rows; rejects when the API server cannot be asked at all. */
  run(target: StageTarget): Promise<CheckRow[]>;
}

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
  containmentMatrixCheck,
  identityRulesCheck,
  admissionProbeCheck,
  strayGrantsCheck,
  tillerCheck,
  inventoryCheck,
];
