// End-to-end support: a throw-away copy of the project per stack, driven by the real Pulumi CLI
// through the Automation API, against the local cluster that hack/e2e.sh started.
import { ChildProcess, execFile, spawn } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { promisify } from "node:util";
import { LocalWorkspace, Stack } from "@pulumi/pulumi/automation";
import * as yaml from "js-yaml";
import { fileBackendDir, StackLock, stackLocks } from "../../cli/lib/interruptedDeploy";

export const REPO = path.resolve(__dirname, "../../..");
/** execFile as a promise: the one copy for every e2e helper and test. */
export const execFileAsync = promisify(execFile);

/** The passphrase of throw-away test stacks (local file backend only). */
export const TEST_PASSPHRASE = "scoped-cd-e2e-only";

export function requireEnv(name: string): string {
  const value = process.env[name];
  if (!value) {
    throw new Error(`${name} is not set: run end-to-end tests through hack/e2e.sh (npm test)`);
  }
  return value;
}

/** A short random suffix so that concurrent or leftover runs never collide. */
export const uniqueSuffix = () => crypto.randomBytes(3).toString("hex");

export interface TestStack {
  readonly name: string;
  readonly stack: Stack;
  readonly workDir: string;
  /** Everything the CLI printed, for failure messages and leak checks. */
  readonly log: string[];
  /** Replace the stack's `scoped-cd:` config (objects are written as YAML objects). */
  setConfig(config: Record<string, unknown>): void;
  /** Remove the stack and its work dir (after destroy). */
  remove(): Promise<void>;
}

/**
 * A stack of this project in its own work dir: Pulumi.yaml, the compiled program and the charts,
 * linked from the repository, and a Pulumi.<stack>.yaml of its own.
 */
export async function createTestStack(
  prefix: string,
  env: Record<string, string> = {},
): Promise<TestStack> {
  const name = `${prefix}-${uniqueSuffix()}`;
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), `scoped-cd-${prefix}-`));
  fs.copyFileSync(path.join(REPO, "Pulumi.yaml"), path.join(workDir, "Pulumi.yaml"));
  for (const entry of ["bin", "node_modules", "charts", "package.json"]) {
    fs.symlinkSync(path.join(REPO, entry), path.join(workDir, entry));
  }
  const ws = await LocalWorkspace.create({
    workDir,
    envVars: { PULUMI_CONFIG_PASSPHRASE: TEST_PASSPHRASE, ...env },
  });
  const stack = await Stack.create(name, ws);
  const stackFile = path.join(workDir, `Pulumi.${name}.yaml`);
  const log: string[] = [];
  return {
    name,
    stack,
    workDir,
    log,
    setConfig(config) {
      const doc = (yaml.load(fs.readFileSync(stackFile, "utf8")) ?? {}) as Record<string, unknown>;
      doc.config = Object.fromEntries(
        Object.entries(config).map(([k, v]) => [`scoped-cd:${k}`, v]),
      );
      fs.writeFileSync(stackFile, yaml.dump(doc));
    },
    async remove() {
      await ws.removeStack(name, { force: true });
      fs.rmSync(workDir, { recursive: true, force: true });
    },
  };
}

/** Collect the CLI's output in the stack's log (and echo it when E2E_VERBOSE is set). */
export function collect(t: TestStack) {
  return (out: string) => {
    t.log.push(out);
    if (process.env.E2E_VERBOSE) process.stdout.write(out);
  };
}

/** kubectl with the given kubeconfig; resolves with stdout, rejects with stderr. */
export async function kubectl(kubeconfig: string, ...args: string[]): Promise<string> {
  const { stdout } = await execFileAsync("kubectl", ["--kubeconfig", kubeconfig, ...args], {
    timeout: 60_000,
  });
  return stdout;
}

/** Poll `check` until it returns a value (not undefined) or `seconds` pass. */
export async function waitFor<T>(
  what: string,
  seconds: number,
  check: () => Promise<T | undefined>,
): Promise<T> {
  const deadline = Date.now() + seconds * 1000;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (err) {
      lastError = err;
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
  throw new Error(`timed out after ${seconds}s waiting for ${what}: ${String(lastError ?? "")}`);
}

export interface CliRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Run the built `scoped-cd` CLI (bin/cli/main.js) as Jenkins or an operator would; resolves with
 * its exit code and output (never rejects for a non-zero exit). `env` adds to the test's
 * environment; a key set to undefined is removed from it.
 */
export async function runCli(
  args: readonly string[],
  env: Record<string, string | undefined> = {},
): Promise<CliRun> {
  const merged: NodeJS.ProcessEnv = { ...process.env, PULUMI_CONFIG_PASSPHRASE: TEST_PASSPHRASE };
  for (const [key, value] of Object.entries(env)) {
    if (value === undefined) delete merged[key];
    else merged[key] = value;
  }
  try {
    const { stdout, stderr } = await execFileAsync(
      "node",
      [path.join(REPO, "bin/cli/main.js"), ...args],
      { env: merged, timeout: 5 * 60_000, maxBuffer: 16 * 1024 * 1024 },
    );
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: unknown; stdout?: string; stderr?: string };
    if (typeof e.code !== "number") throw err;
    return { code: e.code, stdout: e.stdout ?? "", stderr: e.stderr ?? "" };
  }
}

/** JSON paths of the strings in `value` that contain `needle` (the paths hold no secret). */
export function pathsContaining(value: unknown, needle: string, at = "$"): string[] {
  if (typeof value === "string") return value.includes(needle) ? [at] : [];
  if (Array.isArray(value))
    return value.flatMap((v, i) => pathsContaining(v, needle, `${at}[${i}]`));
  if (value && typeof value === "object") {
    return Object.entries(value).flatMap(([k, v]) => pathsContaining(v, needle, `${at}.${k}`));
  }
  return [];
}

/** The CLI in a process group of its own, as Jenkins starts a build step. */
export function startCli(
  args: readonly string[],
  env: Record<string, string> = {},
): { child: ChildProcess; done: Promise<CliRun> } {
  const child = spawn("node", [path.join(REPO, "bin/cli/main.js"), ...args], {
    env: { ...process.env, PULUMI_CONFIG_PASSPHRASE: TEST_PASSPHRASE, ...env },
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout!.on("data", (c: Buffer) => (stdout += c.toString()));
  child.stderr!.on("data", (c: Buffer) => (stderr += c.toString()));
  const done = new Promise<CliRun>((resolve) => {
    const timer = setTimeout(() => child.kill("SIGKILL"), 8 * 60_000);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr });
    });
  });
  return { child, done };
}

/** Every descendant of `pid` (by /proc's ppid), collected before anything is killed. */
export function processTree(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(entry)]);
    } catch {
      // gone meanwhile
    }
  }
  const tree = [pid];
  for (let i = 0; i < tree.length; i++) tree.push(...(children.get(tree[i]) ?? []));
  return tree;
}

/** The stack's lock files in the e2e file backend (hack/e2e.sh sets PULUMI_BACKEND_URL). */
export function locksOf(stack: string): StackLock[] {
  const dir = fileBackendDir(process.env.PULUMI_BACKEND_URL);
  if (!dir) throw new Error("PULUMI_BACKEND_URL is not a file backend: run through hack/e2e.sh");
  return stackLocks(dir, "scoped-cd", stack);
}

/** Whether a process runs (a zombie does not). */
export const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return fs.readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.[0] !== "Z";
  } catch {
    return false;
  }
};
