// The stack configuration contract (README "Configuration"): read every `scoped-cd:` key, apply
// defaults, validate, and report every problem at once with its key path — before any resource is
// registered, so a bad stack changes nothing in the cluster.
import * as pulumi from "@pulumi/pulumi";
import { z } from "zod";
import {
  ALL_CLASSES,
  clusterScopedResources,
  EscalationClass,
  escalationClasses,
  UNACKNOWLEDGEABLE,
} from "./components/rbac";

export const PROJECT = "scoped-cd";

/** Helm v2's last release; pinned so an upstream retag cannot change what runs. */
export const DEFAULT_TILLER_IMAGE = "ghcr.io/helm/tiller:v2.17.0";

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_MESSAGE =
  "must be a DNS-1123 label: lowercase letters, digits and '-', starting and ending with a letter or digit";
// Kubernetes resource.Quantity, e.g. "500m", "2", "4Gi", "1e3".
const QUANTITY = /^[+-]?(\d+(\.\d*)?|\.\d+)([KMGTPE]i|[numkMGTPE]|[eE][+-]?\d+)?$/;
// ResourceQuota `hard` keys: plain compute names, requests./limits. prefixed, object counts.
const QUOTA_KEY =
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

const stageSchema = z.strictObject({
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
    .default({ rotation: "initial", allowRbac: false, extraRules: [] }),
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
    .default({
      podSecurity: "restricted",
      quota: {
        "requests.cpu": "2",
        "requests.memory": "4Gi",
        "limits.cpu": "4",
        "limits.memory": "8Gi",
        pods: "20",
      },
      containerRequests: { cpu: "100m", memory: "128Mi" },
      containerLimits: { cpu: "500m", memory: "512Mi" },
      isolateNetwork: true,
    }),
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
    .default({ enabled: false, image: DEFAULT_TILLER_IMAGE, historyMax: 10 }),
  releases: z.record(z.string(), releaseSchema).default({}),
  promoteFrom: stackName.optional(),
});

const clusterSchema = z.strictObject({
  name: dnsLabel(63),
  server: z.url({ protocol: /^https$/, error: "must be an https:// URL" }).optional(),
  /** The admin kubeconfig context (all/access modes); default: the current context. */
  context: z.string().min(1).optional(),
});

const stackSchema = z.strictObject({
  mode: z.enum(["all", "access", "delivery"]).default("all"),
  cluster: clusterSchema,
  accessStack: stackName.optional(),
  kubeconfig: z.literal("[secret]").optional(),
  // Each stage is parsed on its own (parseConfig) so that one bad stage hides no other problem.
  stages: z.record(z.string(), z.unknown()),
});

type ParsedTop = z.infer<typeof stackSchema>;
type ParsedStage = z.infer<typeof stageSchema>;
export type Mode = ParsedTop["mode"];
export type ReleaseConfig = z.infer<typeof releaseSchema>;
export type ExtraRule = z.infer<typeof extraRuleSchema>;

/** One stage, with defaults applied and its namespace resolved. */
export type StageConfig = Omit<ParsedStage, "namespace"> & {
  readonly name: string;
  readonly namespace: string;
};

export interface StackConfig {
  readonly mode: Mode;
  readonly cluster: ParsedTop["cluster"];
  readonly accessStack?: string;
  /** The scoped kubeconfig from secret config (delivery mode); never a plain value. */
  readonly kubeconfig?: pulumi.Output<string>;
  readonly stages: readonly StageConfig[];
}

/** Thrown when the stack configuration is invalid; lists every problem with its key path. */
export class ConfigError extends pulumi.RunError {
  constructor(readonly problems: readonly string[]) {
    super(
      `invalid stack configuration (${problems.length} problem${problems.length > 1 ? "s" : ""}):\n` +
        problems.map((p) => `  - ${p}`).join("\n"),
    );
  }
}

const TOP_LEVEL_KEYS = Object.keys(stackSchema.shape);

/** `scoped-cd:stages.prod.guardrails.quota["requests.cpu"]` */
export function keyPath(path: readonly PropertyKey[]): string {
  let out = `${PROJECT}:`;
  path.forEach((seg, i) => {
    if (typeof seg === "number") out += `[${seg}]`;
    else if (String(seg).includes(".")) out += `[${JSON.stringify(String(seg))}]`;
    else out += i === 0 ? String(seg) : `.${String(seg)}`;
  });
  return out;
}

type Problem = [path: PropertyKey[], message: string];

