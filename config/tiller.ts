// `stages.<stage>.tiller`: Helm v2's server side, for teams whose jobs still call Helm v2.
import { z } from "zod";

/** Helm v2's last release; pinned so an upstream retag cannot change what runs. */
export const DEFAULT_TILLER_IMAGE = "ghcr.io/helm/tiller:v2.17.0";

/**
 * Where Tiller runs. `local`: started by `scoped-cd helm2` next to the Helm v2 client for one
 * command, as the deployer (no Tiller identity in the cluster). `cluster`: a Deployment with a
 * ServiceAccount of its own, reached through port-forward.
 */
export const TILLER_MODES = ["local", "cluster"] as const;
export type TillerMode = (typeof TILLER_MODES)[number];

export const tillerSchema = z
  .strictObject({
    enabled: z.boolean().default(false),
    // `cluster` stays the default so that an existing stack with `enabled: true` keeps the Tiller
    // its jobs port-forward to; docs/tiller.md recommends (and the sample stacks set) `local`.
    mode: z.enum(TILLER_MODES).default("cluster"),
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
  .superRefine((t, ctx) => {
    // The image is what the cluster runs; a local Tiller is whatever `tiller` binary is on PATH.
    if (t.mode === "local" && t.image !== DEFAULT_TILLER_IMAGE) {
      ctx.addIssue({
        code: "custom",
        path: ["image"],
        message:
          "applies only to mode cluster; a local Tiller is the tiller binary on the CI machine's PATH",
      });
    }
  })
  .prefault({});

export type TillerConfig = z.infer<typeof tillerSchema>;
