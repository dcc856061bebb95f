// The stack configuration contract (README "Configuration"): every `scoped-cd:` key, its type and
// its default, written once. Cross-field rules live in rules.ts; reading from the engine in load.ts.
import { z } from "zod";
import {
  ALL_CLASSES,
  clusterScopedResources,
  EscalationClass,
  escalationClasses,
  UNACKNOWLEDGEABLE,
} from "../policy/rbac";

export const PROJECT = "scoped-cd";

/** Helm v2's last release; pinned so an upstream retag cannot change what runs. */
export const DEFAULT_TILLER_IMAGE = "ghcr.io/helm/tiller:v2.17.0";

export const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
export const DNS1123_MESSAGE =
  "must be a DNS-1123 label: lowercase letters, digits and '-', starting and ending with a letter or digit";
// Kubernetes resource.Quantity, e.g. "500m", "2", "4Gi", "1e3".
const QUANTITY = /^[+-]?(\d+(\.\d*)?|\.\d+)([KMGTPE]i|[numkMGTPE]|[eE][+-]?\d+)?$/;
// ResourceQuota `hard` keys: plain compute names, requests./limits. prefixed, object counts.
export const QUOTA_KEY =
  /^((requests\.|limits\.)?(cpu|memory|storage|ephemeral-storage)|pods|services|services\.loadbalancers|services\.nodeports|secrets|configmaps|persistentvolumeclaims|replicationcontrollers|resourcequotas|count\/[a-z0-9.-]+)$/;
// A stack name as `pulumi stack` accepts it, optionally org/project-qualified.
const STACK_NAME = /^([A-Za-z0-9_.-]+\/){0,2}[A-Za-z0-9_.-]+$/;

const dnsLabel = (max: number) =>
  z.string().max(max, `must be at most ${max} characters`).regex(DNS1123_LABEL, DNS1123_MESSAGE);

const quantity = z
  .union([z.string(), z.number()])
  .transform(String)
  .refine((q) => QUANTITY.test(q), 'must be a Kubernetes quantity such as "500m", "2" or "4Gi"');

const stackName = z
  .string()
  .regex(STACK_NAME, "must be a stack name such as prod or org/scoped-cd/prod");

const extraRuleSchema = z
  .strictObject({
    apiGroups: z.array(z.string()).min(1, "must list at least one API group"),
    resources: z.array(z.string().min(1)).min(1, "must list at least one resource"),
    verbs: z.array(z.string().min(1)).min(1, "must list at least one verb"),
    resourceNames: z.array(z.string().min(1)).optional(),
    /** Escalation classes this rule is known to carry and is accepted with. */
    acknowledge: z
      .array(z.enum(ALL_CLASSES as [EscalationClass, ...EscalationClass[]]))
      .default([]),
  })
  .superRefine((rule, ctx) => {
    const scoped = clusterScopedResources(rule);
    if (scoped.length > 0) {
      ctx.addIssue({
        code: "custom",
        path: ["resources"],
        message: `${scoped.join(", ")} ${scoped.length > 1 ? "are" : "is"} cluster-scoped: a namespaced Role cannot grant ${scoped.length > 1 ? "them" : "it"}`,
      });
    }
    const carried = escalationClasses(rule);
    const forbidden = carried.filter((c) => UNACKNOWLEDGEABLE.has(c));
    if (forbidden.length > 0) {
      ctx.addIssue({
        code: "custom",
        message: `carries ${forbidden.join(", ")}, which a deployer Role may never hold`,
      });
    }
    const unacknowledged = carried.filter(
      (c) => !UNACKNOWLEDGEABLE.has(c) && !rule.acknowledge.includes(c),
    );
    if (unacknowledged.length > 0) {
      ctx.addIssue({
        code: "custom",
        message: `carries the escalation class ${unacknowledged.join(", ")}; list ${unacknowledged.length > 1 ? "them" : "it"} under \`acknowledge\` to accept the risk`,
      });
    }
    const stale = rule.acknowledge.filter((c) => !carried.includes(c));
    if (stale.length > 0) {
      ctx.addIssue({
        code: "custom",
        path: ["acknowledge"],
        message: `acknowledges ${stale.join(", ")}, which the rule does not carry`,
      });
    }
  });

