// Admission guardrails as pure data: the ValidatingAdmissionPolicies that close what RBAC cannot
// (fields of objects the deployer legitimately manages). One set of policies per stage, with the
// stage's allowances inlined into the CEL, so what is enforced is visible in every diff and no
// parameter object exists that anyone could edit apart from the policy itself.

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
const celList = (items: readonly string[]) => `[${items.map(celString).join(", ")}]`;

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
  /** Short class name: the policy is `scoped-cd-<namespace>-<class>`. */
  readonly class: string;
  readonly resourceRules: ResourceRule[];
  readonly matchConditions?: { name: string; expression: string }[];
  readonly variables?: { name: string; expression: string }[];
  readonly validations: Validation[];
}

const rule = (apiGroups: string[], resources: string[], operations = ["CREATE", "UPDATE"]) => ({
  apiGroups,
  apiVersions: ["*"],
  operations,
  resources,
});

/** The request's subresource; the field is absent (not empty) for the resource itself. */
const SUB = '(has(request.subResource) ? request.subResource : "")';

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
const podTemplateRules = () =>
  ["", "apps", "batch"].map((g) =>
    rule(
      [g],
      POD_TEMPLATE_KINDS.filter((k) => k.group === g).map((k) => k.resource),
    ),
  );
const POD_SPEC_VARIABLE = {
  name: "podSpec",
  expression:
    "request.kind.kind == 'Pod' ? object.spec : " +
    "request.kind.kind == 'CronJob' ? object.spec.jobTemplate.spec.template.spec : " +
    "object.spec.template.spec",
};

/** The pod labels of any pod-template kind ({} where there are none). */
const POD_LABELS_EXPRESSION =
  "request.kind.kind == 'Pod' ? (has(object.metadata.labels) ? object.metadata.labels : {}) : " +
  "request.kind.kind == 'CronJob' ? " +
  "(has(object.spec.jobTemplate.spec.template.metadata) && has(object.spec.jobTemplate.spec.template.metadata.labels) ? object.spec.jobTemplate.spec.template.metadata.labels : {}) : " +
  "(has(object.spec.template.metadata) && has(object.spec.template.metadata.labels) ? object.spec.template.metadata.labels : {})";

/** The pod label Tiller's API-server egress policy selects; only the access layer sets it. */
export const API_EGRESS_LABEL = "scoped-cd.io/api-egress";

/** A denial message: which rule, what it refuses, and what relaxes it. */
function says(ruleId: string, what: string, relax: string | null): string {
  return `${RULE_PREFIX} ${ruleId}: ${what}; ${relax ?? "no setting relaxes it"}`;
}

