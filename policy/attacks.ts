// The escape attempts of `scoped-cd verify --attacks`, as data: what a stage's scoped identity
// tries, why it would be an escape, and how it is tried without leaving a trace — a server-side
// dry-run (create, or an update of an object made for the attempt and deleted again) or a
// SelfSubjectAccessReview. Every attempt is expected to be refused; a stage's own allowances
// (`allowedBy`) turn a matching success into "allowed by config".
import { API_EGRESS_LABEL, ACCESS_LAYER_LABEL } from "./admission";

/** The classes of the security model (docs: security.md › Checking containment). */
export const ATTACK_CLASSES = [
  "services",
  "ingress",
  "gateway",
  "scheduling",
  "workloads",
  "disruption",
  "identities",
  "rbac",
  "cluster-scope",
  "subresources",
  "traffic",
  "guardrail-objects",
  "metadata",
  "resource-defaults",
] as const;
export type AttackClass = (typeof ATTACK_CLASSES)[number];

/** What a stage allows on purpose (from its config, as the stack's `stages` output says). */
export interface StageAllowances {
  readonly serviceTypes: readonly string[];
  readonly allowMinAvailable: boolean;
  readonly allowRbac: boolean;
  /** The deployer holds pods/portforward (an in-cluster Tiller). */
  readonly tillerPortForward: boolean;
  /**
   * guardrails.ingress.allowHosts and gateway.allowParents / allowHosts (absent in outputs written
   * before them): the attempts use them to break one rule at a time.
   */
  readonly ingressHosts?: readonly string[];
  readonly gatewayParents?: readonly string[];
  readonly gatewayHosts?: readonly string[];
}

/** A setting that legitimately admits the attempt: a list setting holding `value`, or a true flag. */
export interface AllowedBy {
  /** The config key, as the report names it. */
  readonly key: string;
  readonly setting: keyof StageAllowances;
  readonly value?: string;
}

export type PatchType = "merge" | "strategic" | "json" | "apply";

export type AttackAction =
  /** A server-side dry-run create. */
  | { readonly kind: "create"; readonly object: Record<string, unknown> }
  /**
   * A server-side dry-run patch of `target` (an existing object, or `base`, which is created for
   * real first — it must be admitted — and deleted afterwards).
   */
  | {
      readonly kind: "patch";
      readonly patchType: PatchType;
      readonly target: { apiVersion: string; kind: string; name: string; namespace?: string };
      readonly base?: Record<string, unknown>;
      readonly patch: unknown;
    }
  /** A SelfSubjectAccessReview (for what cannot be dry-run: exec, proxy, impersonation, …). */
  | {
      readonly kind: "access";
      readonly attributes: {
        readonly verb: string;
        readonly group: string;
        readonly resource: string;
        readonly subresource?: string;
        readonly name?: string;
        /** Absent: cluster-scoped. */
        readonly namespace?: string;
      };
    };

export interface Attack {
  /** Stable, unique: the report's and the tests' handle. */
  readonly id: string;
  readonly class: AttackClass;
  /** What is tried, as a sentence. */
  readonly attempt: string;
  /** Why success would be an escape. */
  readonly reason: string;
  readonly expect: "refused";
  /** What should refuse it: a guardrail rule id (its message starts `scoped-cd guardrail <id>:`), or RBAC. */
  readonly refusedBy: string;
  readonly allowedBy?: AllowedBy;
  /** Only when the Gateway API CRDs are installed. */
  readonly needs?: "gateway-api";
  readonly action: AttackAction;
}

export interface AttackContext {
  readonly namespace: string;
  /** A namespace besides the stage's, out of its reach. */
  readonly otherNamespace: string;
  /** Makes names unique per run. */
  readonly id: string;
  /**
   * A host of the stage's Ingress patterns, and a Gateway (`namespace/name`) and host its routes
   * may use: each Ingress and Gateway API attempt breaks one rule and keeps the others, so a
   * missing check is not hidden by one the API server reports first (the first failing validation
   * of a policy is its answer).
   */
  readonly ingressHost?: string;
  readonly gatewayParent?: string;
  readonly gatewayHost?: string;
}

/** A host a pattern admits: `*.x.example` stands for any one label before it. */
const hostOf = (pattern: string | undefined) =>
  pattern?.startsWith("*.") ? `scoped-cd-attack.${pattern.slice(2)}` : pattern;

/** What the catalogue takes from a stage's allowances: the allowed hosts and Gateway. */
export function allowedTargets(allowances: StageAllowances | undefined): {
  ingressHost?: string;
  gatewayParent?: string;
  gatewayHost?: string;
} {
  const ingressHost = hostOf(allowances?.ingressHosts?.[0]);
  const gatewayParent = allowances?.gatewayParents?.[0];
  const gatewayHost = hostOf(allowances?.gatewayHosts?.[0]);
  return {
    ...(ingressHost ? { ingressHost } : {}),
    ...(gatewayParent ? { gatewayParent } : {}),
    ...(gatewayHost ? { gatewayHost } : {}),
  };
}

/** True when the stage's allowances admit the attempt on purpose. */
export function allowedByConfig(attack: Attack, allowances: StageAllowances | undefined): boolean {
  const a = attack.allowedBy;
  if (!a || !allowances) return false;
  const v = allowances[a.setting];
  return Array.isArray(v) ? a.value !== undefined && v.includes(a.value) : v === true;
}

const podSpec = (extra: Record<string, unknown> = {}) => ({
  automountServiceAccountToken: false,
  securityContext: {
    runAsNonRoot: true,
    runAsUser: 101,
    seccompProfile: { type: "RuntimeDefault" },
  },
  containers: [
    {
      name: "attack",
      image: "registry.invalid/attack:1",
      securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] } },
    },
  ],
  ...extra,
});

