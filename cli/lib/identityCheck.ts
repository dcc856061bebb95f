// After a rotation, nothing a holder of the old credential obtained may keep working. With
// `allowRbac`, a RoleBinding that grants a stage Role to an identity of the holder's own survives a
// rotation (the admission guardrails keep such an identity from getting a token through the API,
// but a kubelet would still hand one to a pod running as it): `verify` reports each as a surprise,
// `drift` as a finding of its own.
import {
  OIDC_JOB_GROUP_PREFIX,
  OIDC_USERNAME_PREFIX,
  strayStageGrants,
} from "../../policy/credentials";
import type { StageSummary } from "../../components/outputs";
import type { CheckRow, StageCheck } from "./verify/types";

/**
 * The stray grants in a stage's namespace, read as the stage's scoped identity; null when that
 * identity may not list RoleBindings (no allowRbac: it cannot have made any either).
 *
 * Who the current identity is comes from the API server (SelfSubjectReview), not only from the
 * summary: a delivery stack run with a handed-over kubeconfig does not know its access stack.
 */
export async function strayGrantsIn(
  kubeconfig: string,
  summary: StageSummary,
): Promise<string[] | null> {
  const { AuthenticationV1Api, KubeConfig, RbacAuthorizationV1Api } =
    await import("@kubernetes/client-node");
  const kc = new KubeConfig();
  kc.loadFromString(kubeconfig);
  const rbac = kc.makeApiClient(RbacAuthorizationV1Api);
  let bindings;
  try {
    bindings = await rbac.listNamespacedRoleBinding({ namespace: summary.namespace });
  } catch (err) {
    if ((err as { code?: unknown }).code === 403) return null;
    throw err;
  }
  const review = await kc.makeApiClient(AuthenticationV1Api).createSelfSubjectReview({
    body: { apiVersion: "authentication.k8s.io/v1", kind: "SelfSubjectReview" },
  });
  const username = review.status?.userInfo?.username ?? "";
  const saPrefix = `system:serviceaccount:${summary.namespace}:`;
  const self = username.startsWith(saPrefix) ? username.slice(saPrefix.length) : null;
  const oidc = username.startsWith(OIDC_USERNAME_PREFIX) || summary.credential?.kind === "oidc";
  return strayStageGrants(bindings.items, {
    serviceAccount: summary.serviceAccount ?? self,
    tillerServiceAccount: summary.tiller?.serviceAccount,
    groupPrefix: oidc ? OIDC_JOB_GROUP_PREFIX : undefined,
    users: summary.credential?.external?.user ? [summary.credential.external.user] : [],
    groups: summary.credential?.external?.groups ?? [],
  });
}

export const strayGrantsCheck: StageCheck = {
  name: "identities",
  async run(target) {
    const stray = (await strayGrantsIn(target.kubeconfig, target.summary)) ?? [];
    return stray.map((description): CheckRow => ({
      check: "identities",
      description,
      expected: "forbidden",
      actual: "allowed",
      ok: false,
      note: "survives a rotation: delete it unless the chart needs it",
    }));
  },
};
