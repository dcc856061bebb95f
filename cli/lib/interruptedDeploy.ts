// What a deploy that died mid-`up` (a Jenkins agent lost, a SIGKILL of the whole process tree)
// leaves behind, and how `scoped-cd deploy` deals with each before its own `up`:
//
// - the backend's stack lock: refused, with the holder (pid, host, time, age) and the exact command
//   that clears it. Only a person can know that no other deploy of the stack is running on another
//   agent or container. The one exception: a lock whose holder deploy can prove dead (its own
//   witness: same host, boot, pid namespace, and that process gone; lockWitness.ts) is cleared,
//   with one line naming it.
// - pending operations in the stack's state: the engine discards update/delete records on the next
//   `up` (the resources' last known state is kept, and the up re-applies); an interrupted *create*
//   may have made an object the state does not know, so deploy stops and names the refresh to run.
// - a Helm release whose newest revision is still `pending-upgrade`/`pending-rollback`: Helm refuses
//   every later upgrade ("another operation (install/upgrade/rollback) is in progress"). When the
//   stack is not locked and the revision is older than this run, no one is working on it: deploy
//   marks that revision `failed` (what Helm itself records for an upgrade that did not finish),
//   so the `up` upgrades from the last deployed revision. A stuck `pending-install` (a first
//   deploy that died) is refused with the exact command, since the release never ran.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { promisify } from "node:util";
import * as zlib from "node:zlib";

const gzip = promisify(zlib.gzip);
const gunzip = promisify(zlib.gunzip);

export interface StackLock {
  readonly file: string;
  readonly pid?: number;
  readonly hostname?: string;
  readonly username?: string;
  readonly timestamp?: string;
}

/** The directory of a `file://` backend URL, else undefined (another backend locks by itself). */
export function fileBackendDir(url: string | undefined): string | undefined {
  if (!url || !url.startsWith("file://")) return undefined;
  let dir = decodeURIComponent(url.slice("file://".length));
  if (dir === "~" || dir.startsWith("~/")) dir = path.join(os.homedir(), dir.slice(1));
  return dir.replace(/\?.*$/, "");
}

/** The lock files a file backend holds for a stack (project layout and the legacy one). */
export function stackLocks(backendDir: string, project: string, stack: string): StackLock[] {
  const name = stack.split("/").pop()!;
  const dirs = [
    path.join(backendDir, ".pulumi", "locks", "organization", project, name),
    path.join(backendDir, ".pulumi", "locks", name),
  ];
  const locks: StackLock[] = [];
  for (const dir of dirs) {
    let entries: string[];
    try {
      entries = fs.readdirSync(dir).filter((f) => f.endsWith(".json"));
    } catch {
      continue;
    }
    for (const entry of entries) {
      const file = path.join(dir, entry);
      try {
        const doc = JSON.parse(fs.readFileSync(file, "utf8")) as Record<string, unknown>;
        locks.push({
          file,
          pid: typeof doc.pid === "number" ? doc.pid : undefined,
          hostname: typeof doc.hostname === "string" ? doc.hostname : undefined,
          username: typeof doc.username === "string" ? doc.username : undefined,
          timestamp: typeof doc.timestamp === "string" ? doc.timestamp : undefined,
        });
      } catch {
        locks.push({ file });
      }
    }
  }
  return locks;
}

/**
 * Whether a process of that pid runs here. A zombie does not: a killed `pulumi` whose parent died
 * too is reparented to init and stays a zombie until init reaps it, which can take a while (seen
 * in the fault tests), and it holds no lock work.
 */
export function pidRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    return true; // no /proc (not Linux): the signal said it exists
  }
}

/** The backend's own refusal, as the Pulumi CLI words it for a file backend. */
export function backendLockMessage(count: number): string {
  return `the stack is currently locked by ${count} lock(s). Either wait for the other process(es) to end or delete the lock file with \`pulumi cancel\`.`;
}

/**
 * The holders a DIY backend's own refusal names (`...: created by user@host (pid N) at time`), for
 * a refusal that raced past the check before the up, or a backend scoped-cd does not read.
 */
