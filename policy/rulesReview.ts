// Compare what the API server says an identity may do in its namespace (SelfSubjectRulesReview)
// with what scoped-cd declares: any (group, resource, verb) beyond the widest deployer profile is
// a surplus — a rule someone appended, or a binding a chart made to the deployer.
import { deployerRules } from "./deployerProfile";
import { EscalationClass, escalationClasses, PolicyRule, ruleCovers } from "./rbac";

/** What every authenticated identity may do (system:basic-user). */
export const SELF_REVIEW_RULES: readonly PolicyRule[] = [
  {
    apiGroups: ["authorization.k8s.io"],
    resources: ["selfsubjectaccessreviews", "selfsubjectrulesreviews"],
    verbs: ["create"],
  },
  { apiGroups: ["authentication.k8s.io"], resources: ["selfsubjectreviews"], verbs: ["create"] },
];

/** A reviewed rule beyond the declaration, and the escalation classes it carries. */
export interface SurplusRule {
  readonly rule: PolicyRule;
  readonly classes: EscalationClass[];
}

/**
 * Reviewed rules with any (group, resource, verb) that no declared rule covers. The declaration
 * is the widest profile (allowRbac, Tiller) unless given; extra rules are not known to verify.
 */
export function rulesBeyondProfile(
  reviewed: readonly PolicyRule[],
  declared: readonly PolicyRule[] = deployerRules({ allowRbac: true, tiller: true }),
): SurplusRule[] {
  const allowed = [...declared, ...SELF_REVIEW_RULES];
  return reviewed
    .filter((rule) =>
      rule.apiGroups.some((g) =>
        rule.resources.some((r) =>
          rule.verbs.some((v) => !allowed.some((a) => !a.resourceNames && ruleCovers(a, g, r, v))),
        ),
      ),
    )
    .map((rule) => ({ rule, classes: escalationClasses(rule) }));
}
