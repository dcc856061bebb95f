// Ask the API server who the scoped identity is (SelfSubjectReview) and what it may do in its
// namespace (SelfSubjectRulesReview), and compare with the declaration: a different identity, or
// a rule beyond the profile that carries an escalation class, is a surprise. A harmless surplus
// (an extra rule a stage configured, say) is listed as a note.
import { DOCUMENTED_CLASSES } from "../../../policy/deployerProfile";
import { rulesBeyondProfile } from "../../../policy/rulesReview";
import { externalIdentityMismatch } from "../../../policy/credentials";
import type { CheckRow, StageCheck } from "./types";

/**
 * External kind: the cluster's authenticator chose the identity; it must be the bound one, or
 * every other check would test someone else's rights (verify stops on a mismatch).
 */
export const externalIdentityCheck: StageCheck = {
  name: "identity",
  async run(target) {
    const external = target.summary.credential?.external;
    if (target.summary.credential?.kind !== "external" || !external) return [];
    const k = await import("@kubernetes/client-node");
    const kc = new k.KubeConfig();
    kc.loadFromString(target.kubeconfig);
    const review = await kc.makeApiClient(k.AuthenticationV1Api).createSelfSubjectReview({
      body: { apiVersion: "authentication.k8s.io/v1", kind: "SelfSubjectReview" },
    });
    const mismatch = externalIdentityMismatch(external, review.status?.userInfo ?? {});
    const names = [
      ...(external.user ? [`user ${external.user}`] : []),
      ...external.groups.map((g) => `group ${g}`),
    ];
    return [
      {
        check: "identity",
        description: `the kubeconfig authenticates as ${names.join(", ")} (SelfSubjectReview)`,
        expected: "allowed",
        actual: mismatch ? "forbidden" : "allowed",
        ok: !mismatch,
        ...(mismatch ? { reason: mismatch } : {}),
      },
    ];
  },
};

export const identityRulesCheck: StageCheck = {
  name: "rules",
  async run(target) {
    const k = await import("@kubernetes/client-node");
    const kc = new k.KubeConfig();
    kc.loadFromString(target.kubeconfig);
    const rows: CheckRow[] = [];
    const namespace = target.summary.namespace;

    const sa = target.summary.serviceAccount;
    if (sa && target.summary.credential?.kind !== "oidc") {
      const review = await kc.makeApiClient(k.AuthenticationV1Api).createSelfSubjectReview({
        body: { apiVersion: "authentication.k8s.io/v1", kind: "SelfSubjectReview" },
      });
      const expected = `system:serviceaccount:${namespace}:${sa}`;
      const actual = review.status?.userInfo?.username ?? "";
      rows.push({
        check: "rules",
        description: `the kubeconfig authenticates as ${expected} (SelfSubjectReview)`,
        expected: "allowed",
        actual: actual === expected ? "allowed" : "forbidden",
        ok: actual === expected,
        ...(actual === expected ? {} : { reason: `the API server says ${actual || "nobody"}` }),
      });
    }

    const review = await kc.makeApiClient(k.AuthorizationV1Api).createSelfSubjectRulesReview({
      body: {
        apiVersion: "authorization.k8s.io/v1",
        kind: "SelfSubjectRulesReview",
        spec: { namespace },
      },
    });
    const reviewed = (review.status?.resourceRules ?? []).map((r) => ({
      apiGroups: r.apiGroups ?? [""],
      resources: r.resources ?? [],
      verbs: r.verbs,
      ...(r.resourceNames?.length ? { resourceNames: r.resourceNames } : {}),
    }));
    const surplus = rulesBeyondProfile(reviewed);
    for (const { rule, classes } of surplus) {
      const risky = classes.filter((c) => !DOCUMENTED_CLASSES.has(c));
      rows.push({
        check: "rules",
        description: `rule beyond the profile in ${namespace}: ${rule.verbs.join(",")} ${rule.apiGroups.map((g) => g || "core").join(",")}/${rule.resources.join(",")}`,
        expected: "forbidden",
        actual: "allowed",
        ok: risky.length === 0,
        note: risky.length
          ? `carries ${risky.join(", ")}`
          : "no escalation class (an extra rule of the stage?)",
      });
    }
    if (surplus.length === 0) {
      rows.push({
        check: "rules",
        description: `effective rules in ${namespace} stay within the deployer profile (SelfSubjectRulesReview)`,
        expected: "forbidden",
        actual: "forbidden",
        ok: true,
        ...(review.status?.incomplete ? { note: "the review is incomplete" } : {}),
      });
    }
    // The stack's other stages: nothing beyond what every identity may do.
    for (const other of target.siblingNamespaces ?? []) {
      const sibling = await kc.makeApiClient(k.AuthorizationV1Api).createSelfSubjectRulesReview({
        body: {
          apiVersion: "authorization.k8s.io/v1",
          kind: "SelfSubjectRulesReview",
          spec: { namespace: other },
        },
      });
      const granted = rulesBeyondProfile(
        (sibling.status?.resourceRules ?? []).map((r) => ({
          apiGroups: r.apiGroups ?? [""],
          resources: r.resources ?? [],
          verbs: r.verbs,
        })),
        [],
      );
      rows.push({
        check: "rules",
        description: `no rights in the stack's other stage namespace ${other} (SelfSubjectRulesReview)`,
        expected: "forbidden",
        actual: granted.length ? "allowed" : "forbidden",
        ok: granted.length === 0,
        ...(granted.length
          ? {
              reason: granted
                .map(({ rule }) => `${rule.verbs.join(",")} ${rule.resources.join(",")}`)
                .join("; "),
            }
          : {}),
      });
    }
    return rows;
  },
};
