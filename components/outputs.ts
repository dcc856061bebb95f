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

/** What the `stages` output says of a stage's deployer credential (plain: no secret in it). */
export interface CredentialSummary {
  kind: "token" | "oidc" | "legacy" | "external";
  /** RFC 3339 expiry of the current expiring token; null for oidc (per build) and legacy. */
  expiresAt: string | null;
  /** `JTI=<jti>` of the current token (audit's authentication.kubernetes.io/credential-id). */
  credentialId: string | null;
  /** `verify` warns when the token expires within this many seconds; null unless `token`. */
  expiryWarningSeconds: number | null;
  /**
   * OIDC: the usernames builds get (`oidc:<job>#<build number>`), as the audit log names them
   * (`scoped-cd audit --build <job>#<n>`); token kinds are found by credentialId.
   */
  auditUsers?: string[];
  /** External kind: the user and groups the Role is bound to (verify checks the identity is it). */
  external?: { user: string | null; groups: string[] };
}

/** What the `stages` output says of a stage's Tiller (Helm v2). */
export interface TillerSummary {
  enabled: boolean | null;
  namespace: string | null;
  /**
   * `local` (no Tiller in the cluster; `scoped-cd helm2` starts one) or `cluster`; null when
   * disabled or unknown. Absent in outputs written before the mode existed (they mean `cluster`).
   */
  mode?: "local" | "cluster" | null;
  /** Release revisions Tiller keeps (`scoped-cd helm2` passes it to a local Tiller). */
  historyMax?: number | null;
  /** The in-cluster Tiller's ServiceAccount (`tiller-<suffix>`); null otherwise. */
  serviceAccount?: string | null;
}

/** The `stages` output entry of one stage (plain, never secret). */
export interface StageSummary {
  namespace: string;
  serviceAccount: string | null;
  rotation: string | null;
  /** Null in a delivery stack that does not know its access stack. */
  credential?: CredentialSummary | null;
  /** `enabled` is null in a delivery stack that does not know its access stack. */
  tiller: TillerSummary;
  releases: Record<string, ReleaseSummary>;
  /**
   * Objects `verify` and `drift` expect in the namespace besides the releases' and the access
   * layer's (`stages.<stage>.inventory.acknowledge`). Absent in outputs written before it existed.
   */
  inventory?: { acknowledge: { kind: string; name: string }[] };
  /**
   * What the stage's config allows on purpose, as `verify --attacks` needs it (matching attempts
   * are "allowed by config"). From the access stack; absent in outputs written before it existed.
   */
  allowances?: {
    serviceTypes: string[];
    allowMinAvailable: boolean;
    allowRbac: boolean;
    /** The deployer holds pods/portforward (an in-cluster Tiller). */
    tillerPortForward: boolean;
    /**
     * guardrails.ingress.allowHosts and gateway.allowParents / allowHosts (absent in outputs
     * written before them): verify --attacks breaks one rule at a time with them.
     */
    ingressHosts?: string[];
    gatewayParents?: string[];
    gatewayHosts?: string[];
  } | null;
}

/** The stack's outputs as values (`kubeconfigs` is a secret output: only with --show-secrets). */
export interface StackOutputValues {
  /** Stage name -> scoped kubeconfig YAML. Absent in delivery mode. */
  readonly kubeconfigs?: Record<string, string>;
  /** Stage name -> summary. */
  readonly stages: Record<string, StageSummary>;
  /**
   * The API server's AuthenticationConfiguration (apiserver.config.k8s.io/v1) with one JWT
   * authenticator per stage whose credential is `oidc`; absent otherwise. Plain: it holds no secret.
   */
  readonly authentication?: Record<string, unknown>;
}

/** Names of the stack outputs, as `index.ts` exports them. */
export const OUTPUT_NAMES = {
  kubeconfigs: "kubeconfigs",
  stages: "stages",
  authentication: "authentication",
} as const;
