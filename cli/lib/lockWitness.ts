// When may `deploy` clear a stack lock by itself? Only when it can prove that the process which took
// the lock is dead. A Pulumi lock names pid, user, host and time, and none of them proves that:
// pids are reused, a pid means something only inside one pid namespace of one boot, and two
// containers of one Kubernetes pod share the hostname (UTS namespace) but not the pids. So deploy
// keeps its own evidence: while its `up` runs it writes a witness into PULUMI_HOME (the agent's),
// naming the `pulumi` process it started (pid and kernel start time) with the host's name, boot id
// and pid namespace. A later deploy from the same PULUMI_HOME clears a lock only when the lock's
// pid and host are the witness's, this process runs in the same boot and pid namespace, and that
// exact process (pid AND start time) is gone. Anything else (another host, another container,
// another agent's PULUMI_HOME, no /proc) keeps the refusal with the `pulumi cancel` command.
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { StackLock } from "./interruptedDeploy";
import { writePrivateFile } from "./privateFile";

/** Where a process runs, as far as its pids mean anything: host name, kernel boot, pid namespace. */
export interface ProcessScope {
  readonly hostname: string;
  readonly bootId: string;
  readonly pidNamespace: string;
}

export interface LockWitness extends ProcessScope {
  readonly version: 1;
  readonly stack: string;
  readonly project: string;
  /** The `pulumi` CLI that takes the stack lock: its pid and kernel start time (clock ticks). */
  readonly cliPid: number;
  readonly cliStart: string;
  readonly cliStartedAt: string;
  readonly deployPid: number;
}

/** This process's scope, or undefined without Linux's /proc (then nothing is ever proven). */
export function currentScope(procRoot = "/proc"): ProcessScope | undefined {
  try {
    return {
      hostname: os.hostname(),
      bootId: fs.readFileSync(`${procRoot}/sys/kernel/random/boot_id`, "utf8").trim(),
      pidNamespace: fs.readlinkSync(`${procRoot}/self/ns/pid`),
    };
  } catch {
    return undefined;
  }
}