/** The policies of one stage. */
export function admissionPolicies(s: AdmissionSettings): AdmissionPolicy[] {
  const key = (k: string) => `scoped-cd:stages.${s.stage}.guardrails.${k}`;
  const relax = (k: string) => `allow it with ${key(k)}`;
  // messageExpression must be a CEL string expression: quote the fixed parts.
  const msg = (parts: (string | { cel: string })[]) =>
    parts.map((p) => (typeof p === "string" ? celString(p) : p.cel)).join(" + ");

  const allowedTypes = ["ClusterIP", ...s.services.allowTypes];
  const services: AdmissionPolicy = {
    class: "services",
    resourceRules: [rule([""], ["services"])],
    validations: [
      {
        expression: "!has(object.spec.externalIPs) || size(object.spec.externalIPs) == 0",
        message: says(
          "services.externalIPs",
          "Service spec.externalIPs intercepts traffic to any IP cluster-wide (CVE-2020-8554)",
          null,
        ),
        reason: "Forbidden",
      },
      {
        expression: `!has(object.spec.type) || object.spec.type in ${celList(allowedTypes)}`,
        messageExpression: msg([
          `${RULE_PREFIX} services.type: Service type `,
          { cel: "string(object.spec.type)" },
          ` is not allowed in stage ${s.stage}; ${relax("services.allowTypes")}`,
        ]),
        reason: "Forbidden",
      },
    ],
  };

  const hostRegexes = celList(s.ingress.allowHosts.map(hostPatternRegex));
  const hostOk = (h: string) => `${hostRegexes}.exists(p, ${h}.matches(p))`;
  const classes = celList(s.ingress.allowClasses);
  const annotationExact = s.ingress.allowAnnotations.filter((a) => !a.endsWith("*"));
  const annotationPrefixes = s.ingress.allowAnnotations
    .filter((a) => a.endsWith("*"))
    .map((a) => a.slice(0, -1));
  const injection =
    `(${celList([...INJECTION_ANNOTATION_FRAGMENTS])}.exists(f, k.contains(f)) || ` +
    `k in ${celList([...INJECTION_ANNOTATION_KEYS])})`;
  const annotationAllowed =
    `(k in ${celList(annotationExact)} || ` +
    `${celList(annotationPrefixes)}.exists(p, k.startsWith(p)))`;
  const annotations = "(has(object.metadata.annotations) ? object.metadata.annotations : {})";
  const ingress: AdmissionPolicy = {
    class: "ingress",
    resourceRules: [rule(["networking.k8s.io", "extensions"], ["ingresses"])],
    validations: [
      // First: the API server reports the first failed validation of a policy.
      {
        expression: `${annotations}.all(k, !${injection})`,
        messageExpression: msg([
          `${RULE_PREFIX} ingress.annotations: annotation `,
          { cel: `${annotations}.filter(k, ${injection})[0]` },
          " injects controller configuration or widens the Ingress; no setting relaxes it",
        ]),
        reason: "Forbidden",
      },
      {
        expression: "!has(object.spec.defaultBackend)",
        message: says(
          "ingress.defaultBackend",
          "a defaultBackend catches every host and path of the controller",
          null,
        ),
        reason: "Forbidden",
      },
      {
        // A rule without a host matches every host; TLS hosts are what cert-manager certifies.
        expression:
          `(!has(object.spec.rules) || object.spec.rules.all(r, has(r.host) && ${hostOk("r.host")})) && ` +
          `(!has(object.spec.tls) || object.spec.tls.all(t, !has(t.hosts) || t.hosts.all(h, ${hostOk("h")})))`,
        message: says(
          "ingress.host",
          `every Ingress rule and TLS entry needs a host matching the stage's allowed host patterns (${s.ingress.allowHosts.join(", ") || "none"})`,
          relax("ingress.allowHosts"),
        ),
        reason: "Forbidden",
      },
      {
        expression:
          `(!has(object.spec.ingressClassName) || object.spec.ingressClassName in ${classes}) && ` +
          `(!("kubernetes.io/ingress.class" in ${annotations}) || ${annotations}["kubernetes.io/ingress.class"] in ${classes})`,
        message: says(
          "ingress.class",
          `the ingress class must be one of the stage's allowed classes (${s.ingress.allowClasses.join(", ") || "none: leave it unset"})`,
          relax("ingress.allowClasses"),
        ),
        reason: "Forbidden",
      },
      {
        expression: `${annotations}.all(k, k == "kubernetes.io/ingress.class" || ${annotationAllowed})`,
        messageExpression: msg([
          `${RULE_PREFIX} ingress.annotations: annotation `,
          {
            cel: `${annotations}.filter(k, !(k == "kubernetes.io/ingress.class" || ${annotationAllowed}))[0]`,
          },
          ` is not in the stage's allowed set; ${relax("ingress.allowAnnotations")}`,
        ]),
        reason: "Forbidden",
      },
    ],
  };

  const pc = "variables.podSpec.priorityClassName";
  const workloads: AdmissionPolicy = {
    class: "workloads",
    resourceRules: podTemplateRules(),
    variables: [POD_SPEC_VARIABLE],
    validations: [
      {
        expression:
          `!has(${pc}) || ${pc} == "" || ` +
          `(!${pc}.startsWith("system-") && ${pc} in ${celList(s.workloads.allowPriorityClasses)})`,
        messageExpression: msg([
          `${RULE_PREFIX} workloads.priorityClassName: priority class `,
          { cel: pc },
          ` is not allowed in stage ${s.stage} (system-* never); ${relax("workloads.allowPriorityClasses")}`,
        ]),
        reason: "Forbidden",
      },
      {
        // A scheduled Pod carries the nodeName the scheduler bound; only creation may not set it.
        expression:
          "(request.kind.kind == 'Pod' && request.operation == 'UPDATE') || " +
          '!has(variables.podSpec.nodeName) || variables.podSpec.nodeName == ""',
        message: says(
          "workloads.nodeName",
          "a pod template may not pick its node (nodeName bypasses the scheduler and every taint)",
          null,
        ),
        reason: "Forbidden",
      },
      {
        // An empty key with operator Exists tolerates every taint, control-plane ones included.
        expression:
          "!has(variables.podSpec.tolerations) || variables.podSpec.tolerations.all(t, " +
          `has(t.key) && t.key != "" && !(t.key in ${celList(CONTROL_PLANE_TAINTS)}))`,
        message: says(
          "workloads.tolerations",
          "a pod template may not tolerate control-plane taints or every taint (empty key)",
          null,
        ),
        reason: "Forbidden",
      },
    ],
  };

  const pdbs: AdmissionPolicy = {
    class: "disruption",
    resourceRules: [rule(["policy"], ["poddisruptionbudgets"])],
    validations: [
      {
        expression:
          "!has(object.spec.maxUnavailable) || (type(object.spec.maxUnavailable) == int ? " +
          'object.spec.maxUnavailable > 0 : !string(object.spec.maxUnavailable).matches("^0*%?$"))',
        message: says(
          "disruptionBudgets.maxUnavailable",
          "maxUnavailable 0 or 0% blocks every eviction (node drains never finish)",
          null,
        ),
        reason: "Forbidden",
      },
      s.disruptionBudgets.allowMinAvailable
        ? {
            expression:
              "!has(object.spec.minAvailable) || type(object.spec.minAvailable) == int || " +
              '!string(object.spec.minAvailable).matches("^0*100%$")',
            message: says(
              "disruptionBudgets.minAvailable",
              "minAvailable 100% blocks every eviction (node drains never finish)",
              null,
            ),
            reason: "Forbidden",
          }
        : {
            // Any minAvailable blocks every eviction for some replica count the policy cannot see
            // (an integer >= replicas; a percentage rounds up, so 50% of one replica is one).
            expression: "!has(object.spec.minAvailable)",
            message: says(
              "disruptionBudgets.minAvailable",
              "minAvailable can block every eviction (an integer at or above the replica count, or any percentage of one replica); use maxUnavailable",
              relax("disruptionBudgets.allowMinAvailable"),
            ),
            reason: "Forbidden",
          },
    ],
  };

  const rbac: AdmissionPolicy = {
    class: "rbac",
    resourceRules: [rule(["rbac.authorization.k8s.io"], ["rolebindings"])],
    // CI identities only: the access layer itself binds a group (the OIDC CI user's), and the
    // garbage collector must still update such a binding's finalizers when it is deleted.
    matchConditions: [{ name: "ci-requester", expression: CI_REQUESTER }],
    validations: [
      {
        expression: 'object.roleRef.kind == "Role"',
        message: says(
          "rbac.roleRef",
          "a RoleBinding may bind only a Role of its namespace, never a ClusterRole",
          null,
        ),
        reason: "Forbidden",
      },
      {
        expression:
          '!has(object.subjects) || object.subjects.all(x, x.kind == "ServiceAccount" && (!has(x.namespace) || x.namespace == "" || x.namespace == request.namespace))',
        message: says(
          "rbac.subjects",
          "a RoleBinding may name only ServiceAccounts of its own namespace (no users, groups or other namespaces' accounts)",
          null,
        ),
        reason: "Forbidden",
      },
    ],
  };

  const sa = "variables.podSpec";
  const identities: AdmissionPolicy = {
    class: "identities",
    resourceRules: [
      rule([""], ["secrets", "configmaps"]),
      rule([""], ["serviceaccounts/token", "pods/binding"], ["CREATE"]),
      rule([""], ["services/status"], ["UPDATE"]),
      ...podTemplateRules(),
    ],
    matchConditions: [{ name: "ci-requester", expression: CI_REQUESTER }],
    variables: [
      {
        name: "podSpec",
        expression: `request.resource.resource in ${celList(
          POD_TEMPLATE_KINDS.map((k) => k.resource),
        )} && ${SUB} == "" ? (${POD_SPEC_VARIABLE.expression}) : {}`,
      },
      {
        name: "podLabels",
        expression: `request.resource.resource in ${celList(
          POD_TEMPLATE_KINDS.map((k) => k.resource),
        )} && ${SUB} == "" ? (${POD_LABELS_EXPRESSION}) : {}`,
      },
    ],
    validations: [
      {
        // The token controller fills such a Secret with a never-expiring token for the named
        // ServiceAccount: only the access layer may create one. Secret type is immutable, so
        // UPDATE cannot turn an Opaque Secret into one.
        expression:
          `request.resource.resource != "secrets" || ${SUB} != "" || ` +
          'object.type != "kubernetes.io/service-account-token"',
        message: says(
          "identities.tokenSecret",
          "only the access layer creates kubernetes.io/service-account-token Secrets (a legacy token never expires and survives a rotation)",
          null,
        ),
        reason: "Forbidden",
      },
      {
        // Pods trust it, and so would a scoped kubeconfig built from it: a credential that could
        // rewrite it could make the next, rotated kubeconfig trust a server of its choosing.
        expression: `request.resource.resource != "configmaps" || request.name != "kube-root-ca.crt"`,
        message: says(
          "identities.clusterCA",
          "the namespace's kube-root-ca.crt is the cluster CA that pods trust; only the control plane writes it",
          null,
        ),
        reason: "Forbidden",
      },
      {
        expression: `!(request.resource.resource == "serviceaccounts" && ${SUB} == "token")`,
        message: says(
          "identities.tokenRequest",
          "only the access layer mints ServiceAccount tokens",
          null,
        ),
        reason: "Forbidden",
      },
      {
        expression:
          `!(request.resource.resource == "pods" && ${SUB} == "binding") && ` +
          `!(request.resource.resource == "services" && ${SUB} == "status")`,
        message: says(
          "identities.subresources",
          "pods/binding (picks a node) and services/status (claims load-balancer IPs, CVE-2020-8554) are the control plane's",
          null,
        ),
        reason: "Forbidden",
      },
      {
        expression:
          `(!has(${sa}.serviceAccountName) || !${sa}.serviceAccountName.matches(${celString(MANAGED_IDENTITY_PATTERN)})) && ` +
          `(!has(${sa}.serviceAccount) || !${sa}.serviceAccount.matches(${celString(MANAGED_IDENTITY_PATTERN)}))`,
        message: says(
          "identities.serviceAccountName",
          "a pod template may not run as an identity scoped-cd manages (deployer-*, tiller*)",
          null,
        ),
        reason: "Forbidden",
      },
      {
        // The label Tiller's own API-server egress policy selects (components/access/tiller.ts).
        expression: `!(${celString(API_EGRESS_LABEL)} in variables.podLabels)`,
        message: says(
          "identities.apiEgressLabel",
          `a pod template may not carry ${API_EGRESS_LABEL} (the label that lets Tiller's pod past the stage's egress policy to the API server)`,
          null,
        ),
        reason: "Forbidden",
      },
    ],
  };

  const volumes: AdmissionPolicy = {
    class: "volumes",
    resourceRules: [rule([""], ["persistentvolumeclaims"])],
    // The PersistentVolume binder (a control-plane identity) sets volumeName when it binds.
    matchConditions: [{ name: "ci-requester", expression: CI_REQUESTER }],
    validations: [
      {
        expression:
          '!has(object.spec.volumeName) || object.spec.volumeName == "" || ' +
          "(request.operation == 'UPDATE' && has(oldObject.spec.volumeName) && " +
          "oldObject.spec.volumeName == object.spec.volumeName)",
        message: says(
          "volumes.volumeName",
          "a claim may not name its PersistentVolume (it could bind a volume provisioned for someone else); let the storage class provision one",
          null,
        ),
        reason: "Forbidden",
      },
      {
        expression:
          "!has(object.spec.dataSourceRef) || !has(object.spec.dataSourceRef.namespace) || " +
          'object.spec.dataSourceRef.namespace == "" || object.spec.dataSourceRef.namespace == request.namespace',
        message: says(
          "volumes.dataSource",
          "a claim may not be populated from another namespace's data",
          null,
        ),
        reason: "Forbidden",
      },
    ],
  };

  const labelled = (o: string) =>
    `${o} != null && has(${o}.metadata.labels) && ` +
    `${celString(ACCESS_LAYER_LABEL.key)} in ${o}.metadata.labels && ` +
    `${o}.metadata.labels[${celString(ACCESS_LAYER_LABEL.key)}] == ${celString(ACCESS_LAYER_LABEL.value)}`;
  const what = { cel: 'request.kind.kind + " " + variables.name' };
  const reserved = RESERVED_NAMES.map(
    (r) =>
      `(request.resource.group == ${celString(r.group)} && request.resource.resource == ${celString(r.resource)} && ` +
      `variables.name.matches(${celString(r.pattern)}))`,
  ).join(" || ");
  const keptFrom = (field: string, item: string) =>
    `(oldObject != null && has(oldObject.metadata.${field}) && ${item} in oldObject.metadata.${field})`;
  const access: AdmissionPolicy = {
    class: "access",
    // Every resource of the namespace (and the Namespace object itself, which the selector
    // matches by its own labels); subresources cannot change metadata (status resets it).
    resourceRules: [rule(["*"], ["*"], ["CREATE", "UPDATE", "DELETE"])],
    matchConditions: [{ name: "ci-requester", expression: CI_REQUESTER }],
    variables: [
      {
        // A generated name (generateName) is in the object by the time validation runs.
        name: "name",
        expression:
          "object != null && has(object.metadata.name) ? object.metadata.name : request.name",
      },
    ],
    validations: [
      {
        // UPDATE covers every patch type, server-side apply and a chart's upgrade: a change of
        // metadata only (finalizers, ownerReferences, labels, annotations) is an UPDATE too.
        expression: `!(${labelled("oldObject")}) && !(${labelled("object")})`,
        messageExpression: msg([
          `${RULE_PREFIX} access.owned: `,
          what,
          ` belongs to the access layer (label ${ACCESS_LAYER_LABEL.key}=${ACCESS_LAYER_LABEL.value}): only the operators' access stack may `,
          { cel: "request.operation.lowerAscii()" },
          " it or set that label, metadata included; no setting relaxes it",
        ]),
        reason: "Forbidden",
      },
      {
        expression: `request.operation == "DELETE" || !(${reserved})`,
        messageExpression: msg([
          `${RULE_PREFIX} access.reservedName: `,
          what,
          " is a name the access layer uses (deployer-*, tiller*, scoped-deployer, tiller-deploy, stage-*); no setting relaxes it",
        ]),
        reason: "Forbidden",
      },
      {
        expression:
          'request.operation == "DELETE" || !has(object.metadata.finalizers) || ' +
          `object.metadata.finalizers.all(f, f in ${celList([...CI_FINALIZERS])} || ` +
          '(f == "kubernetes.io/pvc-protection" && request.resource.resource == "persistentvolumeclaims") || ' +
          `${keptFrom("finalizers", "f")})`,
        messageExpression: msg([
          `${RULE_PREFIX} access.finalizers: `,
          what,
          ": a finalizer no controller of the cluster removes would stall its deletion (rotation, destroy, namespace teardown); no setting relaxes it",
        ]),
        reason: "Forbidden",
      },
      {
        expression:
          'request.operation == "DELETE" || !has(object.metadata.ownerReferences) || ' +
          "object.metadata.ownerReferences.all(r, " +
          "((!has(r.controller) || !r.controller) && (!has(r.blockOwnerDeletion) || !r.blockOwnerDeletion)) || " +
          `${keptFrom("ownerReferences", "r")})`,
        messageExpression: msg([
          `${RULE_PREFIX} access.ownerReferences: `,
          what,
          ": controller and blockOwnerDeletion owner references are the control plane's (one hides an object from the inventory, the other stalls its owner's deletion); no setting relaxes it",
        ]),
        reason: "Forbidden",
      },
    ],
  };

  return [services, ingress, workloads, pdbs, rbac, identities, volumes, access];
}

/** Cluster-wide name of a stage's policy (and of its binding). */
export const policyName = (namespace: string, cls: string) => `scoped-cd-${namespace}-${cls}`;
