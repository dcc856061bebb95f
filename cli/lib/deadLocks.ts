// Before an `up` (deploy's and handoff's): a stack whose lock is held is refused, naming the
// holder, unless this agent's own witness proves the holder dead (same host, boot and pid
// namespace, that process gone; lockWitness.ts): then the lock is cleared, in one line. And while
// the `up` runs, its witness is written, so that the next run can prove the same of it.
import type { Stack } from "@pulumi/pulumi/automation";
import { CliError } from "../errors";
import { Io } from "../io";
import { describeBackendFailure } from "./backend";
import { backendLocks, removeLock } from "./backendLocks";
import { describeLocks, lockAge } from "./interruptedDeploy";
import {
  currentScope,
  provenDead,
  pulumiHome,
  readWitness,
  removeWitness,
  witnessFile,
  witnessWhileRunning,
} from "./lockWitness";

/** Where this run's witness goes; undefined when the backend's locks are not read here. */
export interface LockWitnessFile {
  readonly file: string;
  readonly project: string;
}

function backendFailure(err: unknown, url: string | undefined, stackName: string): CliError {
  const why = err instanceof Error ? err.message : String(err);
  return new CliError(
    `${describeBackendFailure(`failed to ping PostgreSQL: ${why}`, url, stackName) ?? why} Nothing was changed.`,
  );
}

/**
 * Refuse a locked stack or clear the locks proven dead. Returns this run's witness file for the
 * backends whose locks are read here (file and PostgreSQL), else undefined.
 */
export async function clearDeadLocks(
  stack: Stack,
  stackName: string,
  workDir: string,
  io: Io,
): Promise<LockWitnessFile | undefined> {
  const url = process.env.PULUMI_BACKEND_URL ?? (await stack.workspace.whoAmI()).url;
  const project = (await stack.workspace.projectSettings()).name;
  let locks;
  try {
    locks = await backendLocks(url, project, stackName);
  } catch (err) {
    throw backendFailure(err, url, stackName);
  }
  if (!locks) return undefined;
  const witness = witnessFile(pulumiHome(), url ?? "", project, stackName);
  if (locks.length > 0) {
    const here = currentScope();
    const seen = readWitness(witness);
    const reasons = locks.map((l) => provenDead(l, seen, here));
    if (reasons.some((r) => r === undefined)) {
      throw new CliError(describeLocks(stackName, workDir, locks));
    }
    for (const [i, lock] of locks.entries()) {
      try {
        await removeLock(url!, lock);
      } catch (err) {
        throw backendFailure(err, url, stackName);
      }
      const age = lockAge(lock.timestamp);
      io.stderr(
        `== ${stackName}: cleared the lock of pid ${lock.pid} on ${lock.hostname}${lock.username ? ` (user ${lock.username})` : ""} since ${lock.timestamp}${age ? ` (held ${age})` : ""}: ${reasons[i]}\n`,
      );
    }
  }
  // No lock left: a witness of an earlier run is stale (its run ended, or its lock was cleared).
  removeWitness(witness);
  return { file: witness, project };
}

/**
 * Run `up` with this run's witness written while it runs; the witness is kept when the up fails
 * (its lock may be left) and removed when it succeeds.
 */
export async function withLockWitness<T>(
  witness: LockWitnessFile | undefined,
  stackName: string,
  up: () => Promise<T>,
): Promise<T> {
  const stop = witness ? witnessWhileRunning(witness.file, witness.project, stackName) : undefined;
  let result: T;
  try {
    result = await up();
  } finally {
    stop?.();
  }
  if (witness) removeWitness(witness.file);
  return result;
}
