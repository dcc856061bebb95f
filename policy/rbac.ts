// RBAC rule analysis: which escalation classes a rule carries, judged with the API server's own
// matching semantics (wildcards in groups/resources/verbs, `*/subresource`, `resource/*`).

/** A namespaced RBAC rule, as in `rbac.authorization.k8s.io/v1` PolicyRule (no nonResourceURLs). */
export interface PolicyRule {
  readonly apiGroups: string[];
  readonly resources: string[];
  readonly verbs: string[];
  readonly resourceNames?: string[];
}

/** Escalation classes of ../shared/notes/security.md, plus `guardrail-edit` (our own). */
export type EscalationClass =
  | "wildcard"
  | "secrets-read"
  | "pod-creation"
  | "bind-escalate"
  | "impersonate"
  | "persistent-volumes"
  | "nodes-proxy"
  | "csr-approval"
  | "admission-webhooks"
  | "token-minting"
  | "exec-attach"
  | "port-forward"
  | "namespace-patch"
  | "guardrail-edit";

interface Grant {
  group: string;
  resource: string;
  verbs: string[];
}

const grants = (group: string, resources: string[], verbs: string[]): Grant[] =>
  resources.map((resource) => ({ group, resource, verbs }));

/** What each class matches: (group, resource, any of verbs). `wildcard` is structural. */
const CLASS_GRANTS: Record<Exclude<EscalationClass, "wildcard">, Grant[]> = {
  "secrets-read": grants("", ["secrets"], ["get", "list", "watch"]),
  "pod-creation": [
    ...grants("", ["pods", "replicationcontrollers"], ["create"]),
    ...grants("apps", ["deployments", "replicasets", "statefulsets", "daemonsets"], ["create"]),
    ...grants("batch", ["jobs", "cronjobs"], ["create"]),
  ],
  "bind-escalate": grants(
    "rbac.authorization.k8s.io",
    ["roles", "clusterroles"],
    ["bind", "escalate"],
  ),
  impersonate: [
    ...grants("", ["users", "groups", "serviceaccounts"], ["impersonate"]),
    ...grants("authentication.k8s.io", ["userextras/scopes", "uids"], ["impersonate"]),
  ],
  "persistent-volumes": grants("", ["persistentvolumes"], ["create"]),
  "nodes-proxy": grants("", ["nodes/proxy"], ["get", "create"]),
  "csr-approval": grants(
    "certificates.k8s.io",
    ["certificatesigningrequests/approval"],
    ["update"],
  ),
  "admission-webhooks": grants(
    "admissionregistration.k8s.io",
    ["validatingwebhookconfigurations", "mutatingwebhookconfigurations"],
    ["create", "update", "patch", "delete"],
  ),
  "token-minting": grants("", ["serviceaccounts/token"], ["create"]),
  "exec-attach": grants("", ["pods/exec", "pods/attach"], ["create", "get"]),
  "port-forward": grants("", ["pods/portforward"], ["create", "get"]),
  "namespace-patch": grants("", ["namespaces"], ["patch", "update"]),
  // Loosening the namespace's own guardrails undoes the isolation the stage promises.
  "guardrail-edit": [
    ...grants("", ["resourcequotas", "limitranges"], ["create", "update", "patch", "delete"]),
    ...grants("networking.k8s.io", ["networkpolicies"], ["create", "update", "patch", "delete"]),
  ],
};

/**
 * Classes a namespaced Role can never usefully or safely carry: wildcards (they silently cover
 * whatever the API gains later) and grants on cluster-scoped resources (a Role cannot grant them,
 * so asking for one is a mistake). No acknowledgement unlocks these.
 */
export const UNACKNOWLEDGEABLE: ReadonlySet<EscalationClass> = new Set<EscalationClass>([
  "wildcard",
  "persistent-volumes",
  "nodes-proxy",
  "csr-approval",
  "admission-webhooks",
  "namespace-patch",
]);

/** Resources that are cluster-scoped: a namespaced Role's grant on them has no effect. */
const CLUSTER_SCOPED = new Set([
  "namespaces",
  "nodes",
  "persistentvolumes",
  "clusterroles",
  "clusterrolebindings",
  "customresourcedefinitions",
  "certificatesigningrequests",
  "validatingwebhookconfigurations",
  "mutatingwebhookconfigurations",
  "storageclasses",
  "priorityclasses",
  "apiservices",
]);

export const ALL_CLASSES: readonly EscalationClass[] = [
  "wildcard",
  ...(Object.keys(CLASS_GRANTS) as EscalationClass[]),
];

// The API server's resource match: exact, "*", "*/sub" (that subresource of any resource), "res/*".
function resourceMatches(ruleResource: string, resource: string): boolean {
  if (ruleResource === "*" || ruleResource === resource) return true;
  const [base, sub] = resource.split("/", 2);
  if (sub !== undefined && ruleResource === `*/${sub}`) return true;
  return sub !== undefined && ruleResource === `${base}/*`;
}

/** Does the rule allow `verb` on `group`/`resource` (for some object name)? */
export function ruleCovers(rule: PolicyRule, group: string, resource: string, verb: string) {
  return (
    (rule.apiGroups.includes("*") || rule.apiGroups.includes(group)) &&
    rule.resources.some((r) => resourceMatches(r, resource)) &&
    (rule.verbs.includes("*") || rule.verbs.includes(verb))
  );
}

/** The escalation classes one rule carries, in a stable order. */
export function escalationClasses(rule: PolicyRule): EscalationClass[] {
  const found: EscalationClass[] = [];
  if ([...rule.apiGroups, ...rule.resources, ...rule.verbs].includes("*")) found.push("wildcard");
  for (const [cls, list] of Object.entries(CLASS_GRANTS) as [EscalationClass, Grant[]][]) {
    if (list.some((g) => g.verbs.some((v) => ruleCovers(rule, g.group, g.resource, v)))) {
      found.push(cls);
    }
  }
  return found;
}

/** Cluster-scoped resources a rule names explicitly (a Role cannot grant them). */
export function clusterScopedResources(rule: PolicyRule): string[] {
  return rule.resources.filter((r) => CLUSTER_SCOPED.has(r.split("/")[0]));
}

/** Classes carried by any rule of a set. */
export function classesOf(rules: readonly PolicyRule[]): Set<EscalationClass> {
  return new Set(rules.flatMap(escalationClasses));
}

const sortedUnique = (xs: readonly string[]) => [...new Set(xs)].sort();

/**
 * Normalize rules so ordering never causes a diff: each list deduplicated and sorted, rules with
 * the same groups/resources/names merged, the set sorted.
 */
export function normalizeRules(rules: readonly PolicyRule[]): PolicyRule[] {
  const merged = new Map<string, PolicyRule>();
  for (const rule of rules) {
    const apiGroups = sortedUnique(rule.apiGroups);
    const resources = sortedUnique(rule.resources);
    const resourceNames = rule.resourceNames?.length ? sortedUnique(rule.resourceNames) : undefined;
    const key = JSON.stringify([apiGroups, resources, resourceNames ?? []]);
    const verbs = sortedUnique([...(merged.get(key)?.verbs ?? []), ...rule.verbs]);
    merged.set(key, { apiGroups, resources, verbs, ...(resourceNames ? { resourceNames } : {}) });
  }
  return [...merged.values()].sort((a, b) =>
    JSON.stringify([a.apiGroups, a.resources]).localeCompare(
      JSON.stringify([b.apiGroups, b.resources]),
    ),
  );
}
