// The least-privilege profile of a stage deployer: what Helm 3 and Pulumi's await logic need to
// manage a chart's objects in one namespace, and nothing else. Every rule says why it is there.
import { EscalationClass, normalizeRules, PolicyRule } from "./rbac";

const READ = ["get", "list", "watch"];
const MANAGE = ["get", "list", "watch", "create", "update", "patch", "delete"];

/** A profile rule with the reason it exists (the reason is documentation, not sent to the API). */
export interface ProfileRule extends PolicyRule {
  readonly why: string;
}

/** Rules every deployer gets. */
export const BASE_PROFILE: readonly ProfileRule[] = [
  {
    apiGroups: [""],
    resources: ["configmaps", "services", "serviceaccounts", "persistentvolumeclaims"],
    verbs: MANAGE,
    why: "the namespaced objects charts ship; serviceaccounts lets a chart run pods as its own identity (it cannot bind it to anything the deployer lacks)",
  },
  {
    apiGroups: [""],
    resources: ["secrets"],
    verbs: MANAGE,
    why: "Helm 3 stores each release revision as a Secret; charts ship Secrets. Unavoidable secrets-read: acceptable because the namespace holds nothing more powerful than the deployer",
  },
  {
    apiGroups: ["apps"],
    resources: ["deployments", "statefulsets"],
    verbs: MANAGE,
    why: "the workloads charts ship. Unavoidable pod-creation: Pod Security Admission (restricted) keeps those pods unprivileged",
  },
  {
    apiGroups: ["batch"],
    resources: ["jobs", "cronjobs"],
    verbs: MANAGE,
    why: "Helm hooks (pre-install, pre-upgrade, tests) run as Jobs; same pod-creation reasoning",
  },
  {
    apiGroups: ["networking.k8s.io"],
    resources: ["ingresses"],
    verbs: MANAGE,
    why: "charts expose HTTP services through Ingresses; NetworkPolicies are deliberately absent",
  },
  {
    apiGroups: ["autoscaling"],
    resources: ["horizontalpodautoscalers"],
    verbs: MANAGE,
    why: "charts scale their workloads; bounded by the namespace's ResourceQuota",
  },
  {
    apiGroups: ["policy"],
    resources: ["poddisruptionbudgets"],
    verbs: MANAGE,
    why: "charts protect their workloads during node drains",
  },
  {
    apiGroups: ["apps"],
    resources: ["replicasets", "controllerrevisions"],
    verbs: READ,
    why: "Pulumi's Deployment/StatefulSet await logic and Helm's --wait follow rollouts through them (read only)",
  },
  {
    apiGroups: [""],
    resources: ["pods", "events", "endpoints"],
    verbs: READ,
    why: "await logic reports pod readiness, events and Service endpoints (read only; no direct pod creation)",
  },
  {
    apiGroups: ["discovery.k8s.io"],
    resources: ["endpointslices"],
    verbs: READ,
    why: "Service await logic on current API servers watches EndpointSlices (read only)",
  },
  {
    apiGroups: [""],
    resources: ["pods/log"],
    verbs: ["get"],
    why: "read logs of a failed rollout from CI",
  },
];

/** Added when the stage sets `deployer.allowRbac`. */
export const RBAC_RULE: ProfileRule = {
  apiGroups: ["rbac.authorization.k8s.io"],
  resources: ["roles", "rolebindings"],
  verbs: MANAGE,
  why: "charts that ship Roles/RoleBindings; the API server's escalation check still limits them to what the deployer holds (no bind/escalate verbs)",
};

/** Added when the stage runs Tiller. */
export const TILLER_PORT_FORWARD_RULE: ProfileRule = {
  apiGroups: [""],
  resources: ["pods/portforward"],
  verbs: ["create", "get"],
  why: "Tiller listens on localhost only; Helm v2 clients reach it through port-forward",
};

/**
 * Added when the stage enables Tiller (either mode): Tiller v2 reads the release namespace before
 * every install (pkg/kube ensureNamespace) and refuses to go on when it may not. In a Role this is
 * `get` on the stage's own Namespace only (no list, no patch: its labels carry Pod Security).
 */
export const TILLER_NAMESPACE_RULE: ProfileRule = {
  apiGroups: [""],
  resources: ["namespaces"],
  verbs: ["get"],
  why: "Helm v2's Tiller reads its release namespace before every install; a Role grants get on its own Namespace only",
};

/** The escalation classes a profile carries unavoidably, with the reason (see BASE_PROFILE). */
export const DOCUMENTED_CLASSES: ReadonlySet<EscalationClass> = new Set<EscalationClass>([
  "secrets-read",
  "pod-creation",
  "port-forward",
]);

export interface ProfileOptions {
  /** Let charts create Roles and RoleBindings. */
  readonly allowRbac: boolean;
  /** The stage runs Tiller in the cluster, reached by port-forward. */
  readonly tiller: boolean;
  /** The stage's Tiller runs locally, as the deployer (`scoped-cd helm2`): no port-forward. */
  readonly localTiller?: boolean;
  /** Vetted extra rules from config. */
  readonly extraRules?: readonly PolicyRule[];
}

/** The deployer's Role rules, normalized. */
export function deployerRules(opts: ProfileOptions): PolicyRule[] {
  const rules: PolicyRule[] = [...BASE_PROFILE];
  if (opts.allowRbac) rules.push(RBAC_RULE);
  if (opts.tiller) rules.push(TILLER_PORT_FORWARD_RULE);
  if (opts.tiller || opts.localTiller) rules.push(TILLER_NAMESPACE_RULE);
  rules.push(...(opts.extraRules ?? []));
  return normalizeRules(rules.map(stripWhy));
}

/**
 * Tiller's Role: what it needs to install charts in its namespace, never wider than the deployer
 * (no port-forward, no extra rules).
 */
export function tillerRules(opts: Pick<ProfileOptions, "allowRbac">): PolicyRule[] {
  const rules: PolicyRule[] = [...BASE_PROFILE, TILLER_NAMESPACE_RULE];
  if (opts.allowRbac) rules.push(RBAC_RULE);
  return normalizeRules(rules.map(stripWhy));
}

function stripWhy(rule: PolicyRule): PolicyRule {
  const { apiGroups, resources, verbs, resourceNames } = rule;
  return { apiGroups, resources, verbs, ...(resourceNames ? { resourceNames } : {}) };
}
