// `stages.<stage>.guardrails`: what closes the stage namespace beyond RBAC.
import { z } from "zod";
import {
  annotationPatternAdmits,
  DEFAULT_INGRESS_ANNOTATIONS,
  HOST_PATTERN,
  INJECTION_ANNOTATION_KEYS,
  isInjectionAnnotation,
  KNOWN_SNIPPET_KEYS,
  SERVICE_TYPES,
} from "../policy/admission";
import { cidrContains, METADATA_ADDRESSES, parseCidr } from "../policy/egress";
import { DEFAULT_QUOTA } from "../policy/quota";
import { DNS1123_LABEL, DNS1123_MESSAGE, quantity } from "./primitives";

/**
 * LimitRange defaults for containers that declare none of their own. `ephemeralStorage` (the
 * container's writable layer, logs and emptyDir use) has a default of its own, so a stage that set
 * only cpu and memory before still gets one: a container without a limit could fill its node's disk.
 */
const containerDefaults = (d: { cpu: string; memory: string; ephemeralStorage: string }) =>
  z
    .strictObject({
      cpu: quantity.default(d.cpu),
      memory: quantity.default(d.memory),
      ephemeralStorage: quantity.default(d.ephemeralStorage),
    })
    .prefault({});

/** Defaults written once (docs/configuration.md "Keys", policy/quota.ts bounds their sum). */
export const CONTAINER_REQUEST_DEFAULTS = {
  cpu: "100m",
  memory: "128Mi",
  ephemeralStorage: "128Mi",
};
export const CONTAINER_LIMIT_DEFAULTS = { cpu: "500m", memory: "512Mi", ephemeralStorage: "1Gi" };

const uniqueList = <T extends z.ZodTypeAny>(item: T) =>
  z.array(item).refine((l) => new Set(l).size === l.length, "must not repeat an entry");

const hostPattern = z
  .string()
  .regex(
    HOST_PATTERN,
    "must be a lowercase DNS name, optionally starting with '*.' followed by at least two labels (e.g. *.test.example.com)",
  );

const annotationPattern = z
  .string()
  .min(1, "must not be empty")
  .refine(
    (p) =>
      !isInjectionAnnotation(p) &&
      ![...INJECTION_ANNOTATION_KEYS, ...KNOWN_SNIPPET_KEYS].some((k) =>
        annotationPatternAdmits(p, k),
      ),
    "admits a configuration-injection annotation family (snippets, server-alias, auth-url, …); list safe annotations one by one",
  );

const cidr = z.string().superRefine((c, ctx) => {
  const parsed = parseCidr(c);
  if ("error" in parsed) ctx.addIssue({ code: "custom", message: parsed.error });
  else if (METADATA_ADDRESSES.some((m) => cidrContains(m, c))) {
    ctx.addIssue({
      code: "custom",
      message: `is the cloud metadata address (${METADATA_ADDRESSES.join(", ")}), which stage pods never reach`,
    });
  }
});

const egressAllow = z.strictObject({
  cidr,
  ports: z
    .array(
      z.strictObject({
        port: z.number().int().min(1).max(65535),
        protocol: z.enum(["TCP", "UDP", "SCTP"]).default("TCP"),
      }),
    )
    .optional(),
});

export const guardrailsSchema = z
  .strictObject({
    podSecurity: z.enum(["restricted", "baseline"]).default("restricted"),
    /** Overrides per key over the defaults (policy/quota.ts); keys cannot be removed. */
    quota: z
      .record(z.string(), quantity)
      .default({})
      .transform((q) => ({ ...DEFAULT_QUOTA, ...q })),
    /** LimitRange defaults for containers that set no requests/limits of their own. */
    containerRequests: containerDefaults(CONTAINER_REQUEST_DEFAULTS),
    containerLimits: containerDefaults(CONTAINER_LIMIT_DEFAULTS),
    isolateNetwork: z.boolean().default(true),
    services: z
      .strictObject({
        /** Service types besides ClusterIP the stage may create. */
        allowTypes: uniqueList(z.enum(SERVICE_TYPES)).default([]),
      })
      .prefault({}),
    ingress: z
      .strictObject({
        allowHosts: uniqueList(hostPattern).default([]),
        allowClasses: uniqueList(z.string().regex(DNS1123_LABEL, DNS1123_MESSAGE)).default([]),
        allowAnnotations: uniqueList(annotationPattern).default(DEFAULT_INGRESS_ANNOTATIONS),
      })
      .prefault({}),
    workloads: z
      .strictObject({
        allowPriorityClasses: uniqueList(
          z
            .string()
            .regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, "must be a PriorityClass name")
            .refine((n) => !n.startsWith("system-"), "system-* priority classes are never allowed"),
        ).default([]),
      })
      .prefault({}),
    disruptionBudgets: z
      .strictObject({ allowMinAvailable: z.boolean().default(false) })
      .prefault({}),
    gateway: z
      .strictObject({
        /** Gateways (`namespace/name`) the stage's HTTPRoutes, GRPCRoutes and TLSRoutes may attach to. */
        allowParents: uniqueList(
          z
            .string()
            .regex(
              /^[a-z0-9]([-a-z0-9]*[a-z0-9])?\/[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/,
              "must be namespace/name of a Gateway",
            ),
        ).default([]),
        allowHosts: uniqueList(hostPattern).default([]),
      })
      .prefault({}),
    egress: z
      .strictObject({
        isolate: z.boolean().default(true),
        allow: z.array(egressAllow).default([]),
      })
      .prefault({}),
  })
  .prefault({});

export type GuardrailsConfig = z.infer<typeof guardrailsSchema>;
