// Ask the API server, as the scoped identity itself, whether each request of the containment
// matrix (policy/containment.ts) would be allowed: SelfSubjectAccessReview, so nothing is
// created, read or changed.
import type { ContainmentCheck, Expectation } from "../../../policy/containment";

export interface ContainmentRow {
  readonly check: ContainmentCheck;
  readonly expected: Expectation;
  readonly actual: Expectation;
  readonly ok: boolean;
  /** The authorizer's reason or evaluation error, when it gave one. */
  readonly reason?: string;
}

/**
 * Ask the API server, with the given kubeconfig (its current context), about every check.
 * Throws when the server cannot be asked at all (unreachable, token rejected).
 */
export async function checkContainment(
  kubeconfigYaml: string,
  matrix: readonly ContainmentCheck[],
): Promise<ContainmentRow[]> {
  // client-node is an ES module; this CommonJS script loads it on demand.
  const { AuthorizationV1Api, KubeConfig } = await import("@kubernetes/client-node");
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromString(kubeconfigYaml);
  const api = kubeConfig.makeApiClient(AuthorizationV1Api);
  const rows: ContainmentRow[] = [];
  // One at a time: a few dozen small requests, and a stable order in the output.
  for (const check of matrix) {
    const review = await api.createSelfSubjectAccessReview({
      body: {
        apiVersion: "authorization.k8s.io/v1",
        kind: "SelfSubjectAccessReview",
        spec: { resourceAttributes: { ...check.resourceAttributes } },
      },
    });
    const status = review.status;
    const actual: Expectation = status?.allowed ? "allowed" : "forbidden";
    const reason = status?.evaluationError || status?.reason || undefined;
    rows.push({ check, expected: check.expect, actual, ok: actual === check.expect, reason });
  }
  return rows;
}