export function locksOfRefusal(failure: string): StackLock[] {
  const found: StackLock[] = [];
  for (const m of failure.matchAll(/(\S+): created by (\S*)@(\S+) \(pid (\d+)\) at (\S+)/g)) {
    found.push({
      file: m[1],
      username: m[2] || undefined,
      hostname: m[3],
      pid: Number(m[4]),
      timestamp: m[5],
    });
  }
  return found;
}

/** The message for a locked stack: the backend's words, who holds it, and what to run. */
export function describeLocks(
  stack: string,
  workDir: string,
  locks: readonly StackLock[],
  hostname = os.hostname(),
  running: (pid: number) => boolean = pidRunning,
  now = new Date(),
): string {
  const local = (l: StackLock) => l.pid !== undefined && l.hostname === hostname;
  const live = locks.filter((l) => local(l) && running(l.pid!));
  const holders = locks.map((l) => {
    const age = lockAge(l.timestamp, now);
    const who = `pid ${l.pid ?? "?"} on ${l.hostname ?? "?"}${l.username ? ` (user ${l.username})` : ""}${l.timestamp ? ` since ${l.timestamp}` : ""}${age ? ` (held ${age})` : ""}`;
    if (local(l)) {
      return running(l.pid!)
        ? `${who}: that process is still running here; wait for it`
        : `${who}: no such process here any more: the update that took it was killed (agent lost, SIGKILL), or it runs in another container with this host name; no witness of this PULUMI_HOME proves which`;
    }
    return `${who}: on another machine, so this one cannot tell whether it still runs`;
  });
  const head =
    `stack ${stack}: ${backendLockMessage(locks.length)}\n` +
    holders.map((h) => `  lock: ${h}\n`).join("") +
    "Nothing was changed. ";
  if (live.length > 0) {
    return `${head}Another deploy of ${stack} is running on this machine: let it finish, then rerun if needed.`;
  }
  const remoteLocks = locks.filter((l) => !local(l));
  const ages = remoteLocks.map((l) => lockAge(l.timestamp, now)).filter((a) => a !== undefined);
  const remote = remoteLocks.length > 0;
  return (
    head +
    (remote
      ? `A lock taken on another machine is never cleared by scoped-cd: only you can know that its deploy is gone${ages.length > 0 ? ` (the lock is ${ages.join(", ")} old)` : ""}. `
      : "") +
    `If no other deploy of ${stack} is running (Jenkins: no other build of ` +
    `this job, on any agent), clear the lock and rerun; the rerun repairs what the interrupted ` +
    `update left behind:\n` +
    `  (cd ${workDir} && pulumi cancel --stack ${stack} --yes)\n` +
    `  scoped-cd deploy --stack ${stack} ...`
  );
}

/** How long ago a lock was taken, as `3m12s` / `2h05m` / `4d03h`; undefined without a time. */
export function lockAge(timestamp: string | undefined, now = new Date()): string | undefined {
  if (!timestamp) return undefined;
  const ms = now.getTime() - new Date(timestamp).getTime();
  if (!Number.isFinite(ms)) return undefined;
  const s = Math.max(0, Math.floor(ms / 1000));
  const pad = (n: number) => String(n).padStart(2, "0");
  if (s < 3600) return `${Math.floor(s / 60)}m${pad(s % 60)}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h${pad(Math.floor((s % 3600) / 60))}m`;
  return `${Math.floor(s / 86400)}d${pad(Math.floor((s % 86400) / 3600))}h`;
}

export interface PendingOperation {
  readonly type: string;
  readonly urn: string;
  readonly resourceType: string;
  readonly id?: string;
}

/** The pending operations recorded in a `pulumi stack export` document. */
export function pendingOperationsOf(exported: unknown): PendingOperation[] {
  const deployment = (exported as { deployment?: { pending_operations?: unknown } } | undefined)
    ?.deployment;
  const ops = Array.isArray(deployment?.pending_operations) ? deployment.pending_operations : [];
  return ops.map(
    (op: { type?: unknown; resource?: { urn?: unknown; type?: unknown; id?: unknown } }) => ({
      type: String(op.type ?? "?"),
      urn: String(op.resource?.urn ?? "?"),
      resourceType: String(op.resource?.type ?? "?"),
      id: typeof op.resource?.id === "string" && op.resource.id !== "" ? op.resource.id : undefined,
    }),
  );
}

