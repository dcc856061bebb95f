// `stages.<stage>.guardrails`: what closes the stage namespace beyond RBAC.
import { z } from "zod";
import { quantity } from "./primitives";

const containerDefaults = z.strictObject({
  cpu: quantity,
  memory: quantity,
});

export const guardrailsSchema = z
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
  .prefault({});

export type GuardrailsConfig = z.infer<typeof guardrailsSchema>;
