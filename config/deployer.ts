// `stages.<stage>.deployer`: the stage's deployer identity, its rotation and its Role's extras.
import { z } from "zod";
import {
  ALL_CLASSES,
  clusterScopedResources,
  EscalationClass,
  escalationClasses,
  UNACKNOWLEDGEABLE,
} from "../policy/rbac";
import {
  CREDENTIAL_KINDS,
  DEFAULT_ID_TOKEN_LIFETIME_SECONDS,
  MIN_TOKEN_LIFETIME_SECONDS,
  parseBuild,
  RESERVED_IDENTITY_PREFIXES,
} from "../policy/credentials";

export const extraRuleSchema = z
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

/** Defaults of the expiring token, written once (applied only when the kind is `token`). */
export const TOKEN_DEFAULTS = {
  lifetimeSeconds: 86400,
  renewAfter: 0.5,
  expiryWarningSeconds: 3600,
} as const;

const TOKEN_KEYS = Object.keys(TOKEN_DEFAULTS) as (keyof typeof TOKEN_DEFAULTS)[];

const instant = z.iso.datetime({
  offset: true,
  error: "must be an RFC 3339 time such as 2026-12-02T13:00:00Z",
});

/** One `scoped-cd revoke` entry: a build's tokens, or every token issued before a time. */
const revocationSchema = z.union(
  [
    z.strictObject({
      build: z
        .string()
        .refine((b) => parseBuild(b) !== undefined, "must be <job URL>#<build number>"),
      /** When it was revoked: the entry expires one token lifetime later. */
      at: instant,
    }),
    z.strictObject({ issuedBefore: instant }),
  ],
  { error: "must be {build, at} or {issuedBefore}" },
);

const oidcSchema = z
  .strictObject({
    /** The CI's issuer (`iss`), as the API server fetches its discovery document. */
    issuer: z.url({ protocol: /^https$/, error: "must be an https:// URL" }),
    /** The audience the CI requests for the ID token (`aud`). */
    audience: z.string().min(1, "must not be empty"),
    /** Accepted `sub` claims: for Jenkins' OpenID Connect Provider plugin, the job URLs. */
    jobs: z.array(z.string().min(1, "must not be empty")).min(1, "must list at least one job"),
    /** When set, the ID token's `branch` claim must be one of these. */
    branches: z
      .array(z.string().min(1, "must not be empty"))
      .min(1, "must list at least one branch")
      .optional(),
    /** PEM of the CA that signs the issuer's serving certificate (when not publicly trusted). */
    certificateAuthority: z
      .string()
      .refine((s) => s.includes("-----BEGIN CERTIFICATE-----"), "must be a PEM certificate")
      .optional(),
    /** The longest an ID token of the CI lives (Jenkins' plugin: one hour); revocations expire after it. */
    tokenLifetimeSeconds: z
      .number()
      .int("must be a whole number of seconds")
      .positive("must be positive")
      .default(DEFAULT_ID_TOKEN_LIFETIME_SECONDS),
    /** Revocations `scoped-cd revoke` recorded; expired ones are ignored and dropped by the next revoke. */
    revoked: z.array(revocationSchema).default([]),
  })
  .superRefine((o, ctx) => {
    o.revoked.forEach((r, i) => {
      const b = "build" in r ? parseBuild(r.build) : undefined;
      if (b && !o.jobs.includes(b.job)) {
        ctx.addIssue({
          code: "custom",
          path: ["revoked", i, "build"],
          message: `names job ${b.job}, which is not in jobs`,
        });
      }
    });
  });

const identityName = z
  .string()
  .min(1, "must not be empty")
  .refine(
    (n) => !RESERVED_IDENTITY_PREFIXES.some((p) => n.startsWith(p)),
    `must not start with ${RESERVED_IDENTITY_PREFIXES.join(" or ")} (the cluster's own and the OIDC kind's names)`,
  );

