// Admission guardrails as pure data: the ValidatingAdmissionPolicies that close what RBAC cannot
// (fields of objects the deployer legitimately manages). One policy class per concern, merged into
// one policy per stage (admissionPolicies/merged.ts), with the stage's allowances inlined into the
// CEL, so what is enforced is visible in every diff and no parameter object exists that anyone
// could edit apart from the policy itself.

/** The stage settings the policies depend on (a subset of `guardrails`). */
export interface AdmissionSettings {
  /** Stage name: messages name the config key `scoped-cd:stages.<stage>.guardrails.…`. */
  readonly stage: string;
  /** The stage namespace (policies select it by its immutable `kubernetes.io/metadata.name`). */
  readonly namespace: string;
  readonly services: { readonly allowTypes: readonly ServiceType[] };
  readonly ingress: {
    readonly allowHosts: readonly string[];
    readonly allowClasses: readonly string[];
    readonly allowAnnotations: readonly string[];
  };
  readonly workloads: { readonly allowPriorityClasses: readonly string[] };
  readonly disruptionBudgets: { readonly allowMinAvailable: boolean };
  /** Gateway API routes: `namespace/name` of the Gateways they may attach to, and host patterns. */
  readonly gateway: {
    readonly allowParents: readonly string[];
    readonly allowHosts: readonly string[];
  };
  /**
   * The external credential kind's user and groups: CI requesters too, though neither prefix of
   * CI_REQUESTER names them (a cloud authenticator chooses the names).
   */
  readonly ciIdentities?: { readonly users: readonly string[]; readonly groups: readonly string[] };
}

export const SERVICE_TYPES = ["NodePort", "LoadBalancer", "ExternalName"] as const;
export type ServiceType = (typeof SERVICE_TYPES)[number];

/** Every rule's id starts its message, so a denial says which guardrail refused it. */
export const RULE_PREFIX = "scoped-cd guardrail";

/**
 * Ingress annotation families that inject controller configuration or widen what an Ingress
 * reaches. Always refused: no allow-list entry can admit them (config validation refuses one that
 * would). Matched by `contains` (families) or exact key.
 */
export const INJECTION_ANNOTATION_FRAGMENTS = [
  // ingress-nginx configuration/server/auth/stream/modsecurity-snippet (CVE-2021-25742),
  // NGINX Inc. nginx.org/*-snippets, haproxy.org/*-config-snippet.
  "snippet",
] as const;
export const INJECTION_ANNOTATION_KEYS = [
  // ingress-nginx: extra server names (bypass the host allow-list), and values rendered into
  // nginx.conf (the 2025 annotation CVEs: auth-url CVE-2025-24514, auth-tls-match-cn
  // CVE-2025-1097, mirror-* CVE-2025-1098); Secrets of other namespaces by `ns/name`.
  "nginx.ingress.kubernetes.io/server-alias",
  "nginx.ingress.kubernetes.io/auth-url",
  "nginx.ingress.kubernetes.io/auth-signin",
  "nginx.ingress.kubernetes.io/auth-tls-match-cn",
  "nginx.ingress.kubernetes.io/auth-tls-secret",
  "nginx.ingress.kubernetes.io/proxy-ssl-secret",
  "nginx.ingress.kubernetes.io/mirror-target",
  "nginx.ingress.kubernetes.io/mirror-host",
  "nginx.ingress.kubernetes.io/auth-proxy-set-headers",
  // Traefik: middlewares of other namespaces (`ns-name@kubernetescrd`); v1 frontend rules
  // (host matching outside spec.rules).
  "traefik.ingress.kubernetes.io/router.middlewares",
  "traefik.frontend.rule",
  "traefik.frontend.rule.type",
  // HAProxy Ingress: raw configuration blocks.
  "haproxy-ingress.github.io/config-backend",
  "haproxy-ingress.github.io/config-defaults",
  "haproxy-ingress.github.io/config-frontend",
  "haproxy-ingress.github.io/config-global",
  "ingress.kubernetes.io/config-backend",
] as const;

/** Well-known members of the snippet family (config validation checks prefixes against them). */
export const KNOWN_SNIPPET_KEYS = [
  "nginx.ingress.kubernetes.io/configuration-snippet",
  "nginx.ingress.kubernetes.io/server-snippet",
  "nginx.ingress.kubernetes.io/auth-snippet",
  "nginx.ingress.kubernetes.io/stream-snippet",
  "nginx.org/server-snippets",
  "nginx.org/location-snippets",
  "haproxy.org/backend-config-snippet",
  "haproxy.org/frontend-config-snippet",
] as const;