/** The fields of /proc/<pid>/stat after the command name (field 3, the state, first). */
function statFields(pid: number, procRoot: string): string[] | undefined {
  try {
    const stat = fs.readFileSync(`${procRoot}/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  } catch {
    return undefined;
  }
}

/** A live process's kernel start time (field 22, clock ticks since boot); undefined: none, or a zombie. */
export function processStart(pid: number, procRoot = "/proc"): string | undefined {
  const f = statFields(pid, procRoot);
  if (!f || f[0] === "Z" || f[0] === "X") return undefined;
  return f[19];
}

/**
 * When a process started, from its start time in clock ticks since boot and the boot time in
 * /proc/stat (Linux reports ticks in USER_HZ, 100 a second, whatever the kernel's own HZ).
 */
export function startedAt(start: string, procRoot = "/proc"): Date | undefined {
  try {
    const btime = /^btime (\d+)$/m.exec(fs.readFileSync(`${procRoot}/stat`, "utf8"))?.[1];
    if (!btime) return undefined;
    return new Date(Number(btime) * 1000 + Number(start) * 10);
  } catch {
    return undefined;
  }
}

/**
 * The pids of `root`'s descendants whose command is `comm` and, given `subcommand`, whose first
 * argument is it (`pulumi up`, not the `pulumi stack output` the Automation API runs after it).
 */
export function descendantsNamed(
  root: number,
  comm: string,
  subcommand?: string,
  procRoot = "/proc",
): number[] {
  const parent = new Map<number, number>();
  const name = new Map<number, string>();
  let entries: string[];
  try {
    entries = fs.readdirSync(procRoot).filter((e) => /^\d+$/.test(e));
  } catch {
    return [];
  }
  for (const e of entries) {
    try {
      const stat = fs.readFileSync(`${procRoot}/${e}/stat`, "utf8");
      name.set(Number(e), stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")")));
      parent.set(Number(e), Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]));
    } catch {
      // gone meanwhile
    }
  }
  const under = (pid: number): boolean => {
    for (
      let p = parent.get(pid), hops = 0;
      p !== undefined && hops < 64;
      p = parent.get(p), hops++
    ) {
      if (p === root) return true;
    }
    return false;
  };
  const argv1 = (pid: number) => {
    try {
      return fs.readFileSync(`${procRoot}/${pid}/cmdline`, "utf8").split("\0")[1];
    } catch {
      return undefined;
    }
  };
  return [...name]
    .filter(([pid, n]) => n === comm && under(pid))
    .filter(([pid]) => subcommand === undefined || argv1(pid) === subcommand)
    .map(([pid]) => pid);
}

/** The witness file of a stack on a backend, in PULUMI_HOME (the URL without its password). */
export function witnessFile(
  pulumiHome: string,
  backendUrl: string,
  project: string,
  stack: string,
): string {
  let url = backendUrl;
  try {
    const u = new URL(backendUrl);
    u.password = "";
    url = u.toString();
  } catch {
    // not a URL: hashed as given
  }
  const key = crypto
    .createHash("sha256")
    .update(`${url}\n${project}\n${stack}`)
    .digest("hex")
    .slice(0, 24);
  return path.join(pulumiHome, "scoped-cd", "lock-witness", `${key}.json`);
}

/** The PULUMI_HOME the Pulumi CLI uses. */
export function pulumiHome(env: NodeJS.ProcessEnv = process.env): string {
  return env.PULUMI_HOME || path.join(os.homedir(), ".pulumi");
}

export function readWitness(file: string): LockWitness | undefined {
  try {
    const doc = JSON.parse(fs.readFileSync(file, "utf8")) as Partial<LockWitness>;
    if (
      doc.version !== 1 ||
      typeof doc.cliPid !== "number" ||
      typeof doc.cliStart !== "string" ||
      typeof doc.hostname !== "string" ||
      typeof doc.bootId !== "string" ||
      typeof doc.pidNamespace !== "string" ||
      typeof doc.cliStartedAt !== "string"
    ) {
      return undefined;
    }
    return doc as LockWitness;
  } catch {
    return undefined;
  }
}

export function writeWitness(file: string, witness: LockWitness): void {
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  writePrivateFile(file, `${JSON.stringify(witness)}\n`);
}

export function removeWitness(file: string): void {
  fs.rmSync(file, { force: true });
}

/**
 * Why the lock's holder is proven dead (the reason, for the one line deploy prints), or undefined
 * when it is not proven. `startOf` reads a live process's start time in this pid namespace.
 */
export function provenDead(
  lock: StackLock,
  witness: LockWitness | undefined,
  here: ProcessScope | undefined,
  startOf: (pid: number) => string | undefined = processStart,
): string | undefined {
  if (!witness || !here || lock.pid === undefined || !lock.hostname) return undefined;
  // The lock is the witnessed process's: same pid and host, taken after that process started.
  if (lock.pid !== witness.cliPid || lock.hostname !== witness.hostname) return undefined;
  const taken = new Date(lock.timestamp ?? "").getTime();
  const started = new Date(witness.cliStartedAt).getTime();
  if (!Number.isFinite(taken) || !Number.isFinite(started) || taken < started - 2_000) {
    return undefined;
  }
  // Its pid means the same here: this host, this boot, this pid namespace.
  if (
    here.hostname !== witness.hostname ||
    here.bootId !== witness.bootId ||
    here.pidNamespace !== witness.pidNamespace
  ) {
    return undefined;
  }
  // That exact process is gone: no such pid, a zombie, or the pid now belongs to a later process.
  if (startOf(lock.pid) === witness.cliStart) return undefined;
  return `the update that took it was started from this PULUMI_HOME on this host, in this boot and pid namespace, and that process (pid ${lock.pid}) is gone`;
}

/**
 * While `up` runs: find the `pulumi` CLI this process started and write its witness. Returns a
 * stop function (call it when the up has ended); polls /proc every `everyMs` until found.
 */
export function witnessWhileRunning(
  file: string,
  project: string,
  stack: string,
  everyMs = 200,
): () => void {
  const here = currentScope();
  if (!here) return () => undefined;
  let timer: NodeJS.Timeout | undefined;
  const look = () => {
    for (const pid of descendantsNamed(process.pid, "pulumi", "up")) {
      const start = processStart(pid);
      const at = start === undefined ? undefined : startedAt(start);
      if (start === undefined || !at) continue;
      writeWitness(file, {
        version: 1,
        stack,
        project,
        ...here,
        cliPid: pid,
        cliStart: start,
        cliStartedAt: at.toISOString(),
        deployPid: process.pid,
      });
      return;
    }
    timer = setTimeout(look, everyMs);
    timer.unref();
  };
  look();
  return () => clearTimeout(timer);
}
