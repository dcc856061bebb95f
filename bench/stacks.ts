// The bench's stacks: one work dir (Pulumi.yaml, the compiled program and the charts linked from the
// repository, one Pulumi.<stack>.yaml per stack) and a file backend of its own under .local/bench/,
// so neither the e2e tests' stacks nor the demo's ever meet the bench's.
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { LocalWorkspace, Stack } from "@pulumi/pulumi/automation";
import * as yaml from "js-yaml";

export const REPO = path.resolve(__dirname, "../..");
export const BENCH_DIR = path.join(REPO, ".local", "bench");
/**
 * The compiled program the stacks run: this checkout's bin/, or another build's bin/ given in
 * SCOPED_CD_BENCH_PROGRAM (a before/after comparison of the same bench on two builds).
 */
const PROGRAM_BIN = process.env.SCOPED_CD_BENCH_PROGRAM
  ? path.resolve(process.env.SCOPED_CD_BENCH_PROGRAM)
  : path.join(REPO, "bin");
export const WORK_DIR = process.env.SCOPED_CD_BENCH_PROGRAM
  ? path.join(
      BENCH_DIR,
      `work-${crypto.createHash("sha256").update(PROGRAM_BIN).digest("hex").slice(0, 8)}`,
    )
  : path.join(BENCH_DIR, "work");
/** The throw-away passphrase of the bench's stacks (their own file backend, local only). */
export const BENCH_PASSPHRASE = "scoped-cd-bench-only";
export const qualified = (stack: string) => `organization/scoped-cd/${stack}`;

/** The environment of every bench CLI run: its own file backend and throw-away passphrase. */
export const BENCH_ENV = {
  PULUMI_CONFIG_PASSPHRASE: BENCH_PASSPHRASE,
  PULUMI_BACKEND_URL: `file://${path.join(BENCH_DIR, "state")}`,
} as const;

/** Make a bench project's work dir: the backend's dir, and links to the repository's `entries`. */
export function prepareWorkDir(
  dir: string,
  entries: readonly string[],
  target: (entry: string) => string = (entry) => path.join(REPO, entry),
): void {
  fs.mkdirSync(path.join(BENCH_DIR, "state"), { recursive: true });
  fs.mkdirSync(dir, { recursive: true });
  for (const entry of entries) {
    const link = path.join(dir, entry);
    if (!fs.existsSync(link)) fs.symlinkSync(target(entry), link);
  }
}

let workspace: Promise<LocalWorkspace> | undefined;

/** The bench's work dir and workspace, made once. */
export function benchWorkspace(): Promise<LocalWorkspace> {
  workspace ??= (async () => {
    prepareWorkDir(WORK_DIR, ["bin", "node_modules", "charts", "package.json"], (entry) =>
      entry === "bin" ? PROGRAM_BIN : path.join(REPO, entry),
    );
    fs.copyFileSync(path.join(REPO, "Pulumi.yaml"), path.join(WORK_DIR, "Pulumi.yaml"));
    return LocalWorkspace.create({ workDir: WORK_DIR, envVars: { ...BENCH_ENV } });
  })();
  return workspace;
}

export interface BenchStack {
  readonly name: string;
  readonly stack: Stack;
  /** Replace the stack's `scoped-cd:` config. */
  setConfig(config: Record<string, unknown>): void;
  /** Everything the CLI printed during the last operation (for error messages only). */
  readonly log: string[];
}

export async function benchStack(name: string): Promise<BenchStack> {
  const ws = await benchWorkspace();
  const stack = await Stack.createOrSelect(name, ws);
  const stackFile = path.join(WORK_DIR, `Pulumi.${name}.yaml`);
  return {
    name,
    stack,
    log: [],
    setConfig(config) {
      const doc = (
        fs.existsSync(stackFile) ? (yaml.load(fs.readFileSync(stackFile, "utf8")) ?? {}) : {}
      ) as Record<string, unknown>;
      doc.config = Object.fromEntries(
        Object.entries(config).map(([k, v]) => [`scoped-cd:${k}`, v]),
      );
      fs.writeFileSync(stackFile, yaml.dump(doc));
    },
  };
}