/** True when an annotation key belongs to a refused family. */
export function isInjectionAnnotation(key: string): boolean {
  return (
    INJECTION_ANNOTATION_FRAGMENTS.some((f) => key.includes(f)) ||
    (INJECTION_ANNOTATION_KEYS as readonly string[]).includes(key)
  );
}

/** An allow-list entry: an exact key, or a prefix ending in `*`. */
export function annotationPatternAdmits(pattern: string, key: string): boolean {
  return pattern.endsWith("*") ? key.startsWith(pattern.slice(0, -1)) : key === pattern;
}

/** Default annotation allow-list: what Helm and common charts set, none of it injectable. */
export const DEFAULT_INGRESS_ANNOTATIONS = [
  "meta.helm.sh/release-name",
  "meta.helm.sh/release-namespace",
  "kubectl.kubernetes.io/last-applied-configuration",
  "cert-manager.io/cluster-issuer",
  "cert-manager.io/issuer",
  "nginx.ingress.kubernetes.io/rewrite-target",
  "nginx.ingress.kubernetes.io/ssl-redirect",
  "nginx.ingress.kubernetes.io/force-ssl-redirect",
  "nginx.ingress.kubernetes.io/proxy-body-size",
  "nginx.ingress.kubernetes.io/backend-protocol",
];

/** Tolerating these schedules onto control-plane nodes. */
export const CONTROL_PLANE_TAINTS = [
  "node-role.kubernetes.io/control-plane",
  "node-role.kubernetes.io/master",
];

/**
 * ServiceAccount names scoped-cd manages in a stage namespace: a pod created by the deployer may
 * not run as one of them (it would hold the deployer's or Tiller's rights from inside the cluster,
 * and survive a rotation of the kubeconfig).
 */
export const MANAGED_IDENTITY_PATTERN = "^(deployer-.*|tiller.*)$";

/**
 * The requesters the identity rules apply to: the stage's ServiceAccounts (the deployer, Tiller,
 * anything a chart runs) and CI users mapped from OIDC with the `oidc:` prefix. kube-system
 * controllers (token cleaner, garbage collector) and operators are neither.
 */
export const CI_REQUESTER =
  "request.userInfo.username.startsWith('oidc:') || " +
  "(request.userInfo.username.startsWith('system:serviceaccount:') && " +
  "!request.userInfo.username.startsWith('system:serviceaccount:kube-system:'))";

/** CI_REQUESTER, and the stage's external user and groups (a guardrail that skipped them would not hold). */
export function ciRequester(s: Pick<AdmissionSettings, "ciIdentities">): string {
  const users = s.ciIdentities?.users ?? [];
  const groups = s.ciIdentities?.groups ?? [];
  const list = (xs: readonly string[]) => `[${xs.map((x) => JSON.stringify(x)).join(", ")}]`;
  return [
    CI_REQUESTER,
    ...(users.length ? [`request.userInfo.username in ${list(users)}`] : []),
    ...(groups.length ? [`request.userInfo.groups.exists(g, g in ${list(groups)})`] : []),
  ].join(" || ");
}

/**
 * The label every object of the access layer carries (components/access/labels.ts MANAGED_BY). The
 * `access` policy refuses CI requesters every write and delete of an object that carries it, and
 * every object that would, so the label is proof of ownership: the inventory (policy/inventory.ts)
 * trusts it.
 */
export const ACCESS_LAYER_LABEL = { key: "app.kubernetes.io/managed-by", value: "scoped-cd" };

/**
 * Names the access layer creates (or will create next) in a stage namespace, by resource, and why a
 * CI requester may not take them first: an object of that name made by CI would make the next `up`
 * fail ("already exists") or be adopted as if the access layer had made it.
 */
