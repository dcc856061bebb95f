// The stack configuration contract (docs/configuration.md "Keys"): every `scoped-cd:` key, its type
// and its default, written once. Cross-field rules live in rules.ts; reading from the engine in
// load.ts.
import { z } from "zod";
import { deployerSchema } from "./deployer";
import { guardrailsSchema } from "./guardrails";
import { tillerSchema } from "./tiller";
import { DNS1123_LABEL, DNS1123_MESSAGE, dnsLabel, QUOTA_KEY, stackName } from "./primitives";

export { DNS1123_LABEL, DNS1123_MESSAGE, QUOTA_KEY };
export type { CredentialConfig, DeployerConfig, ExtraRule, OidcConfig } from "./deployer";
export type { GuardrailsConfig } from "./guardrails";
export type { TillerConfig, TillerMode } from "./tiller";
export { DEFAULT_TILLER_IMAGE, TILLER_MODES } from "./tiller";

export const PROJECT = "scoped-cd";

const releaseSchema = z.strictObject({
  /** A local chart directory (`./charts/x`) or a chart name in `repo`. */
  chart: z.string().min(1, "must not be empty"),
  repo: z.url({ protocol: /^(https?|oci)$/, error: "must be an http(s) or oci URL" }).optional(),
  version: z.string().min(1, "must not be empty").optional(),
  values: z.record(z.string(), z.unknown()).default({}),
  /** Seconds Helm waits for the release's objects to become ready. */
  timeoutSeconds: z.number().int().positive().max(3600).default(300),
});

/**
 * `stages.<stage>.inventory`: objects `verify` and `drift` expect in the namespace although no
 * release and not the access layer manages them (policy/inventory.ts). By kind and exact name, so
 * an acknowledgement silences exactly one object.
 */
const inventorySchema = z
  .strictObject({
    acknowledge: z
      .array(
        z.strictObject({
          kind: z
            .string()
            .regex(/^[A-Z][A-Za-z0-9]*$/, "must be a Kubernetes kind such as ConfigMap"),
          name: z
            .string()
            .regex(
              /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/,
              "must be an object name (lowercase letters, digits, '-' and '.')",
            )
            .max(253, "must be at most 253 characters"),
        }),
      )
      .refine(
        (l) => new Set(l.map((a) => `${a.kind}/${a.name}`)).size === l.length,
        "must not repeat an entry",
      )
      .default([]),
  })
  .prefault({});

export const stageSchema = z.strictObject({
  namespace: dnsLabel(63).optional(),
  deletable: z.boolean().default(false),
  deployer: deployerSchema,
  guardrails: guardrailsSchema,
  tiller: tillerSchema,
  releases: z.record(z.string(), releaseSchema).default({}),
  promoteFrom: stackName.optional(),
  inventory: inventorySchema,
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

/** A repository given as an OCI registry location (`oci://host[:port]/path`). */
export function isOciRepo(repo: string | undefined): repo is string {
  return repo !== undefined && repo.startsWith("oci://");
}

/**
 * An exact chart version (SemVer 2, optional leading v): what an OCI tag names. Helm would also
 * take a range (`^1.4`) and pick the newest matching tag, which is not a pin.
 */
export const EXACT_CHART_VERSION = /^v?\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$/;
