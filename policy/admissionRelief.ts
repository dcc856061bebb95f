// Why the API server refused an object, and which config key (if any) would let it through: the
// guardrail rule and key from a scoped-cd policy's message, the quota key from a quota refusal,
// Pod Security, or RBAC (a namespaced grant is `deployer.extraRules`, anything outside the stage
// namespace is never allowed). Pure: the message and the stage in, a classification out.
//
// Pod Security refuses only Pods: a Deployment, CronJob, … whose pods it will refuse is admitted
// with a warning (`would violate PodSecurity …`), and the deploy then fails waiting for pods that
// are never created. The admission preview counts that warning as a refusal of the workload.
import { RULE_PREFIX } from "./admission";

export type RefusalSource = "guardrail" | "rbac" | "pod-security" | "quota" | "api";

export interface Relief {
  readonly source: RefusalSource;
  /** The rule that refused: `services.type`, `quota services.nodeports`, `rbac`, … */
  readonly rule: string;
  /** The policy that refused (`scoped-cd-<namespace>-guardrails`), when a policy did. */
  readonly policy?: string;
  /** The config key that would allow it, or null when no setting does. */
  readonly configKey: string | null;
}

const GUARDRAIL = new RegExp(`${RULE_PREFIX} ([A-Za-z]+\\.[A-Za-z]+):`);
const RELAX_KEY =
  /allow it with (scoped-cd:stages\.[A-Za-z0-9.-]+?\.guardrails\.[A-Za-z.]+[A-Za-z])/;
const POLICY = /ValidatingAdmissionPolicy '([^']+)'/;
const QUOTA = /exceeded quota: [^,]+, requested: ([^=,\s]+)=/;
const RBAC =
  /cannot (\S+) resource "([^"]+)" in API group "([^"]*)" (?:in the namespace "([^"]+)"|at the cluster scope)/;

/**
 * What Pod Security's baseline level refuses too, by the names its messages give the checks
 * (a restricted-only violation names none of them): host namespaces, privileged, added
 * capabilities, hostPath volumes, host ports, AppArmor, SELinux options, /proc mount, sysctls,
 * Windows host processes, and an Unconfined seccomp profile.
 */
const BASELINE_CHECKS =
  /\b(host namespaces|privileged|non-default capabilities|hostPath volumes|hostPort|AppArmor|seLinuxOptions|procMount|sysctls|hostProcess)\b|seccompProfile\.type to "Unconfined"/;

/** The Pod Security warning among an admitted object's warnings: its pods would be refused. */
export function podSecurityWarning(warnings: readonly string[]): string | undefined {
  return warnings.find((w) => w.startsWith("would violate PodSecurity"));
}

/** A config key with a segment that holds dots (a quota resource name), as config errors spell it. */
const quotaKey = (stage: string, resource: string) =>
  `scoped-cd:stages.${stage}.guardrails.quota[${JSON.stringify(resource)}]`;

/** Classify one refusal of an object sent to the stage namespace `namespace` of stage `stage`. */
export function reliefOf(message: string, stage: string, namespace: string): Relief {
  const guardrail = GUARDRAIL.exec(message);
  if (guardrail) {
    const policy = POLICY.exec(message)?.[1];
    return {
      source: "guardrail",
      rule: guardrail[1],
      ...(policy ? { policy } : {}),
      configKey: RELAX_KEY.exec(message)?.[1] ?? null,
    };
  }
  const quota = QUOTA.exec(message);
  if (quota) {
    return { source: "quota", rule: `quota ${quota[1]}`, configKey: quotaKey(stage, quota[1]) };
  }
  if (/\bviolates? PodSecurity "/.test(message)) {
    const level = /violates? PodSecurity "([a-z]+)/.exec(message)?.[1] ?? "restricted";
    return {
      source: "pod-security",
      rule: `pod security ${level}`,
      // baseline is the only looser level a stage may choose, and it too refuses what the
      // baseline checks name; privileged pods are never allowed.
      configKey:
        level === "restricted" && !BASELINE_CHECKS.test(message)
          ? `scoped-cd:stages.${stage}.guardrails.podSecurity`
          : null,
    };
  }
  const rbac = RBAC.exec(message);
  if (rbac) {
    const [, verb, resource, group, ns] = rbac;
    const inStage = ns === namespace;
    const isRbac = group === "rbac.authorization.k8s.io" && /^(roles|rolebindings)$/.test(resource);
    return {
      source: "rbac",
      rule: `rbac ${verb} ${group ? `${group}/` : ""}${resource}${inStage ? "" : ns ? ` in namespace ${ns}` : " at the cluster scope"}`,
      // Outside the stage namespace no setting helps: the identity stops at its namespace.
      configKey: !inStage
        ? null
        : isRbac
          ? `scoped-cd:stages.${stage}.deployer.allowRbac`
          : `scoped-cd:stages.${stage}.deployer.extraRules`,
    };
  }
  return { source: "api", rule: "api", configKey: null };
}
