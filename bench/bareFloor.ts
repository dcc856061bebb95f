// The bare Pulumi floor of the access layer: bench/bareObjects.ts as a project of its own (work dir
// .local/bench/bare, the bench's file backend), so its `up` runs the same CLI, language host and
// Kubernetes provider as the access stack's, on the same objects, and nothing else.
import * as fs from "node:fs";
import * as path from "node:path";
import * as yaml from "js-yaml";
import { run } from "./proc";
import { BENCH_DIR, BENCH_ENV, prepareWorkDir } from "./stacks";

const BARE_DIR = path.join(BENCH_DIR, "bare");
const PROJECT = "scoped-cd-bench-bare";

function prepare(): void {
  prepareWorkDir(BARE_DIR, ["bin", "node_modules", "package.json"]);
  fs.writeFileSync(
    path.join(BARE_DIR, "Pulumi.yaml"),
    yaml.dump({ name: PROJECT, runtime: "nodejs", main: "bin/bench/bareObjects.js" }),
  );
}

const pulumi = (args: string[], extraEnv: Record<string, string> = {}) =>
  run("pulumi", [...args, "--non-interactive", "--cwd", BARE_DIR], {
    env: { ...BENCH_ENV, ...extraEnv },
    timeoutSeconds: 20 * 60,
  });

export interface BareStack {
  /** `pulumi up` of the objects, checkpointed once at the end as the handoff's access up is. */
  up(): Promise<void>;
  /** Remove the stack's state (its objects are the caller's to delete). */
  remove(): Promise<void>;
}

/** A new bare stack declaring the objects of `objectsFile` (a `kind: List`) on `kubeconfig`'s cluster. */
export async function bareStack(
  name: string,
  objectsFile: string,
  kubeconfig: string,
): Promise<BareStack> {
  prepare();
  await pulumi(["stack", "init", name]);
  const stackFile = path.join(BARE_DIR, `Pulumi.${name}.yaml`);
  const doc = (yaml.load(fs.readFileSync(stackFile, "utf8")) ?? {}) as Record<string, unknown>;
  doc.config = { "bench-bare:objects": objectsFile, "bench-bare:kubeconfig": kubeconfig };
  fs.writeFileSync(stackFile, yaml.dump(doc));
  return {
    up: async () =>
      void (await pulumi(["up", "--yes", "--skip-preview", "--color", "never", "--stack", name], {
        PULUMI_SKIP_CHECKPOINTS: "true",
      })),
    remove: async () => {
      await pulumi(["stack", "rm", "--force", "--yes", "--stack", name]);
      fs.rmSync(stackFile, { force: true });
    },
  };
}
