// After a rotation, nothing a holder of the old credential obtained may keep working. With
// `allowRbac`, a RoleBinding that grants a stage Role to an identity of the holder's own survives a
// rotation (the admission guardrails keep such an identity from getting a token through the API,
// but a kubelet would still hand one to a pod running as it): `verify` reports each as a surprise.
import { strayStageGrants } from "../../policy/credentials";
import type { CheckRow, StageCheck } from "./verifyChecks";

export const strayGrantsCheck: StageCheck = {
  name: "identities",
  async run(target) {
    const { KubeConfig, RbacAuthorizationV1Api } = await import("@kubernetes/client-node");
    const kc = new KubeConfig();
    kc.loadFromString(target.kubeconfig);
    const rbac = kc.makeApiClient(RbacAuthorizationV1Api);
    let bindings;
    try {
      bindings = await rbac.listNamespacedRoleBinding({ namespace: target.summary.namespace });
    } catch (err) {
      // Without allowRbac the identity may not list (or create) RoleBindings: nothing to report.
      if ((err as { code?: unknown }).code === 403) return [];
      throw err;
    }
    const stray = strayStageGrants(bindings.items, {
      serviceAccount: target.summary.serviceAccount,
    });
    if (target.summary.credential?.kind === "oidc") return []; // OIDC binds groups, not accounts
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
