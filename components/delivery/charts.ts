// Local chart paths. In config they are relative to the project (where Pulumi.yaml is); the
// engine runs the program and its providers in the directory of `main` (bin/), so they must be
// translated. Kept relative, so the state is the same in every checkout (CI workspaces differ).
import * as fs from "node:fs";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";

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
