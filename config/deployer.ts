// `stages.<stage>.deployer`: the stage's deployer identity, its rotation and its Role's extras.
import { z } from "zod";
import {
  ALL_CLASSES,
  clusterScopedResources,
  EscalationClass,
  escalationClasses,
  UNACKNOWLEDGEABLE,
} from "../policy/rbac";

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

export const deployerSchema = z
  .strictObject({
    rotation: z
      .string()
      .regex(/^[A-Za-z0-9._-]{1,63}$/, "must be 1-63 letters, digits, '.', '_' or '-'")
      .default("initial"),
    allowRbac: z.boolean().default(false),
    extraRules: z.array(extraRuleSchema).default([]),
  })
  .prefault({});

export type ExtraRule = z.infer<typeof extraRuleSchema>;
export type DeployerConfig = z.infer<typeof deployerSchema>;