/** Mode-level rules; `mode` is undefined when the mode itself is invalid. */
function modeChecks(raw: Record<string, unknown>, mode: Mode | undefined, stageCount: number) {
  const problems: Problem[] = [];
  if (mode === "delivery") {
    if (raw.accessStack === undefined && raw.kubeconfig === undefined) {
      problems.push([
        ["mode"],
        "delivery mode needs the scoped kubeconfig: set scoped-cd:accessStack or the secret scoped-cd:kubeconfig",
      ]);
    }
    if (raw.accessStack !== undefined && raw.kubeconfig !== undefined) {
      problems.push([
        ["kubeconfig"],
        "set either scoped-cd:accessStack or scoped-cd:kubeconfig, not both",
      ]);
    }
    if (raw.kubeconfig !== undefined && stageCount > 1) {
      problems.push([
        ["kubeconfig"],
        "one kubeconfig serves one stage; this delivery stack declares several (use scoped-cd:accessStack)",
      ]);
    }
  } else if (mode !== undefined) {
    for (const key of ["accessStack", "kubeconfig"] as const) {
      if (raw[key] !== undefined) {
        problems.push([[key], `is read only in delivery mode (mode is ${mode})`]);
      }
    }
  }
  return problems;
}

/** Rules of one stage that need several fields at once (the stage itself parsed). */
function stageChecks(
  stage: string,
  cfg: ParsedStage,
  rawStage: Record<string, unknown>,
  mode: Mode | undefined,
): Problem[] {
  const problems: Problem[] = [];
  const at = (...rest: PropertyKey[]) => ["stages", stage, ...rest];

  for (const key of Object.keys(cfg.guardrails.quota)) {
    if (!QUOTA_KEY.test(key)) {
      problems.push([at("guardrails", "quota", key), "is not a ResourceQuota resource name"]);
    }
  }
  const misplaced =
    mode === "delivery"
      ? {
          keys: ["deletable", "deployer", "guardrails", "tiller"],
          owner: "the access stack; a delivery stack only deploys releases",
        }
      : mode === "access"
        ? {
            keys: ["releases", "promoteFrom"],
            owner: "the delivery stack; an access stack deploys no releases",
          }
        : { keys: [], owner: "" };
  for (const key of misplaced.keys) {
    if (rawStage[key] !== undefined) problems.push([at(key), `belongs to ${misplaced.owner}`]);
  }

  for (const [release, rel] of Object.entries(cfg.releases)) {
    const relAt = (...rest: PropertyKey[]) => at("releases", release, ...rest);
    if (release.length > 53) {
      problems.push([relAt(), "release name must be at most 53 characters (Helm's limit)"]);
    } else if (!DNS1123_LABEL.test(release)) {
      problems.push([relAt(), `release name ${DNS1123_MESSAGE}`]);
    }
    const local = isLocalChart(rel.chart);
    if (local && rel.repo) {
      problems.push([relAt("repo"), "is set, but chart is a local path; drop one of them"]);
    }
    if (!local && !rel.repo) {
      problems.push([relAt("chart"), "is not a local path (./...) and no repo is set"]);
    }
    if (cfg.promoteFrom && rel.version) {
      problems.push([
        relAt("version"),
        `is pinned, but the stage promotes from ${cfg.promoteFrom}; set one of them`,
      ]);
    }
    if (!cfg.promoteFrom && !local && !rel.version) {
      problems.push([relAt("version"), "is required for a repository chart (pin what you deploy)"]);
    }
  }
  return problems;
}

/** Stage names and namespaces across stages (checked on the raw input, so always run). */
function namespaceChecks(rawStages: Record<string, unknown>): Problem[] {
  const problems: Problem[] = [];
  const seen = new Map<string, string>();
  for (const [stage, rawStage] of Object.entries(rawStages)) {
    if (!DNS1123_LABEL.test(stage) || stage.length > 30) {
      problems.push([["stages", stage], `stage name ${DNS1123_MESSAGE}, at most 30 characters`]);
    }
    const explicit = isRecord(rawStage) ? rawStage.namespace : undefined;
    if (explicit !== undefined && typeof explicit !== "string") continue; // the schema reports it
    const namespace = explicit ?? stage;
    const nsKey = explicit !== undefined ? ["stages", stage, "namespace"] : ["stages", stage];
    if (namespace === "default" || namespace.startsWith("kube-")) {
      problems.push([
        nsKey,
        `namespace ${namespace} is reserved; choose a namespace of the stage's own`,
      ]);
    } else if (seen.has(namespace)) {
      problems.push([
        nsKey,
        `namespace ${namespace} is already used by stage ${seen.get(namespace)}`,
      ]);
    }
    seen.set(namespace, stage);
  }
  return problems;
}

