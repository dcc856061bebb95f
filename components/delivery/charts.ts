// Where charts come from. Local chart paths: in config they are relative to the project (where Pulumi.yaml is); the
// engine runs the program and its providers in the directory of `main` (bin/), so they must be
// translated. Kept relative, so the state is the same in every checkout (CI workspaces differ).
import * as fs from "node:fs";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { isLocalChart, isOciRepo } from "../../config";

function projectRoot(): string {
  const root = pulumi.runtime.getRootDirectory();
  // Outside the engine (unit tests under mocks) there is no real root: they run from the project.
  return path.isAbsolute(root) && fs.existsSync(path.join(root, "Pulumi.yaml"))
    ? root
    : process.cwd();
}

/** The absolute directory of a local chart given as in config. */
export function localChartDir(chart: string): string {
  return path.resolve(projectRoot(), chart);
}

/** A local chart's path as the Kubernetes provider resolves it (relative to its working dir). */
export function chartPathForProvider(chart: string): string {
  if (path.isAbsolute(chart)) return chart;
  return path.relative(process.cwd(), localChartDir(chart)) || ".";
}

/** Where a release's chart comes from (the config keys that name it). */
export interface ChartSource {
  readonly chart: string;
  readonly repo?: string;
}

/**
 * A release's chart as one string: what the `stages` output records and promotion compares. For
 * a chart from an OCI registry that is the full reference `oci://host/path/<chart>` (the same
 * name in two registries is two charts); otherwise the `chart` key as given.
 */
export function chartReference(source: ChartSource): string {
  return isOciRepo(source.repo)
    ? `${source.repo.replace(/\/+$/, "")}/${source.chart}`
    : source.chart;
}

/**
 * The provider's `chart` and `repositoryOpts` for a release. An OCI chart goes to Helm as its full
 * reference and no repository: Helm resolves `oci://` names itself, while a `repositoryOpts.repo`
 * makes it look for an index.yaml, which a registry does not serve. The pinned version becomes
 * the tag it pulls.
 */
export function providerChart(source: ChartSource): {
  chart: string;
  repositoryOpts?: { repo: string };
} {
  if (isLocalChart(source.chart)) return { chart: chartPathForProvider(source.chart) };
  if (isOciRepo(source.repo)) return { chart: chartReference(source) };
  return { chart: source.chart, repositoryOpts: source.repo ? { repo: source.repo } : undefined };
}
