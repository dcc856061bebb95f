// Tiller (Helm v2), as far as the stage's scoped identity can observe it.
// - No in-cluster Tiller (local mode, or Tiller off): no Tiller identity may exist in the
//   namespace, i.e. no `tiller*` ServiceAccount and no tiller Deployment (the deployer may list
//   both). One would be an identity nobody declared, reachable by whoever can edit its pods.
// - In-cluster Tiller: its ServiceAccount is the one the stack declared, and Tiller can do nothing
//   the deployer cannot. The deployer cannot impersonate Tiller or review another subject's
//   rights, so the comparison is made on the live Role `tiller` when the identity may read Roles
//   (allowRbac), against the identity's own effective rules (SelfSubjectRulesReview). Without
//   allowRbac the Role is unreadable to it: the row says so, and the guarantee rests on the
//   declaration (the Role is generated from the deployer's profile minus port-forward) and on
//   `pulumi refresh`/drift run with the admin credential.
import type { StageSummary } from "../../../components/outputs";
import { rulesBeyondProfile } from "../../../policy/rulesReview";
import type { CheckRow, StageCheck } from "./types";

/** Whether the stage runs Tiller in the cluster: undefined when the stack does not know. */
export function inClusterTiller(summary: StageSummary): boolean | undefined {
  const t = summary.tiller;
  if (!t || t.enabled === null) return undefined;
  // Outputs written before `tiller.mode` existed carry no mode: they mean in-cluster.
  return t.enabled && t.mode !== "local";
}

const row = (description: string, ok: boolean, extra: Partial<CheckRow> = {}): CheckRow => ({
  check: "tiller",
  description,
  expected: "forbidden",
  actual: ok ? "forbidden" : "allowed",
  ok,
  ...extra,
});

export const tillerCheck: StageCheck = {
  name: "tiller",
  async run(target) {
    const inCluster = inClusterTiller(target.summary);
    if (inCluster === undefined) return [];
    const k = await import("@kubernetes/client-node");
    const kc = new k.KubeConfig();
    kc.loadFromString(target.kubeconfig);
    const namespace = target.summary.namespace;
    const core = kc.makeApiClient(k.CoreV1Api);
    const apps = kc.makeApiClient(k.AppsV1Api);
    const accounts = (await core.listNamespacedServiceAccount({ namespace })).items
      .map((sa) => sa.metadata?.name ?? "")
      .filter((n) => n.startsWith("tiller"));
    const deployments = (await apps.listNamespacedDeployment({ namespace })).items
      .map((d) => d.metadata?.name ?? "")
      .filter((n) => n.startsWith("tiller"));

    if (!inCluster) {
      const why =
        target.summary.tiller.enabled === true
          ? "Tiller runs locally (scoped-cd helm2)"
          : "Tiller is off";
      return [
        row(`no Tiller ServiceAccount (tiller*) in ${namespace}`, accounts.length === 0, {
          note: why,
          ...(accounts.length ? { reason: `found ${accounts.join(", ")}` } : {}),
        }),
        row(`no Tiller Deployment (tiller*) in ${namespace}`, deployments.length === 0, {
          note: why,
          ...(deployments.length ? { reason: `found ${deployments.join(", ")}` } : {}),
        }),
      ];
    }

    const rows: CheckRow[] = [];
    const declared = target.summary.tiller.serviceAccount;
    if (declared) {
      const strays = accounts.filter((n) => n !== declared);
      rows.push({
        check: "tiller",
        description: `Tiller's ServiceAccount is ${declared}, and no other tiller* account exists`,
        expected: "allowed",
        actual: accounts.includes(declared) && strays.length === 0 ? "allowed" : "forbidden",
        ok: accounts.includes(declared) && strays.length === 0,
        ...(strays.length ? { reason: `also found ${strays.join(", ")}` } : {}),
        ...(!accounts.includes(declared) ? { reason: `${declared} does not exist` } : {}),
      });
    }
    const rbac = kc.makeApiClient(k.RbacAuthorizationV1Api);
    let role;
    try {
      role = await rbac.readNamespacedRole({ name: "tiller", namespace });
    } catch (err) {
      if ((err as { code?: unknown }).code !== 403) throw err;
    }
    if (!role) {
      rows.push(
        row(`Tiller's Role grants nothing the deployer lacks`, true, {
          note: "not observable without allowRbac (the identity may not read Roles): holds by declaration",
        }),
      );
      return rows;
    }
    const review = await kc.makeApiClient(k.AuthorizationV1Api).createSelfSubjectRulesReview({
      body: {
        apiVersion: "authorization.k8s.io/v1",
        kind: "SelfSubjectRulesReview",
        spec: { namespace },
      },
    });
    const own = (review.status?.resourceRules ?? []).map((r) => ({
      apiGroups: r.apiGroups ?? [""],
      resources: r.resources ?? [],
      verbs: r.verbs,
      ...(r.resourceNames?.length ? { resourceNames: r.resourceNames } : {}),
    }));
    const tillerRules = (role.rules ?? []).map((r) => ({
      apiGroups: r.apiGroups ?? [""],
      resources: r.resources ?? [],
      verbs: r.verbs,
      ...(r.resourceNames?.length ? { resourceNames: r.resourceNames } : {}),
    }));
    const beyond = rulesBeyondProfile(tillerRules, own);
    rows.push(
      row(`Tiller's Role (live) grants nothing the deployer lacks`, beyond.length === 0, {
        ...(beyond.length
          ? {
              reason: beyond
                .map(({ rule }) => `${rule.verbs.join(",")} ${rule.resources.join(",")}`)
                .join("; "),
            }
          : {}),
      }),
    );
    return rows;
  },
};