const RBAC = "RBAC";
const GW = "gateway.networking.k8s.io";

/** The catalogue for one stage namespace. */
export function attackCatalogue(ctx: AttackContext): Attack[] {
  const ns = ctx.namespace;
  const name = (what: string) => `scoped-cd-attack-${what}-${ctx.id}`;
  const meta = (what: string, extra: Record<string, unknown> = {}) => ({
    name: name(what),
    namespace: ns,
    ...extra,
  });
  const template = (what: string, spec: Record<string, unknown>, labels = {}) => ({
    metadata: { labels: { attack: name(what), ...labels } },
    spec,
  });
  const deployment = (what: string, spec: Record<string, unknown>, labels = {}) => ({
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: meta(what),
    spec: {
      replicas: 0,
      selector: { matchLabels: { attack: name(what) } },
      template: template(what, spec, labels),
    },
  });
  const service = (what: string, spec: Record<string, unknown> = {}) => ({
    apiVersion: "v1",
    kind: "Service",
    metadata: meta(what),
    spec: { ports: [{ port: 80 }], ...spec },
  });
  const configMap = (what: string, metadata: Record<string, unknown> = {}) => ({
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: meta(what, metadata),
    data: { attack: "harmless" },
  });
  const backend = { service: { name: "web", port: { number: 80 } } };
  const hostRule = (host: string) => ({
    host,
    http: { paths: [{ path: "/", pathType: "Prefix", backend }] },
  });
  const FOREIGN_HOST = "other-stage.scoped-cd-attack.invalid";
  // An allowed host where the stage has one (else every host is foreign, and the host rule is
  // the one that refuses every Ingress).
  const ingressHost = ctx.ingressHost ?? FOREIGN_HOST;
  // An Ingress needs rules or a defaultBackend to be valid at all (validation runs before the
  // policies): a rule for the stage's host, unless the attempt brings its own.
  const ingress = (what: string, spec: Record<string, unknown>, annotations?: object) => ({
    apiVersion: "networking.k8s.io/v1",
    kind: "Ingress",
    metadata: meta(what, annotations ? { annotations } : {}),
    spec: spec.rules || spec.defaultBackend ? spec : { rules: [hostRule(ingressHost)], ...spec },
  });
  const ref = (apiVersion: string, kind: string, what: string) => ({
    apiVersion,
    kind,
    name: name(what),
    namespace: ns,
  });
  const can = (
    verb: string,
    group: string,
    resource: string,
    more: { subresource?: string; name?: string; namespace?: string | null } = {},
  ): AttackAction => ({
    kind: "access",
    attributes: {
      verb,
      group,
      resource,
      ...(more.subresource ? { subresource: more.subresource } : {}),
      ...(more.name ? { name: more.name } : {}),
      ...(more.namespace === null ? {} : { namespace: more.namespace ?? ns }),
    },
  });
  const route = (kind: string, what: string, spec: Record<string, unknown>) => ({
    // TLSRoute is v1 from Gateway API v1.5 (v1alpha2 is no longer served); the runner sends a
    // route at whichever version of the group the cluster serves it (`needs: "gateway-api"`).
    apiVersion: `${GW}/v1`,
    kind,
    metadata: meta(what),
    spec,
  });
  const httpRouteRules = [{ backendRefs: [{ name: "web", port: 80 }] }];
  const [allowedParentNs, allowedParentName] = ctx.gatewayParent?.split("/") ?? [];
  const foreignParent = { name: "scoped-cd-attack-gw", namespace: ctx.otherNamespace };
  const allowedParent = ctx.gatewayParent
    ? { name: allowedParentName, namespace: allowedParentNs }
    : foreignParent;
  const allowedHost = ctx.gatewayHost ?? FOREIGN_HOST;

  const attacks: Omit<Attack, "expect">[] = [
    // --- Services
    {
      id: "services.externalIPs.create",
      class: "services",
      attempt: "create a Service with spec.externalIPs",
      reason: "externalIPs intercept traffic to any IP cluster-wide (CVE-2020-8554)",
      refusedBy: "services.externalIPs",
      action: { kind: "create", object: service("extip", { externalIPs: ["203.0.113.10"] }) },
    },
    {
      id: "services.externalIPs.merge-patch",
      class: "services",
      attempt: "add externalIPs to an existing ClusterIP Service (merge patch)",
      reason: "the UPDATE path of the same interception",
      refusedBy: "services.externalIPs",
      action: {
        kind: "patch",
        patchType: "merge",
        base: service("extip-upd"),
        target: ref("v1", "Service", "extip-upd"),
        patch: { spec: { externalIPs: ["203.0.113.11"] } },
      },
    },
    {
      id: "services.externalIPs.apply",
      class: "services",
      attempt: "add externalIPs to an existing Service (server-side apply)",
      reason: "server-side apply is its own patch type: the guardrail must see it too",
      refusedBy: "services.externalIPs",
      action: {
        kind: "patch",
        patchType: "apply",
        base: service("extip-ssa"),
        target: ref("v1", "Service", "extip-ssa"),
        patch: {
          apiVersion: "v1",
          kind: "Service",
          metadata: { name: name("extip-ssa"), namespace: ns },
          spec: { externalIPs: ["203.0.113.12"] },
        },
      },
    },
    {
      id: "services.type.NodePort",
      class: "services",
      attempt: "create a NodePort Service",
      reason: "a node port opens the service on every node of the cluster",
      refusedBy: "services.type",
      allowedBy: {
        key: "guardrails.services.allowTypes",
        setting: "serviceTypes",
        value: "NodePort",
      },
      action: { kind: "create", object: service("nodeport", { type: "NodePort" }) },
    },
    {
      id: "services.type.NodePort.json-patch",
      class: "services",
      attempt: "turn an existing ClusterIP Service into a NodePort (JSON patch)",
      reason: "the UPDATE path, with another patch type",
      refusedBy: "services.type",
      allowedBy: {
        key: "guardrails.services.allowTypes",
        setting: "serviceTypes",
        value: "NodePort",
      },
      action: {
        kind: "patch",
        patchType: "json",
        base: service("nodeport-upd"),
        target: ref("v1", "Service", "nodeport-upd"),
        patch: [{ op: "replace", path: "/spec/type", value: "NodePort" }],
      },
    },
    {
      id: "services.type.LoadBalancer",
      class: "services",
      attempt: "create a LoadBalancer Service",
      reason: "claims an external IP (and node ports) outside the namespace",
      refusedBy: "services.type",
      allowedBy: {
        key: "guardrails.services.allowTypes",
        setting: "serviceTypes",
        value: "LoadBalancer",
      },
      action: { kind: "create", object: service("lb", { type: "LoadBalancer" }) },
    },
    {
      id: "services.type.ExternalName",
      class: "services",
      attempt: "create an ExternalName Service pointing at kube-dns",
      reason: "confused deputy: controllers follow the name to another namespace (CVE-2021-25740)",
      refusedBy: "services.type",
      allowedBy: {
        key: "guardrails.services.allowTypes",
        setting: "serviceTypes",
        value: "ExternalName",
      },
      action: {
        kind: "create",
        object: {
          apiVersion: "v1",
          kind: "Service",
          metadata: meta("extname"),
          spec: { type: "ExternalName", externalName: "kube-dns.kube-system.svc.cluster.local" },
        },
      },
    },
    {
      id: "services.status",
      class: "services",
      attempt: "update services/status (claim load-balancer IPs)",
      reason: "a status write announces any IP as the Service's (CVE-2020-8554)",
      refusedBy: RBAC,
      action: can("update", "", "services", { subresource: "status" }),
    },
    // --- Ingress
    {
      id: "ingress.host.foreign",
      class: "ingress",
      attempt: `create an Ingress for a host outside the stage's patterns (${FOREIGN_HOST})`,
      reason: "hijacks another stage's name; cert-manager and external-dns follow the Ingress",
      refusedBy: "ingress.host",
      action: { kind: "create", object: ingress("host", { rules: [hostRule(FOREIGN_HOST)] }) },
    },
    {
      id: "ingress.host.missing",
      class: "ingress",
      attempt: "create an Ingress rule without a host",
      reason: "a rule without a host matches every host of the controller",
      refusedBy: "ingress.host",
      action: {
        kind: "create",
        object: ingress("nohost", {
          rules: [{ http: { paths: [{ path: "/", pathType: "Prefix", backend }] } }],
        }),
      },
    },
    {
      id: "ingress.tls.foreign",
      class: "ingress",
      attempt: "list a foreign host in an Ingress's TLS section",
      reason: "TLS hosts are what cert-manager certifies",
      refusedBy: "ingress.host",
      action: {
        kind: "create",
        object: ingress("tls", { tls: [{ hosts: [FOREIGN_HOST], secretName: "x" }] }),
      },
    },
    {
      id: "ingress.defaultBackend.service",
      class: "ingress",
      attempt: "create an Ingress with a catch-all defaultBackend",
      reason: "a defaultBackend catches every host and path the controller serves",
      refusedBy: "ingress.defaultBackend",
      action: { kind: "create", object: ingress("defbackend", { defaultBackend: backend }) },
    },
    {
      id: "ingress.defaultBackend.resource",
      class: "ingress",
      attempt: "create an Ingress whose defaultBackend is a resource backend",
      reason: "the same catch-all, through an object reference instead of a Service",
      refusedBy: "ingress.defaultBackend",
      action: {
        kind: "create",
        object: ingress("resbackend", {
          // No apiGroup: the core group. An empty apiGroup is invalid (422), so the attempt would
          // be refused before any guardrail saw it.
          defaultBackend: { resource: { kind: "ConfigMap", name: "x" } },
        }),
      },
    },
    {
      id: "ingress.class.name",
      class: "ingress",
      attempt: "create an Ingress for a class outside the stage's list (ingressClassName)",
      reason: "another controller (an internal one) would serve it",
      refusedBy: "ingress.class",
      action: {
        kind: "create",
        object: ingress("class", { ingressClassName: "scoped-cd-attack-internal" }),
      },
    },
    {
      id: "ingress.class.annotation",
      class: "ingress",
      attempt: "pick a class with the legacy kubernetes.io/ingress.class annotation",
      reason: "the annotation still selects a controller",
      refusedBy: "ingress.class",
      action: {
        kind: "create",
        object: ingress(
          "classann",
          {},
          { "kubernetes.io/ingress.class": "scoped-cd-attack-internal" },
        ),
      },
    },
    {
      id: "ingress.annotations.snippet",
      class: "ingress",
      attempt: "annotate an Ingress with an nginx configuration-snippet",
      reason: "injects controller configuration (CVE-2021-25742)",
      refusedBy: "ingress.annotations",
      action: {
        kind: "create",
        object: ingress(
          "snippet",
          {},
          { "nginx.ingress.kubernetes.io/configuration-snippet": "return 200;" },
        ),
      },
    },
    {
      id: "ingress.annotations.server-alias",
      class: "ingress",
      attempt: "annotate an Ingress with nginx server-alias",
      reason: "extra server names bypass the host allow-list",
      refusedBy: "ingress.annotations",
      action: {
        kind: "create",
        object: ingress("alias", {}, { "nginx.ingress.kubernetes.io/server-alias": FOREIGN_HOST }),
      },
    },
    {
      id: "ingress.status",
      class: "ingress",
      attempt: "update ingresses/status",
      reason: "a status write announces addresses external-dns publishes",
      refusedBy: RBAC,
      action: can("update", "networking.k8s.io", "ingresses", { subresource: "status" }),
    },
    // --- Gateway API (when installed)
    ...(["HTTPRoute", "GRPCRoute", "TLSRoute"] as const).flatMap(
      (kind): Omit<Attack, "expect">[] => {
        const k = kind.toLowerCase();
        const rules =
          kind === "TLSRoute" ? [{ backendRefs: [{ name: "web", port: 443 }] }] : httpRouteRules;
        return [
          {
            id: `gateway.${k}.hostname`,
            class: "gateway",
            attempt: `create a ${kind} for a host outside the stage's patterns`,
            reason: "the Ingress-host hijack again, through the Gateway API",
            refusedBy: "gateway.hostnames",
            needs: "gateway-api",
            action: {
              kind: "create",
              object: route(kind, `${k}-host`, {
                hostnames: [FOREIGN_HOST],
                parentRefs: [allowedParent],
                rules,
              }),
            },
          },
          {
            id: `gateway.${k}.parentRef`,
            class: "gateway",
            attempt: `attach a ${kind} to a Gateway outside the stage's list`,
            reason: "a shared Gateway serves the route to every listener it has",
            refusedBy: "gateway.parentRefs",
            needs: "gateway-api",
            action: {
              kind: "create",
              object: route(kind, `${k}-parent`, {
                hostnames: [allowedHost],
                parentRefs: [foreignParent],
                rules,
              }),
            },
          },
        ];
      },
    ),
    {
      id: "gateway.httproute.no-hostnames",
      class: "gateway",
      attempt: "create an HTTPRoute without hostnames",
      reason: "a route without hostnames takes every host of the Gateway's listeners",
      refusedBy: "gateway.hostnames",
      needs: "gateway-api",
      action: {
        kind: "create",
        object: route("HTTPRoute", "nohost", {
          parentRefs: [allowedParent],
          rules: httpRouteRules,
        }),
      },
    },
    {
      id: "gateway.httproute.service-parent",
      class: "gateway",
      attempt: "attach an HTTPRoute to a Service (mesh parentRef)",
      reason: "a mesh route redirects traffic meant for another Service",
      refusedBy: "gateway.parentRefs",
      needs: "gateway-api",
      action: {
        kind: "create",
        object: route("HTTPRoute", "meshparent", {
          hostnames: [allowedHost],
          parentRefs: [{ group: "", kind: "Service", name: "kubernetes", namespace: "default" }],
          rules: httpRouteRules,
        }),
      },
    },
    // --- Scheduling fields, on each pod-template kind the deployer may write
    {
      id: "scheduling.priorityClass.deployment",
      class: "scheduling",
      attempt: "a Deployment with priorityClassName system-node-critical",
      reason: "preempts other tenants' pods",
      refusedBy: "workloads.priorityClassName",
      action: {
        kind: "create",
        object: deployment("prio", podSpec({ priorityClassName: "system-node-critical" })),
      },
    },
    {
      id: "scheduling.nodeName.statefulset",
      class: "scheduling",
      attempt: "a StatefulSet pinned to a node (nodeName)",
      reason: "nodeName bypasses the scheduler and every taint",
      refusedBy: "workloads.nodeName",
      action: {
        kind: "create",
        object: {
          apiVersion: "apps/v1",
          kind: "StatefulSet",
          metadata: meta("nodename"),
          spec: {
            replicas: 0,
            serviceName: "x",
            selector: { matchLabels: { attack: name("nodename") } },
            template: template("nodename", podSpec({ nodeName: "control-plane" })),
          },
        },
      },
    },
    {
      id: "scheduling.tolerations.job",
      class: "scheduling",
      attempt: "a Job tolerating the control-plane taint",
      reason: "schedules onto control-plane nodes",
      refusedBy: "workloads.tolerations",
      action: {
        kind: "create",
        object: {
          apiVersion: "batch/v1",
          kind: "Job",
          metadata: meta("tolerate"),
          spec: {
            suspend: true,
            template: template("tolerate", {
              ...podSpec({
                tolerations: [{ key: "node-role.kubernetes.io/control-plane", operator: "Exists" }],
              }),
              restartPolicy: "Never",
            }),
          },
        },
      },
    },
    {
      id: "scheduling.tolerations.cronjob",
      class: "scheduling",
      attempt: "a CronJob tolerating every taint (empty key, Exists)",
      reason: "schedules anywhere, control plane included",
      refusedBy: "workloads.tolerations",
      action: {
        kind: "create",
        object: {
          apiVersion: "batch/v1",
          kind: "CronJob",
          metadata: meta("tolerall"),
          spec: {
            schedule: "0 0 31 2 *",
            suspend: true,
            jobTemplate: {
              spec: {
                template: template("tolerall", {
                  ...podSpec({ tolerations: [{ operator: "Exists" }] }),
                  restartPolicy: "Never",
                }),
              },
            },
          },
        },
      },
    },
    {
      id: "scheduling.nodeName.strategic-patch",
      class: "scheduling",
      attempt: "pin an existing Deployment's pods to a node (strategic merge patch)",
      reason: "the UPDATE path of nodeName",
      refusedBy: "workloads.nodeName",
      action: {
        kind: "patch",
        patchType: "strategic",
        base: deployment("nodename-upd", podSpec()),
        target: ref("apps/v1", "Deployment", "nodename-upd"),
        patch: { spec: { template: { spec: { nodeName: "control-plane" } } } },
      },
    },
    // --- Workload kinds RBAC keeps out
    {
      id: "workloads.pod.root",
      class: "workloads",
      attempt: "create a bare Pod running as root",
      reason: "a bare pod escapes the chart's controllers; root is what Pod Security refuses",
      refusedBy: RBAC,
      action: {
        kind: "create",
        object: {
          apiVersion: "v1",
          kind: "Pod",
          metadata: meta("rootpod"),
          spec: { containers: [{ name: "attack", image: "registry.invalid/attack:1" }] },
        },
      },
    },
    {
      id: "workloads.daemonset",
      class: "workloads",
      attempt: "create a DaemonSet",
      reason: "a pod on every node, the control plane's included if tolerated",
      refusedBy: RBAC,
      action: {
        kind: "create",
        object: {
          apiVersion: "apps/v1",
          kind: "DaemonSet",
          metadata: meta("ds"),
          spec: {
            selector: { matchLabels: { attack: name("ds") } },
            template: template("ds", podSpec()),
          },
        },
      },
    },
    {
      id: "workloads.replicationcontroller",
      class: "workloads",
      attempt: "create a ReplicationController",
      reason: "a pod controller outside the profile",
      refusedBy: RBAC,
      action: can("create", "", "replicationcontrollers"),
    },
    // --- Disruption budgets
    {
      id: "disruption.maxUnavailable.zero",
      class: "disruption",
      attempt: "a PodDisruptionBudget with maxUnavailable 0",
      reason: "blocks every eviction: node drains never finish",
      refusedBy: "disruptionBudgets.maxUnavailable",
      action: {
        kind: "create",
        object: {
          apiVersion: "policy/v1",
          kind: "PodDisruptionBudget",
          metadata: meta("pdb0"),
          spec: { maxUnavailable: 0, selector: { matchLabels: { attack: "x" } } },
        },
      },
    },
    {
      id: "disruption.maxUnavailable.merge-patch",
      class: "disruption",
      attempt: 'lower an existing budget to maxUnavailable "0%" (merge patch)',
      reason: "the UPDATE path of the same drain block",
      refusedBy: "disruptionBudgets.maxUnavailable",
      action: {
        kind: "patch",
        patchType: "merge",
        base: {
          apiVersion: "policy/v1",
          kind: "PodDisruptionBudget",
          metadata: meta("pdb-upd"),
          spec: { maxUnavailable: 1, selector: { matchLabels: { attack: "x" } } },
        },
        target: ref("policy/v1", "PodDisruptionBudget", "pdb-upd"),
        patch: { spec: { maxUnavailable: "0%" } },
      },
    },
    {
      id: "disruption.minAvailable.all",
      class: "disruption",
      attempt: "a PodDisruptionBudget with minAvailable 100%",
      reason: "blocks every eviction whatever the replica count",
      refusedBy: "disruptionBudgets.minAvailable",
      action: {
        kind: "create",
        object: {
          apiVersion: "policy/v1",
          kind: "PodDisruptionBudget",
          metadata: meta("pdb100"),
          spec: { minAvailable: "100%", selector: { matchLabels: { attack: "x" } } },
        },
      },
    },
    {
      id: "disruption.minAvailable.one",
      class: "disruption",
      attempt: "a PodDisruptionBudget with minAvailable 1",
      reason: "blocks every eviction of a one-replica workload",
      refusedBy: "disruptionBudgets.minAvailable",
      allowedBy: {
        key: "guardrails.disruptionBudgets.allowMinAvailable",
        setting: "allowMinAvailable",
      },
      action: {
        kind: "create",
        object: {
          apiVersion: "policy/v1",
          kind: "PodDisruptionBudget",
          metadata: meta("pdb1"),
          spec: { minAvailable: 1, selector: { matchLabels: { attack: "x" } } },
        },
      },
    },
    // --- Identities
    {
      id: "identities.tokenSecret",
      class: "identities",
      attempt: "a legacy token Secret for the default ServiceAccount",
      reason: "the token controller fills it with a never-expiring token",
      refusedBy: "identities.tokenSecret",
      action: {
        kind: "create",
        object: {
          apiVersion: "v1",
          kind: "Secret",
          type: "kubernetes.io/service-account-token",
          metadata: meta("token", {
            annotations: { "kubernetes.io/service-account.name": "default" },
          }),
        },
      },
    },
    {
      id: "identities.tokenRequest",
      class: "identities",
      attempt: "mint a token for a ServiceAccount (TokenRequest)",
      reason: "a fresh credential for any identity of the namespace",
      refusedBy: RBAC,
      action: can("create", "", "serviceaccounts", { subresource: "token", name: "default" }),
    },
    {
      id: "identities.serviceAccountName.deployer",
      class: "identities",
      attempt: "a Deployment whose pods run as a deployer-* ServiceAccount",
      reason: "the pod would hold the deployer's rights and outlive a rotation",
      refusedBy: "identities.serviceAccountName",
      action: {
        kind: "create",
        object: deployment("runas", podSpec({ serviceAccountName: `deployer-${ctx.id}` })),
      },
    },
    {
      id: "identities.apiEgressLabel",
      class: "identities",
      attempt: `a Deployment whose pods carry ${API_EGRESS_LABEL}`,
      reason: "the label lets a pod past the egress policy to the API server",
      refusedBy: "identities.apiEgressLabel",
      action: {
        kind: "create",
        object: deployment("egress", podSpec(), { [API_EGRESS_LABEL]: "true" }),
      },
    },
    {
      id: "identities.clusterCA.merge-patch",
      class: "identities",
      attempt: "rewrite the namespace's kube-root-ca.crt (merge patch)",
      reason: "the next scoped kubeconfig, and every pod, would trust another server",
      refusedBy: "identities.clusterCA",
      action: {
        kind: "patch",
        patchType: "merge",
        target: { apiVersion: "v1", kind: "ConfigMap", name: "kube-root-ca.crt", namespace: ns },
        patch: { data: { "ca.crt": "not the cluster CA" } },
      },
    },
    {
      id: "identities.reservedName",
      class: "identities",
      attempt: "create a ServiceAccount named like the next deployer identity",
      reason: "the access layer's next rotation would fail or adopt it",
      refusedBy: "access.reservedName",
      action: {
        kind: "create",
        object: {
          apiVersion: "v1",
          kind: "ServiceAccount",
          metadata: { name: `deployer-${ctx.id}`, namespace: ns },
        },
      },
    },
    {
      id: "identities.impersonate.serviceaccount",
      class: "identities",
      attempt: "impersonate a ServiceAccount of the namespace",
      reason: "acts with another identity's rights",
      refusedBy: RBAC,
      action: can("impersonate", "", "serviceaccounts", { name: "default" }),
    },
    {
      id: "identities.impersonate.group",
      class: "identities",
      attempt: "impersonate the system:masters group",
      reason: "cluster-admin by group membership",
      refusedBy: RBAC,
      action: can("impersonate", "", "groups", { name: "system:masters", namespace: null }),
    },
    // --- RBAC
    {
      id: "rbac.rolebindings.create",
      class: "rbac",
      attempt: "create RoleBindings at all",
      reason: "binding is how rights are handed on",
      refusedBy: RBAC,
      allowedBy: { key: "deployer.allowRbac", setting: "allowRbac" },
      action: can("create", "rbac.authorization.k8s.io", "rolebindings"),
    },
    {
      id: "rbac.bind.clusterAdmin",
      class: "rbac",
      attempt: "bind the cluster-admin ClusterRole in the namespace",
      reason: "every right in the namespace, Secrets and exec included",
      refusedBy: "rbac.roleRef",
      action: {
        kind: "create",
        object: {
          apiVersion: "rbac.authorization.k8s.io/v1",
          kind: "RoleBinding",
          metadata: meta("admin"),
          roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "admin" },
          subjects: [{ kind: "ServiceAccount", name: "default", namespace: ns }],
        },
      },
    },
    {
      id: "rbac.subjects.group",
      class: "rbac",
      attempt: "bind a Role to the group system:authenticated",
      reason: "hands the Role to every identity of the cluster",
      refusedBy: "rbac.subjects",
      action: {
        kind: "create",
        object: {
          apiVersion: "rbac.authorization.k8s.io/v1",
          kind: "RoleBinding",
          metadata: meta("group"),
          roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "scoped-deployer" },
          subjects: [
            { apiGroup: "rbac.authorization.k8s.io", kind: "Group", name: "system:authenticated" },
          ],
        },
      },
    },
    {
      id: "rbac.escalate.exec",
      class: "rbac",
      attempt: "create a Role granting pods/exec",
      reason: "a Role with rights the deployer does not hold (escalation)",
      refusedBy: RBAC,
      action: {
        kind: "create",
        object: {
          apiVersion: "rbac.authorization.k8s.io/v1",
          kind: "Role",
          metadata: meta("exec"),
          rules: [{ apiGroups: [""], resources: ["pods/exec"], verbs: ["create"] }],
        },
      },
    },
    {
      id: "rbac.escalate.verb",
      class: "rbac",
      attempt: "hold the escalate verb on Roles",
      reason: "escalate lifts the API server's escalation check",
      refusedBy: RBAC,
      action: can("escalate", "rbac.authorization.k8s.io", "roles"),
    },
    // --- Cluster scope and other namespaces
    {
      id: "cluster.clusterrolebinding",
      class: "cluster-scope",
      attempt: "create a ClusterRoleBinding",
      reason: "cluster-wide rights",
      refusedBy: RBAC,
      action: {
        kind: "create",
        object: {
          apiVersion: "rbac.authorization.k8s.io/v1",
          kind: "ClusterRoleBinding",
          metadata: { name: name("crb") },
          roleRef: {
            apiGroup: "rbac.authorization.k8s.io",
            kind: "ClusterRole",
            name: "cluster-admin",
          },
          subjects: [{ kind: "ServiceAccount", name: "default", namespace: ns }],
        },
      },
    },
    {
      id: "cluster.namespace",
      class: "cluster-scope",
      attempt: "create a Namespace",
      reason: "a namespace without the stage's guardrails",
      refusedBy: RBAC,
      action: {
        kind: "create",
        object: { apiVersion: "v1", kind: "Namespace", metadata: { name: name("ns") } },
      },
    },
    {
      id: "cluster.persistentvolume.hostPath",
      class: "cluster-scope",
      attempt: "create a hostPath PersistentVolume",
      reason: "mounts a node's filesystem",
      refusedBy: RBAC,
      action: {
        kind: "create",
        object: {
          apiVersion: "v1",
          kind: "PersistentVolume",
          metadata: { name: name("pv") },
          spec: {
            capacity: { storage: "1Gi" },
            accessModes: ["ReadWriteOnce"],
            hostPath: { path: "/" },
          },
        },
      },
    },
    {
      id: "cluster.nodes.proxy",
      class: "cluster-scope",
      attempt: "reach a kubelet through nodes/proxy",
      reason: "the kubelet API runs commands in any pod of the node",
      refusedBy: RBAC,
      action: can("get", "", "nodes", { subresource: "proxy", namespace: null }),
    },
    {
      id: "cluster.crd",
      class: "cluster-scope",
      attempt: "create a CustomResourceDefinition",
      reason: "cluster-wide API changes",
      refusedBy: RBAC,
      action: can("create", "apiextensions.k8s.io", "customresourcedefinitions", {
        namespace: null,
      }),
    },
    {
      id: "cluster.kube-system.secrets",
      class: "cluster-scope",
      attempt: "read Secrets in kube-system",
      reason: "the control plane's credentials",
      refusedBy: RBAC,
      action: can("list", "", "secrets", { namespace: "kube-system" }),
    },
    {
      id: "cluster.other-namespace.deployments",
      class: "cluster-scope",
      attempt: `create a Deployment in ${ctx.otherNamespace}`,
      reason: "another namespace's workloads and identities",
      refusedBy: RBAC,
      action: {
        kind: "create",
        object: {
          ...deployment("other", podSpec()),
          metadata: { name: name("other"), namespace: ctx.otherNamespace },
        },
      },
    },
    // --- Subresources
    {
      id: "subresources.exec",
      class: "subresources",
      attempt: "exec into a pod (pods/exec)",
      reason: "runs commands with the pod's identity and mounts",
      refusedBy: RBAC,
      action: can("create", "", "pods", { subresource: "exec" }),
    },
    {
      id: "subresources.attach",
      class: "subresources",
      attempt: "attach to a pod (pods/attach)",
      reason: "the pod's terminal, same as exec for an interactive container",
      refusedBy: RBAC,
      action: can("create", "", "pods", { subresource: "attach" }),
    },
    {
      id: "subresources.portforward",
      class: "subresources",
      attempt: "port-forward to a pod (pods/portforward)",
      reason: "reaches pod ports the network policies close",
      refusedBy: RBAC,
      allowedBy: { key: "tiller.mode: cluster", setting: "tillerPortForward" },
      action: can("create", "", "pods", { subresource: "portforward" }),
    },
    {
      id: "subresources.ephemeralcontainers",
      class: "subresources",
      attempt: "add an ephemeral container to a pod",
      reason: "a new container in a running pod: exec by another name",
      refusedBy: RBAC,
      action: can("patch", "", "pods", { subresource: "ephemeralcontainers" }),
    },
    {
      id: "subresources.pods.proxy",
      class: "subresources",
      attempt: "proxy to a pod through the API server (pods/proxy)",
      reason: "passes the network policies through the API server",
      refusedBy: RBAC,
      action: can("get", "", "pods", { subresource: "proxy" }),
    },
    {
      id: "subresources.services.proxy",
      class: "subresources",
      attempt: "proxy to a Service through the API server (services/proxy)",
      reason: "passes the network policies through the API server",
      refusedBy: RBAC,
      action: can("get", "", "services", { subresource: "proxy" }),
    },
    {
      id: "subresources.scale",
      class: "subresources",
      attempt: "scale a Deployment through deployments/scale",
      reason: "not in the profile: replica counts come from the chart (and the quota bounds them)",
      refusedBy: RBAC,
      action: can("update", "apps", "deployments", { subresource: "scale" }),
    },
    {
      id: "subresources.status",
      class: "subresources",
      attempt: "write a Deployment's status",
      reason: "status is the controllers': a forged one misleads await logic and CI",
      refusedBy: RBAC,
      action: can("update", "apps", "deployments", { subresource: "status" }),
    },
    {
      id: "subresources.pods.binding",
      class: "subresources",
      attempt: "bind a pod to a node (pods/binding)",
      reason: "the scheduler's decision",
      refusedBy: RBAC,
      action: can("create", "", "pods", { subresource: "binding" }),
    },
    // --- Traffic redirection
    {
      id: "traffic.endpoints",
      class: "traffic",
      attempt: "write Endpoints by hand",
      reason: "sends a Service's traffic anywhere (CVE-2021-25740)",
      refusedBy: RBAC,
      action: {
        kind: "create",
        object: {
          apiVersion: "v1",
          kind: "Endpoints",
          metadata: meta("ep"),
          subsets: [{ addresses: [{ ip: "203.0.113.20" }], ports: [{ port: 80 }] }],
        },
      },
    },
    {
      id: "traffic.endpointslices",
      class: "traffic",
      attempt: "write an EndpointSlice by hand",
      reason: "the same redirection through the newer API",
      refusedBy: RBAC,
      action: {
        kind: "create",
        object: {
          apiVersion: "discovery.k8s.io/v1",
          kind: "EndpointSlice",
          metadata: meta("eps", { labels: { "kubernetes.io/service-name": "web" } }),
          addressType: "IPv4",
          endpoints: [{ addresses: ["203.0.113.21"] }],
          ports: [{ port: 80 }],
        },
      },
    },
    // --- The guardrail and quota objects themselves
    {
      id: "guardrails.quota.merge-patch",
      class: "guardrail-objects",
      attempt: "raise the stage quota (merge patch on stage-quota)",
      reason: "undoes the stage's resource bounds",
      refusedBy: RBAC,
      action: {
        kind: "patch",
        patchType: "merge",
        target: { apiVersion: "v1", kind: "ResourceQuota", name: "stage-quota", namespace: ns },
        patch: { spec: { hard: { "services.nodeports": "10" } } },
      },
    },
    {
      id: "guardrails.limitrange.delete",
      class: "guardrail-objects",
      attempt: "delete the stage's LimitRange",
      reason: "containers without declared resources would go unbounded",
      refusedBy: RBAC,
      action: can("delete", "", "limitranges", { name: "stage-defaults" }),
    },
    {
      id: "guardrails.networkpolicy",
      class: "guardrail-objects",
      attempt: "create a NetworkPolicy",
      reason: "an allow rule opens what the stage's isolation closes",
      refusedBy: RBAC,
      action: can("create", "networking.k8s.io", "networkpolicies"),
    },
    {
      id: "guardrails.admissionpolicy",
      class: "guardrail-objects",
      attempt: "delete a ValidatingAdmissionPolicyBinding",
      reason: "switches a guardrail off",
      refusedBy: RBAC,
      action: can("delete", "admissionregistration.k8s.io", "validatingadmissionpolicybindings", {
        namespace: null,
      }),
    },
    {
      id: "guardrails.namespace.labels",
      class: "guardrail-objects",
      attempt: "relabel the stage namespace to Pod Security privileged (merge patch)",
      reason: "loosens Pod Security and the policies' namespace selection",
      refusedBy: RBAC,
      action: {
        kind: "patch",
        patchType: "merge",
        target: { apiVersion: "v1", kind: "Namespace", name: ns },
        patch: { metadata: { labels: { "pod-security.kubernetes.io/enforce": "privileged" } } },
      },
    },
    // --- Metadata writes
    {
      id: "metadata.finalizer.create",
      class: "metadata",
      attempt: "a ConfigMap with a finalizer no controller removes",
      reason: "stalls deletion: rotation, destroy, namespace teardown",
      refusedBy: "access.finalizers",
      action: {
        kind: "create",
        object: configMap("fin", { finalizers: ["scoped-cd.io/attack"] }),
      },
    },
    {
      id: "metadata.finalizer.json-patch",
      class: "metadata",
      attempt: "add such a finalizer to an existing ConfigMap (JSON patch)",
      reason: "the UPDATE path: metadata only is an update too",
      refusedBy: "access.finalizers",
      action: {
        kind: "patch",
        patchType: "json",
        base: configMap("fin-upd"),
        target: ref("v1", "ConfigMap", "fin-upd"),
        patch: [{ op: "add", path: "/metadata/finalizers", value: ["scoped-cd.io/attack"] }],
      },
    },
    {
      id: "metadata.ownerReference.apply",
      class: "metadata",
      attempt: "give an existing ConfigMap a controller ownerReference (server-side apply)",
      reason: "a controller reference hides an object from the inventory",
      refusedBy: "access.ownerReferences",
      action: {
        kind: "patch",
        patchType: "apply",
        base: configMap("owner-upd"),
        target: ref("v1", "ConfigMap", "owner-upd"),
        patch: {
          apiVersion: "v1",
          kind: "ConfigMap",
          metadata: {
            name: name("owner-upd"),
            namespace: ns,
            ownerReferences: [
              {
                apiVersion: "v1",
                kind: "ConfigMap",
                name: "kube-root-ca.crt",
                uid: "00000000-0000-0000-0000-000000000000",
                controller: true,
              },
            ],
          },
        },
      },
    },
    {
      id: "metadata.blockOwnerDeletion.create",
      class: "metadata",
      attempt: "a ConfigMap with a blockOwnerDeletion ownerReference",
      reason: "stalls the owner's foreground deletion",
      refusedBy: "access.ownerReferences",
      action: {
        kind: "create",
        object: configMap("block", {
          ownerReferences: [
            {
              apiVersion: "v1",
              kind: "ConfigMap",
              name: "kube-root-ca.crt",
              uid: "00000000-0000-0000-0000-000000000000",
              blockOwnerDeletion: true,
            },
          ],
        }),
      },
    },
    {
      id: "metadata.accessLabel.strategic-patch",
      class: "metadata",
      attempt: `label an existing ConfigMap ${ACCESS_LAYER_LABEL.key}=${ACCESS_LAYER_LABEL.value} (strategic merge patch)`,
      reason: "the label is proof of the access layer's ownership (the inventory trusts it)",
      refusedBy: "access.owned",
      action: {
        kind: "patch",
        patchType: "strategic",
        base: configMap("label-upd"),
        target: ref("v1", "ConfigMap", "label-upd"),
        patch: { metadata: { labels: { [ACCESS_LAYER_LABEL.key]: ACCESS_LAYER_LABEL.value } } },
      },
    },
    {
      id: "metadata.accessLabel.create",
      class: "metadata",
      attempt: `a ConfigMap created with the access layer's label ${ACCESS_LAYER_LABEL.key}`,
      reason: "the label is proof of the access layer's ownership (the inventory trusts it)",
      refusedBy: "access.owned",
      action: {
        kind: "create",
        object: configMap("label", {
          labels: { [ACCESS_LAYER_LABEL.key]: ACCESS_LAYER_LABEL.value },
        }),
      },
    },
    // --- Resource defaults
    {
      id: "defaults.storage.claim",
      class: "resource-defaults",
      attempt: "claim 100Ti of storage",
      reason: "beyond the quota's requests.storage: one stage would take the cluster's disks",
      refusedBy: "ResourceQuota",
      action: {
        kind: "create",
        object: {
          apiVersion: "v1",
          kind: "PersistentVolumeClaim",
          metadata: meta("bigclaim"),
          spec: { accessModes: ["ReadWriteOnce"], resources: { requests: { storage: "100Ti" } } },
        },
      },
    },
    {
      id: "defaults.limitrange.create",
      class: "resource-defaults",
      attempt: "create a LimitRange of one's own (defaults without ephemeral-storage)",
      reason: "a container that declares nothing could fill its node's disk",
      refusedBy: RBAC,
      action: {
        kind: "create",
        object: {
          apiVersion: "v1",
          kind: "LimitRange",
          metadata: meta("lr"),
          spec: { limits: [{ type: "Container", default: { cpu: "4" } }] },
        },
      },
    },
    {
      id: "defaults.quota.create",
      class: "resource-defaults",
      attempt: "create a second ResourceQuota",
      reason: "quota objects are the access layer's",
      refusedBy: RBAC,
      action: can("create", "", "resourcequotas"),
    },
  ];
  return attacks.map((a) => ({ ...a, expect: "refused" as const }));
}
