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
import { foreignIdentities, refKey } from "../../policy/leftovers";
import type { StageSummary } from "../../components/outputs";
import { listIdentityObjects } from "./accessLeftovers";
import type { CheckRow, StageCheck } from "./verify/types";

type ClientNode = typeof import("@kubernetes/client-node", {
  with: { "resolution-mode": "import" },
});
type KubeConfig = InstanceType<ClientNode["KubeConfig"]>;

/**
 * Who the credential is, asked of the API server (SelfSubjectReview): its username, and its
 * ServiceAccount's name when it is one of `namespace`.
 */
async function selfIdentity(
  kc: KubeConfig,
  namespace: string,
): Promise<{ username: string; serviceAccount?: string }> {
  const { AuthenticationV1Api } = await import("@kubernetes/client-node");
  const review = await kc.makeApiClient(AuthenticationV1Api).createSelfSubjectReview({
    body: { apiVersion: "authentication.k8s.io/v1", kind: "SelfSubjectReview" },
  });
  const username = review.status?.userInfo?.username ?? "";
  const prefix = `system:serviceaccount:${namespace}:`;
  return {
    username,
    serviceAccount: username.startsWith(prefix) ? username.slice(prefix.length) : undefined,
  };
}

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
  const { KubeConfig, RbacAuthorizationV1Api } = await import("@kubernetes/client-node");
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
  const { username, serviceAccount: self } = await selfIdentity(kc, summary.namespace);
  const oidc = username.startsWith(OIDC_USERNAME_PREFIX) || summary.credential?.kind === "oidc";
  return strayStageGrants(bindings.items, {
    serviceAccount: summary.serviceAccount ?? self ?? null,
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

/**
 * Identities of the access layer that are not the stage's current ones: what an `up` killed before
 * its checkpoint left (the next handoff removes them), or what an admin made by hand. Read as the
 * scoped identity. The current deployer is the summary's or, for a delivery stack that does not
 * know its access stack, the credential's own ServiceAccount; Tiller's is `tiller-<suffix>` of the
 * same rotation suffix. A namespace it may not list in is skipped (nothing there is its doing).
 */
export const foreignIdentitiesCheck: StageCheck = {
  name: "identities",
  async run(target) {
    const { summary } = target;
    const { KubeConfig } = await import("@kubernetes/client-node");
    const kc = new KubeConfig();
    kc.loadFromString(target.kubeconfig);
    const deployer =
      summary.serviceAccount ?? (await selfIdentity(kc, summary.namespace)).serviceAccount;
    const suffix = deployer?.startsWith("deployer-")
      ? deployer.slice("deployer-".length)
      : undefined;
    const tiller =
      summary.tiller?.serviceAccount ?? (suffix !== undefined ? `tiller-${suffix}` : undefined);
    let listed;
    try {
      listed = await listIdentityObjects(kc, summary.namespace);
    } catch (err) {
      if (/HTTP 403/.test(String(err))) return [];
      throw err;
    }
    return foreignIdentities(listed, { deployer, tiller }).map((o): CheckRow => ({
      check: "identities",
      description: `${refKey(o)} is an identity of the access layer the stage does not use`,
      expected: "forbidden",
      actual: "allowed",
      ok: false,
      note: "left by an interrupted up: the next `scoped-cd handoff` removes it",
    }));
  },
};
