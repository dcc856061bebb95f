// The stack outputs contract: what `pulumi stack output` gives the CLI, Jenkins and downstream
// stacks (promotion, delivery). Plain types only, so the CLI can import them without the components.

/** What the `stages` output says of one Helm release. */
export interface ReleaseSummary {
  chart: string;
  version: string;
  status: string;
  revision: number;
  promotedFrom?: { stack: string; revision: number };
}

/** The `stages` output entry of one stage (plain, never secret). */
export interface StageSummary {
  namespace: string;
  serviceAccount: string | null;
  rotation: string | null;
  /** `enabled` is null in a delivery stack that does not know its access stack. */
  tiller: { enabled: boolean | null; namespace: string | null };
  releases: Record<string, ReleaseSummary>;
}

/** The stack's outputs as values (`kubeconfigs` is a secret output: only with --show-secrets). */
export interface StackOutputValues {
  /** Stage name -> scoped kubeconfig YAML. Absent in delivery mode. */
  readonly kubeconfigs?: Record<string, string>;
  /** Stage name -> summary. */
  readonly stages: Record<string, StageSummary>;
}

/** Names of the stack outputs, as `index.ts` exports them. */
export const OUTPUT_NAMES = { kubeconfigs: "kubeconfigs", stages: "stages" } as const;
