// The shapes every verify check shares: what a check is asked about (a stage and its scoped
// kubeconfig), and the rows it answers with. Their own module, so that checks.ts can list the
// checks without the checks importing it back.
import type { Expectation } from "../../../policy/containment";
import type { StageSummary } from "../../../components/outputs";
import type { UndeclaredObject } from "../../../policy/inventory";

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
