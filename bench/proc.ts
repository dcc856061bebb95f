// Child processes for the bench: run a command, time it, never echo its output (a preview or a
// kubeconfig-bearing command could print a credential); output is kept for error messages only.
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { processTree } from "../test/e2e/support";

export interface Result {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  /** Wall time in seconds. */
  readonly seconds: number;
}

export interface RunOptions {
  readonly env?: Record<string, string | undefined>;
  readonly cwd?: string;
  readonly input?: string;
  /** Exit codes that count as success (default: 0). */
  readonly ok?: readonly number[];
  readonly timeoutSeconds?: number;
}

export function run(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<Result> {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const [k, v] of Object.entries(opts.env ?? {})) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  const t0 = process.hrtime.bigint();
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env, cwd: opts.cwd, stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill("SIGTERM"), (opts.timeoutSeconds ?? 30 * 60) * 1000);
    child.on("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
      const result = { code: code ?? -1, stdout, stderr, seconds };
      if (!(opts.ok ?? [0]).includes(result.code)) {
        // Pulumi prints its own errors on stdout: both tails, so a failure says why.
        const tail = [stdout, stderr]
          .map((t) => t.trim().split("\n").slice(-15).join("\n"))
          .filter(Boolean)
          .join("\n");
        reject(new Error(`${cmd} ${args[0] ?? ""} exited ${result.code}:\n${tail}`));
      } else resolve(result);
    });
    child.stdin.end(opts.input ?? "");
  });
}

/** Time an async function, in seconds. */
export async function timed<T>(fn: () => Promise<T>): Promise<{ seconds: number; value: T }> {
  const t0 = process.hrtime.bigint();
  const value = await fn();
  return { seconds: Number(process.hrtime.bigint() - t0) / 1e9, value };
}

/** Resident memory of a process in bytes (0 when it is gone). */
function rssOf(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/**
 * Time an async function and sample the resident memory of this process's descendants (the pulumi
 * CLI, its language host and plugins) every 250 ms: the peak of their sum, in bytes.
 */
export async function timedWithPeakMemory<T>(
  fn: () => Promise<T>,
): Promise<{ seconds: number; value: T; peakBytes: number }> {
  let peakBytes = 0;
  const sample = () => {
    // processTree lists the root first: this process's own memory is not the tools'.
    const sum = processTree(process.pid)
      .slice(1)
      .reduce((a, p) => a + rssOf(p), 0);
    if (sum > peakBytes) peakBytes = sum;
  };
  const timer = setInterval(sample, 250);
  try {
    const r = await timed(fn);
    return { ...r, peakBytes };
  } finally {
    clearInterval(timer);
  }
}

/** Which Node.js process of a Pulumi run this is: the program or the dynamic provider. */
function nodeRole(pid: number): string {
  const argv = fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
  if (argv.some((a) => a.includes("dynamic-provider"))) return "(dynamic provider)";
  if (argv.some((a) => a.includes("run-plugin") || a.includes("cmd/run"))) return "(program)";
  return argv[1] ? `(${path.basename(argv[1])})` : UNREADABLE_ROLE;
}

const UNREADABLE_ROLE = "(?)";
const UNREADABLE = `node ${UNREADABLE_ROLE}`;

/** utime + stime of a process in seconds, and its command name (undefined when it is gone). */
function cpuOf(pid: number): { name: string; seconds: number } | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    let name = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
    if (name === "node") name = `node ${nodeRole(pid)}`;
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // Fields 14 and 15 of proc(5) (utime, stime), counted here from field 3, in clock ticks.
    return { name, seconds: (Number(fields[11]) + Number(fields[12])) / 100 };
  } catch {
    return undefined;
  }
}

/** The processes outside this tree whose CPU an `up` also costs: the local cluster's servers. */
const CLUSTER_PROCESSES = new Set(["kube-apiserver", "etcd"]);

function clusterPids(): number[] {
  return fs
    .readdirSync("/proc")
    .filter((e) => /^\d+$/.test(e))
    .map(Number)
    .filter((pid) => CLUSTER_PROCESSES.has(cpuOf(pid)?.name ?? ""));
}

/**
 * Time an async function and account the CPU it costs, by process name: this process's
 * descendants (the pulumi CLI, its language host, plugins) sampled every 100 ms, each at the last
 * figure seen before it exited (so up to 100 ms of a short-lived process's end is missed), plus
 * the local cluster's API server and etcd (their growth over the call). This process's own CPU is
 * the `bench` row.
 */
export async function timedWithCpu<T>(
  fn: () => Promise<T>,
): Promise<{ seconds: number; value: T; cpu: Record<string, number> }> {
  const last = new Map<number, { name: string; seconds: number }>();
  const servers = clusterPids();
  const before = new Map(servers.map((p) => [p, cpuOf(p)?.seconds ?? 0]));
  const self0 = process.cpuUsage();
  const sample = () => {
    for (const pid of processTree(process.pid).slice(1)) {
      const c = cpuOf(pid);
      // The latest name: a child of a plugin's shell wrapper is `sh` until it execs Node.js (the
      // dynamic provider). Except once it has exited: a zombie's command line reads empty.
      const known = last.get(pid)?.name;
      if (c) last.set(pid, { ...c, name: known && c.name === UNREADABLE ? known : c.name });
    }
  };
  const timer = setInterval(sample, 100);
  try {
    const r = await timed(fn);
    sample();
    const cpu: Record<string, number> = {};
    const add = (name: string, s: number) => (cpu[name] = (cpu[name] ?? 0) + s);
    for (const c of last.values()) add(c.name, c.seconds);
    for (const pid of servers) {
      const now = cpuOf(pid);
      if (now) add(now.name, now.seconds - before.get(pid)!);
    }
    const self = process.cpuUsage(self0);
    add("bench", (self.user + self.system) / 1e6);
    return { ...r, cpu };
  } finally {
    clearInterval(timer);
  }
}