/** The message for interrupted creates: the state may not know objects that exist. */
export function describePendingCreates(
  stack: string,
  workDir: string,
  creates: readonly PendingOperation[],
): string {
  return (
    `stack ${stack}: the last update was interrupted while creating ${creates.length} resource(s); ` +
    `they may exist in the cluster without the state knowing them, and a plain rerun would fail on ` +
    `"already exists" (a Helm release: "cannot re-use a name that is still in use"). Nothing was changed.\n` +
    creates.map((c) => `  creating: ${c.urn}\n`).join("") +
    `Run, in ${workDir}, one of:\n` +
    `  pulumi refresh --stack ${stack} --clear-pending-creates --yes      # each object does NOT exist in the cluster\n` +
    `  pulumi refresh --stack ${stack} --import-pending-creates <urn> <id> --yes   # it exists; a Helm release's id is <namespace>/<name>\n` +
    `then rerun scoped-cd deploy.`
  );
}

// ---------------------------------------------------------------------------------------------
// Helm release storage (Secrets `sh.helm.release.v1.<name>.v<revision>`, labels owner=helm,
// name, status, version; data.release = base64(gzip(JSON))).

export interface HelmRevision {
  readonly secretName: string;
  readonly release: string;
  readonly namespace: string;
  readonly revision: number;
  readonly status: string;
  readonly created?: Date;
}

export const PENDING_STATUSES = ["pending-install", "pending-upgrade", "pending-rollback"];

/** The newest revision among a release's storage Secrets (by the `version` label). */
export function newestRevision(
  secrets: readonly {
    metadata?: {
      name?: string;
      namespace?: string;
      labels?: Record<string, string>;
      creationTimestamp?: Date | string;
    };
  }[],
): HelmRevision | undefined {
  let newest: HelmRevision | undefined;
  for (const s of secrets) {
    const labels = s.metadata?.labels ?? {};
    const revision = Number(labels.version);
    if (!Number.isInteger(revision) || labels.owner !== "helm") continue;
    if (!newest || revision > newest.revision) {
      const created = s.metadata?.creationTimestamp;
      newest = {
        secretName: s.metadata?.name ?? "",
        release: labels.name ?? "",
        namespace: s.metadata?.namespace ?? "",
        revision,
        status: labels.status ?? "",
        created: created === undefined ? undefined : new Date(created),
      };
    }
  }
  return newest;
}

/** A Helm release as stored: only `info` is read or changed here, the rest passes through. */
export interface HelmReleaseDoc {
  info?: Record<string, unknown>;
  [key: string]: unknown;
}

/** Decode Helm's `data.release` (as the API returns it: base64 of Helm's base64 of gzip'd JSON). */
export async function decodeHelmRelease(data: string): Promise<HelmReleaseDoc> {
  const inner = Buffer.from(Buffer.from(data, "base64").toString("utf8"), "base64");
  const json = inner[0] === 0x1f && inner[1] === 0x8b ? await gunzip(inner) : inner;
  return JSON.parse(json.toString("utf8")) as HelmReleaseDoc;
}

/** Encode a release for Helm's storage, inverse of decodeHelmRelease. */
export async function encodeHelmRelease(release: HelmReleaseDoc): Promise<string> {
  const zipped = await gzip(Buffer.from(JSON.stringify(release), "utf8"));
  return Buffer.from(zipped.toString("base64"), "utf8").toString("base64");
}

/** The release marked `failed`, with a description saying who did it and why. */
export function markedFailed(
  release: HelmReleaseDoc,
  reason: string,
  now = new Date(),
): HelmReleaseDoc {
  return {
    ...release,
    info: {
      ...(release.info ?? {}),
      status: "failed",
      description: reason,
      last_deployed: now.toISOString(),
    },
  };
}