const releaseSchema = z.strictObject({
  /** A local chart directory (`./charts/x`) or a chart name in `repo`. */
  chart: z.string().min(1, "must not be empty"),
  repo: z.url({ protocol: /^(https?|oci)$/, error: "must be an http(s) or oci URL" }).optional(),
  version: z.string().min(1, "must not be empty").optional(),
  values: z.record(z.string(), z.unknown()).default({}),
  /** Seconds Helm waits for the release's objects to become ready. */
  timeoutSeconds: z.number().int().positive().max(3600).default(300),
});

const containerDefaults = z.strictObject({
  cpu: quantity,
  memory: quantity,
});

export const stageSchema = z.strictObject({
  namespace: dnsLabel(63).optional(),
  deletable: z.boolean().default(false),
  deployer: z
    .strictObject({
      rotation: z
        .string()
        .regex(/^[A-Za-z0-9._-]{1,63}$/, "must be 1-63 letters, digits, '.', '_' or '-'")
        .default("initial"),
      allowRbac: z.boolean().default(false),
      extraRules: z.array(extraRuleSchema).default([]),
    })
    .prefault({}),
  guardrails: z
    .strictObject({
      podSecurity: z.enum(["restricted", "baseline"]).default("restricted"),
      quota: z.record(z.string(), quantity).default({
        "requests.cpu": "2",
        "requests.memory": "4Gi",
        "limits.cpu": "4",
        "limits.memory": "8Gi",
        pods: "20",
      }),
      /** LimitRange defaults for containers that set no requests/limits of their own. */
      containerRequests: containerDefaults.default({ cpu: "100m", memory: "128Mi" }),
      containerLimits: containerDefaults.default({ cpu: "500m", memory: "512Mi" }),
      isolateNetwork: z.boolean().default(true),
    })
    .prefault({}),
  tiller: z
    .strictObject({
      enabled: z.boolean().default(false),
      image: z
        .string()
        .regex(
          /^[^:@\s]+(:(?!latest$)[\w][\w.-]{0,127})?(@sha256:[a-f0-9]{64})?$/,
          "must be a pinned image reference (a tag other than latest, or a digest)",
        )
        .refine((i) => /[:@]/.test(i.split("/").pop() ?? ""), "must carry a tag or digest")
        .default(DEFAULT_TILLER_IMAGE),
      historyMax: z.number().int().min(1).max(100).default(10),
    })
    .prefault({}),
  releases: z.record(z.string(), releaseSchema).default({}),
  promoteFrom: stackName.optional(),
});

const clusterSchema = z.strictObject({
  name: dnsLabel(63),
  server: z.url({ protocol: /^https$/, error: "must be an https:// URL" }).optional(),
  /** The admin kubeconfig context (all/access modes); default: the current context. */
  context: z.string().min(1).optional(),
});

export const stackSchema = z.strictObject({
  mode: z.enum(["all", "access", "delivery"]).default("all"),
  cluster: clusterSchema,
  accessStack: stackName.optional(),
  kubeconfig: z.literal("[secret]").optional(),
  // Each stage is parsed on its own (parseConfig) so that one bad stage hides no other problem.
  stages: z.record(z.string(), z.unknown()),
});

export type ParsedTop = z.infer<typeof stackSchema>;
export type ParsedStage = z.infer<typeof stageSchema>;
export type Mode = ParsedTop["mode"];
export type ReleaseConfig = z.infer<typeof releaseSchema>;
export type ExtraRule = z.infer<typeof extraRuleSchema>;

/** One stage, with defaults applied and its namespace resolved. */
export type StageConfig = Omit<ParsedStage, "namespace"> & {
  readonly name: string;
  readonly namespace: string;
};

export interface StackConfig<Secret = unknown> {
  readonly mode: Mode;
  readonly cluster: ParsedTop["cluster"];
  readonly accessStack?: string;
  /** The scoped kubeconfig from secret config (delivery mode); a secret Output, never plain. */
  readonly kubeconfig?: Secret;
  readonly stages: readonly StageConfig[];
}

/** A plain object (not null, not an array). */
export const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

export function isLocalChart(chart: string): boolean {
  return chart.startsWith("./") || chart.startsWith("../") || chart.startsWith("/");
}
