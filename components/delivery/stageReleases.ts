import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { ReleaseConfig } from "../../config";
import { chartReference, providerChart } from "./charts";
import { ReleaseSummary } from "../outputs";
import { Promotion, resolvePromotion } from "./promotion";

export interface StageReleasesArgs {
  /** The stage whose releases these are. */
  readonly stage: string;
  /** The stage namespace; every release goes there. */
  readonly namespace: pulumi.Input<string>;
  /** The scoped kubeconfig YAML (secret); the only credential releases are deployed with. */
  readonly kubeconfig: pulumi.Input<string>;
  /**
   * Stable identity of the scoped provider. The kubeconfig changes on every token rotation; with
   * a fixed identifier that is a provider update, so the releases are not replaced.
   */
  readonly clusterIdentifier: string;
  /** Releases by Helm release name. */
  readonly releases: Readonly<Record<string, ReleaseConfig>>;
  /** When set, chart versions come from the upstream stack (see promotion.ts). */
  readonly promotion?: Promotion;
  /** Objects that must exist before the first release (RBAC grants, guardrails). */
  readonly dependsOn?: pulumi.Input<pulumi.Resource>[];
}

/** The stage's Helm releases, deployed through an explicit provider built from the scoped kubeconfig. */
export class StageReleases extends pulumi.ComponentResource {
  public readonly provider: k8s.Provider;
  public readonly releases: Record<string, k8s.helm.v3.Release> = {};
  public readonly summary: pulumi.Output<Record<string, ReleaseSummary>>;

  constructor(name: string, args: StageReleasesArgs, opts?: pulumi.ComponentResourceOptions) {
    super("scoped-cd:delivery:StageReleases", name, {}, opts);

    // The kubeconfig input is not marked secret by the provider's schema: wrap it.
    this.provider = new k8s.Provider(
      `${name}-scoped`,
      {
        kubeconfig: pulumi.secret(args.kubeconfig),
        namespace: args.namespace,
        clusterIdentifier: args.clusterIdentifier,
      },
      { parent: this, dependsOn: args.dependsOn },
    );

    const summaries: Record<string, pulumi.Output<ReleaseSummary>> = {};
    for (const [release, cfg] of Object.entries(args.releases)) {
      const source = resolvePromotion(args.stage, release, cfg, args.promotion, this);
      const helmRelease = new k8s.helm.v3.Release(
        `${name}-${release}`,
        {
          name: release,
          ...providerChart(cfg),
          version: source.version,
          namespace: args.namespace,
          createNamespace: false,
          values: cfg.values,
          description: source.description,
          // A failed upgrade rolls back, so what was deployed before stays.
          atomic: true,
          cleanupOnFail: true,
          timeout: cfg.timeoutSeconds,
          maxHistory: 10,
        },
        { parent: this, provider: this.provider },
      );
      this.releases[release] = helmRelease;
      summaries[release] = pulumi
        .all([helmRelease.status, source.promotedFrom])
        .apply(([status, promotedFrom]) => ({
          chart: chartReference(cfg),
          version: status.version ?? "",
          status: status.status,
          revision: status.revision ?? 0,
          ...(promotedFrom ? { promotedFrom } : {}),
        }));
    }
    this.summary = pulumi.output(summaries);

    this.registerOutputs({ summary: this.summary });
  }
}