/** A plain object (not null, not an array). */
export const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

export function isLocalChart(chart: string): boolean {
  return chart.startsWith("./") || chart.startsWith("../") || chart.startsWith("/");
}

/**
 * Validate raw configuration (keys without the `scoped-cd:` prefix; objects already parsed).
 * Returns the typed config, or every problem with its key path.
 */
export function parseConfig(
  raw: Record<string, unknown>,
  kubeconfig?: pulumi.Output<string>,
): { config: StackConfig; problems: [] } | { config?: undefined; problems: string[] } {
  const problems: string[] = [];
  const top = stackSchema.safeParse(raw, { reportInput: true });
  if (!top.success) problems.push(...top.error.issues.flatMap((i) => formatIssue(i, [])));
  const mode = top.success ? top.data.mode : undefined;

  const rawStages = isRecord(raw.stages) ? raw.stages : {};
  const stages: StageConfig[] = [];
  const structural: Problem[] = [...modeChecks(raw, mode, Object.keys(rawStages).length)];
  if (isRecord(raw.stages) && Object.keys(rawStages).length === 0) {
    structural.push([["stages"], "must declare at least one stage"]);
  }
  structural.push(...namespaceChecks(rawStages));
  for (const [name, rawStage] of Object.entries(rawStages)) {
    const parsed = stageSchema.safeParse(rawStage, { reportInput: true });
    if (!parsed.success) {
      problems.push(...parsed.error.issues.flatMap((i) => formatIssue(i, ["stages", name])));
      continue;
    }
    structural.push(...stageChecks(name, parsed.data, rawStage as Record<string, unknown>, mode));
    stages.push({ ...parsed.data, name, namespace: parsed.data.namespace ?? name });
  }
  problems.push(...structural.map(([path, msg]) => `${keyPath(path)}: ${msg}`));

  if (problems.length > 0 || !top.success) return { problems: [...new Set(problems)] };
  return {
    problems: [],
    config: {
      mode: top.data.mode,
      cluster: top.data.cluster,
      accessStack: top.data.accessStack,
      kubeconfig,
      stages,
    },
  };
}

function formatIssue(issue: z.core.$ZodIssue, prefix: PropertyKey[]): string[] {
  const path = [...prefix, ...issue.path];
  if (issue.code === "unrecognized_keys") {
    return issue.keys.map((k) => `${keyPath([...path, k])}: unknown key`);
  }
  return [`${path.length > 0 ? keyPath(path) : `${PROJECT}:<root>`}: ${describeIssue(issue)}`];
}

function describeIssue(issue: z.core.$ZodIssue): string {
  if (issue.code === "invalid_type" && issue.input === undefined) return "is required";
  if (issue.code === "invalid_type")
    return `must be ${TYPE_NAMES[issue.expected] ?? article(issue.expected)}`;
  if (issue.code === "invalid_value") {
    return `must be one of ${issue.values.map((v) => JSON.stringify(v)).join(", ")}`;
  }
  return issue.message;
}

const TYPE_NAMES: Record<string, string> = { record: "a map", object: "a map", array: "a list" };
const article = (t: string) => (/^[aeiou]/.test(t) ? `an ${t}` : `a ${t}`);

/**
 * Read the `scoped-cd:` namespace of the stack's configuration. Objects arrive as JSON text;
 * scalars as plain strings. The secret kubeconfig is only checked for presence here.
 */
export function readRawConfig(): Record<string, unknown> {
  const raw: Record<string, unknown> = {};
  const prefix = `${PROJECT}:`;
  for (const [fullKey, text] of Object.entries(pulumi.runtime.allConfig())) {
    if (!fullKey.startsWith(prefix)) continue;
    const key = fullKey.slice(prefix.length);
    if (key === "kubeconfig") {
      raw[key] = "[secret]";
    } else if (TOP_LEVEL_KEYS.includes(key) && key !== "mode" && key !== "accessStack") {
      raw[key] = parseJson(text);
    } else {
      raw[key] = text;
    }
  }
  return raw;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text; // a scalar where an object belongs: the schema reports the wrong type
  }
}

/** Read and validate the stack's configuration, or throw a ConfigError listing every problem. */
export function loadConfig(): StackConfig {
  const raw = readRawConfig();
  const kubeconfig =
    raw.kubeconfig !== undefined
      ? new pulumi.Config(PROJECT).requireSecret("kubeconfig")
      : undefined;
  const { config, problems } = parseConfig(raw, kubeconfig);
  if (!config) throw new ConfigError(problems);
  return config;
}