const externalSchema = z
  .strictObject({
    /** The Kubernetes user the cluster's authenticator maps the CI's cloud identity to. */
    user: identityName.optional(),
    /** Groups it maps it to; the Role is bound to each. */
    groups: z.array(identityName).min(1, "must list at least one group").optional(),
    /** The exec credential plugin the exported kubeconfig runs (it holds no secret). */
    exec: z.strictObject({
      command: z.string().min(1, "must not be empty"),
      args: z.array(z.string()).default([]),
      /** Names of environment variables the plugin reads on the agent (never their values). */
      env: z
        .array(
          z
            .string()
            .regex(
              /^[A-Za-z_][A-Za-z0-9_]*$/,
              "must be an environment variable name (no =value: the kubeconfig holds no value)",
            ),
        )
        .default([]),
      apiVersion: z
        .enum(["client.authentication.k8s.io/v1", "client.authentication.k8s.io/v1beta1"])
        .default("client.authentication.k8s.io/v1"),
    }),
  })
  .superRefine((e, ctx) => {
    if (e.user === undefined && e.groups === undefined) {
      ctx.addIssue({ code: "custom", message: "must name a user or groups (or both)" });
    }
  });

export const credentialSchema = z
  .strictObject({
    kind: z.enum(CREDENTIAL_KINDS).default("token"),
    lifetimeSeconds: z
      .number()
      .int("must be a whole number of seconds")
      .min(
        MIN_TOKEN_LIFETIME_SECONDS,
        `must be at least ${MIN_TOKEN_LIFETIME_SECONDS} (the TokenRequest API's minimum)`,
      )
      .max(31536000, "must be at most 31536000 (one year)")
      .optional(),
    renewAfter: z
      .number()
      .gt(0, "must be a share of the lifetime, greater than 0")
      .lt(1, "must be a share of the lifetime, less than 1 (renew before it expires)")
      .optional(),
    expiryWarningSeconds: z.number().int("must be a whole number of seconds").min(0).optional(),
    oidc: oidcSchema.optional(),
    external: externalSchema.optional(),
  })
  .superRefine((c, ctx) => {
    if (c.kind !== "token") {
      for (const key of TOKEN_KEYS) {
        if (c[key] !== undefined) {
          ctx.addIssue({
            code: "custom",
            path: [key],
            message: `is read only when kind is token (kind is ${c.kind})`,
          });
        }
      }
    }
    // Each kind's own block: required with its kind, refused with another.
    for (const [kind, what] of [
      ["oidc", "issuer, audience, jobs"],
      ["external", "user and/or groups, exec"],
    ] as const) {
      if (c.kind === kind && c[kind] === undefined) {
        ctx.addIssue({
          code: "custom",
          path: [kind],
          message: `is required when kind is ${kind} (${what})`,
        });
      }
      if (c.kind !== kind && c[kind] !== undefined) {
        ctx.addIssue({
          code: "custom",
          path: [kind],
          message: `is read only when kind is ${kind} (kind is ${c.kind})`,
        });
      }
    }
    if (
      c.kind === "token" &&
      c.expiryWarningSeconds !== undefined &&
      c.expiryWarningSeconds >= (c.lifetimeSeconds ?? TOKEN_DEFAULTS.lifetimeSeconds)
    ) {
      ctx.addIssue({
        code: "custom",
        path: ["expiryWarningSeconds"],
        message: "must be shorter than lifetimeSeconds (verify would always warn)",
      });
    }
  })
  .transform((c) => (c.kind === "token" ? { ...TOKEN_DEFAULTS, ...stripUndefined(c) } : c))
  .prefault({});

function stripUndefined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

export const deployerSchema = z
  .strictObject({
    rotation: z
      .string()
      .regex(/^[A-Za-z0-9._-]{1,63}$/, "must be 1-63 letters, digits, '.', '_' or '-'")
      .default("initial"),
    allowRbac: z.boolean().default(false),
    extraRules: z.array(extraRuleSchema).default([]),
    /** The deployer's credential: an expiring token (default), keyless OIDC, or a legacy token. */
    credential: credentialSchema,
  })
  .prefault({});

export type ExtraRule = z.infer<typeof extraRuleSchema>;
export type CredentialConfig = z.infer<typeof credentialSchema>;
export type OidcConfig = z.infer<typeof oidcSchema>;
export type DeployerConfig = z.infer<typeof deployerSchema>;
