// Promotion: a stage with `promoteFrom: <stack>` deploys exactly the chart version that the
// same-named release has in that stack's `stages` output. The gate fails the preview otherwise.
import * as fs from "node:fs";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import * as yaml from "js-yaml";
import { isLocalChart, isRecord, ReleaseConfig } from "../../config";
import { chartReference, localChartDir } from "./charts";

export interface Promotion {
  /** The upstream stack's name, as given in `promoteFrom`. */
  readonly stack: string;
  /** The upstream stack's `stages` output. */
  readonly stages: pulumi.Output<unknown>;
}

/** What a promoted release is deployed from. */
export interface PromotedVersion {
  readonly version: string;
  readonly revision: number;
}

/**
 * The gate: find `release` in the upstream `stages` output and check it may be promoted.
 * Throws an Error naming stack, stage and release when it may not.
 */
export function promotionGate(
  upstreamStages: unknown,
  stack: string,
  stage: string,
  release: string,
  chart: string,
): PromotedVersion {
  const where = `promotion of release ${release} (stage ${stage}) from stack ${stack}`;
  const found = Object.entries(isRecord(upstreamStages) ? upstreamStages : {}).flatMap(
    ([upstreamStage, s]) => {
      const releases = isRecord(s) && isRecord(s.releases) ? s.releases : {};
      const r = releases[release];
      return isRecord(r) ? [{ upstreamStage, r }] : [];
    },
  );
  if (found.length === 0) {
    throw new Error(`${where}: stack ${stack} has no release ${release} in its stages output`);
  }
  if (found.length > 1) {
    const stages = found.map((f) => f.upstreamStage).join(", ");
    throw new Error(
      `${where}: stack ${stack} has release ${release} in several stages (${stages})`,
    );
  }
  const { upstreamStage, r } = found[0];
  if (r.status !== "deployed") {
    throw new Error(
      `${where}: upstream release in stage ${upstreamStage} is ${JSON.stringify(r.status ?? "unknown")}, not "deployed"`,
    );
  }
  if (r.chart !== chart) {
    throw new Error(
      `${where}: upstream release uses chart ${String(r.chart)}, this stage ${chart}`,
    );
  }
  if (typeof r.version !== "string" || r.version === "") {
    throw new Error(`${where}: upstream release records no chart version`);
  }
  return { version: r.version, revision: typeof r.revision === "number" ? r.revision : 0 };
}

/** A local chart's version from its Chart.yaml (relative paths resolve from the project). */
export function localChartVersion(chart: string): string {
  const file = path.join(localChartDir(chart), "Chart.yaml");
  const doc = yaml.load(fs.readFileSync(file, "utf8"));
  const version = isRecord(doc) ? doc.version : undefined;
  if (typeof version !== "string") throw new Error(`${file} has no version`);
  return version;
}

export interface ReleaseSource {
  readonly version: pulumi.Input<string | undefined>;
  readonly description: pulumi.Input<string | undefined>;
  readonly promotedFrom: pulumi.Input<{ stack: string; revision: number } | undefined>;
}

/** The version a release deploys and its provenance; runs the gate when promoting. */
export function resolvePromotion(
  stage: string,
  release: string,
  cfg: ReleaseConfig,
  promotion: Promotion | undefined,
  parent: pulumi.Resource,
): ReleaseSource {
  if (!promotion) {
    return { version: cfg.version, description: undefined, promotedFrom: undefined };
  }
  const promoted = promotion.stages.apply((stages) => {
    try {
      // The full reference: an OCI chart promotes only from the same registry and repository.
      const up = promotionGate(stages, promotion.stack, stage, release, chartReference(cfg));
      // A local chart cannot be pinned by version: check the directory holds what passed upstream.
      if (isLocalChart(cfg.chart) && localChartVersion(cfg.chart) !== up.version) {
        throw new Error(
          `promotion of release ${release} (stage ${stage}) from stack ${promotion.stack}: local chart ${cfg.chart} is at version ${localChartVersion(cfg.chart)}, stack ${promotion.stack} deployed ${up.version}`,
        );
      }
      return up;
    } catch (err) {
      throw new pulumi.ResourceError((err as Error).message, parent);
    }
  });
  return {
    version: promoted.version,
    description: pulumi.interpolate`promoted from ${promotion.stack} revision ${promoted.revision}`,
    promotedFrom: promoted.apply((p) => ({ stack: promotion.stack, revision: p.revision })),
  };
}