export interface ReservedName {
  readonly group: string;
  readonly resource: string;
  readonly kind: string;
  /** Anchored regular expression (no backslashes: it is inlined into CEL). */
  readonly pattern: string;
  /** Why the name is reserved (docs/security.md lists each). */
  readonly why: string;
}
export const RESERVED_NAMES: readonly ReservedName[] = [
  {
    group: "",
    resource: "serviceaccounts",
    kind: "ServiceAccount",
    pattern: MANAGED_IDENTITY_PATTERN,
    why: "`deployer-<suffix>`, `tiller-<suffix>`: the next rotation's suffix is random (6 of `[a-z0-9]`, unguessable), so every name of the pattern is refused, not just the next",
  },
  {
    group: "",
    resource: "secrets",
    kind: "Secret",
    pattern: "^(deployer|tiller)-.*$",
    why: "token binding Secrets `deployer-<suffix>-cred-<time>` (the time is guessable) and the legacy token Secret `deployer-<suffix>-token`",
  },
  {
    group: "rbac.authorization.k8s.io",
    resource: "roles",
    kind: "Role",
    pattern: "^(scoped-deployer|tiller)$",
    why: "the deployer's and Tiller's Roles (fixed names; with allowRbac CI could create one before the access layer)",
  },
  {
    group: "rbac.authorization.k8s.io",
    resource: "rolebindings",
    kind: "RoleBinding",
    pattern: "^(scoped-deployer|tiller)$",
    why: "their RoleBindings (fixed names)",
  },
  {
    group: "apps",
    resource: "deployments",
    kind: "Deployment",
    pattern: "^tiller-deploy$",
    why: "the in-cluster Tiller (fixed name; a stage switching to `tiller.mode: cluster` would adopt it)",
  },
  {
    group: "",
    resource: "resourcequotas",
    kind: "ResourceQuota",
    pattern: "^stage-quota$",
    why: "the stage quota (RBAC refuses it already)",
  },
  {
    group: "",
    resource: "limitranges",
    kind: "LimitRange",
    pattern: "^stage-defaults$",
    why: "the container defaults (RBAC refuses it already)",
  },
  {
    group: "networking.k8s.io",
    resource: "networkpolicies",
    kind: "NetworkPolicy",
    pattern: "^stage-(isolation|egress)$",
    why: "the stage's NetworkPolicies (RBAC refuses them already)",
  },
];

/**
 * Finalizers a CI requester may put on an object: the garbage collector's own (it removes them
 * itself), and the PVC protection that the API server's admission adds to every new claim. Any
 * other finalizer waits for a controller that does not exist, and stalls the object's deletion
 * (a rotation, a destroy, a namespace's teardown) for ever.
 */
export const CI_FINALIZERS = ["foregroundDeletion", "orphan"] as const;

/** A host pattern: an exact DNS name, or `*.` and at least two labels (one label per `*`). */
export const HOST_PATTERN =
  /^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)+$/;

/** The anchored regular expression for a host pattern, without backslashes (CEL-literal safe). */
export function hostPatternRegex(pattern: string): string {
  const wildcard = pattern.startsWith("*.");
  const rest = (wildcard ? pattern.slice(2) : pattern).split(".").join("[.]");
  return `^${wildcard ? "[a-z0-9]([-a-z0-9]*[a-z0-9])?[.]" : ""}${rest}$`;
}

/** A CEL string literal. Inputs are validated names; refuse anything needing escapes. */
export function celString(s: string): string {
  if (!/^[\x20-\x7e]*$/.test(s) || /["\\]/.test(s)) {
    throw new Error(`cannot inline ${JSON.stringify(s)} into a CEL expression`);
  }
  return `"${s}"`;
}

export interface Validation {
  readonly expression: string;
  readonly message?: string;
  readonly messageExpression?: string;
  readonly reason?: "Forbidden" | "Invalid";
}
export interface ResourceRule {
  readonly apiGroups: string[];
  readonly apiVersions: string[];
  readonly operations: string[];
  readonly resources: string[];
}
/** One policy, as the API objects need it (the component adds names, labels and the binding). */
export interface AdmissionPolicy {
  /** Short class name; the merged stage policy is `scoped-cd-<namespace>-guardrails`. */
  readonly class: string;
  readonly resourceRules: ResourceRule[];
  readonly matchConditions?: { name: string; expression: string }[];
  readonly variables?: { name: string; expression: string }[];
  readonly validations: Validation[];
}

/** Every object with a pod template, and where that template's PodSpec is. */
export const POD_TEMPLATE_KINDS: readonly { group: string; resource: string; kind: string }[] = [
  { group: "", resource: "pods", kind: "Pod" },
  { group: "", resource: "replicationcontrollers", kind: "ReplicationController" },
  { group: "apps", resource: "deployments", kind: "Deployment" },
  { group: "apps", resource: "replicasets", kind: "ReplicaSet" },
  { group: "apps", resource: "statefulsets", kind: "StatefulSet" },
  { group: "apps", resource: "daemonsets", kind: "DaemonSet" },
  { group: "batch", resource: "jobs", kind: "Job" },
  { group: "batch", resource: "cronjobs", kind: "CronJob" },
];
/** The pod label Tiller's API-server egress policy selects; only the access layer sets it. */
export const API_EGRESS_LABEL = "scoped-cd.io/api-egress";

/** Cluster-wide name of a stage's policy (and of its binding). */
export const policyName = (namespace: string, cls: string) => `scoped-cd-${namespace}-${cls}`;
