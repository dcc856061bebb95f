// The `up` of an access stack as the product runs it (`scoped-cd handoff`; the bench measures the
// same function):
//
// - the engine checkpoints once, at the end (PULUMI_SKIP_CHECKPOINTS): the file and PostgreSQL
//   backends rewrite the whole state after every step otherwise, which makes an `up` grow with
//   the square of the stages (docs/performance.md). The end is reached on success and on failure
//   alike (the engine's snapshot manager saves when it closes); only a run killed outright
//   (SIGKILL, the machine lost) records nothing;
// - so what such a lost run created is made safe here: every object of an access stack has a fixed
//   name the rerun adopts, except the identities (a rotation suffix, a minting time in the name),
//   and those the state does not know are removed after the `up`, whether it succeeded or failed
//   (accessLeftovers.ts; docs/security.md "An interrupted access up leaves no credential behind");
// - a lock the lost run left is cleared when this agent's witness proves its holder dead, as
//   deploy does (deadLocks.ts);
// - the CLI runs once for the up and once for the export, which serves both the sweep and the
//   outputs: `stack.up()` would run three more (two `stack output`, one `stack history`), each
//   loading and decrypting the whole state (about 0.3 s apiece at 50 stages);
// - an up the API server's quota admission refused in a race inside it is run again, a bounded
//   number of times (quotaStatusConflict).
import type { OutputMap, Stack } from "@pulumi/pulumi/automation";
import { CliError, commandFailure, commandStderr } from "../errors";
import { Io } from "../io";
import { refKey } from "../../policy/leftovers";
import { removeLeftoverIdentities, serverClock, stateIdentities } from "./accessLeftovers";
import { clearDeadLocks, withLockWitness } from "./deadLocks";
import { exportedOutputs } from "./exportedOutputs";
import { stackConfig } from "./stages";

type ClientNode = typeof import("@kubernetes/client-node", {
  with: { "resolution-mode": "import" },
});
type KubeConfig = InstanceType<ClientNode["KubeConfig"]>;

/** The engine setting this `up` runs with (the Automation API passes it to the CLI it starts). */
export const ACCESS_UP_ENV = { PULUMI_SKIP_CHECKPOINTS: "true" } as const;

interface AccessConfig {
  readonly context?: string;
  readonly namespaces: string[];
}

/** The admin context and the stages' namespaces from the stack's config. */
async function accessConfig(stack: Stack): Promise<AccessConfig> {
  const config = await stackConfig(stack);
  const cluster = config("scoped-cd:cluster") as { context?: unknown } | undefined;
  const stages = config("scoped-cd:stages");
  return {
    context: typeof cluster?.context === "string" ? cluster.context : undefined,
    namespaces:
      stages && typeof stages === "object"
        ? Object.values(stages as Record<string, { namespace?: unknown } | undefined>)
            .map((s) => s?.namespace)
            .filter((n): n is string => typeof n === "string")
        : [],
  };
}

/** The admin kubeconfig as kubectl loads it (KUBECONFIG or ~/.kube/config), at `context`. */
async function adminKubeconfig(context: string | undefined): Promise<KubeConfig> {
  const { KubeConfig } = await import("@kubernetes/client-node");
  const kc = new KubeConfig();
  kc.loadFromDefault();
  if (context) kc.setCurrentContext(context);
  return kc;
}

export interface AccessUpOptions {
  readonly stackName: string;
  readonly workDir: string;
  readonly io: Io;
  /** The engine's output (progress, diff). */
  readonly onOutput?: (text: string) => void;
}

/**
 * The Automation API's own runner of CLI commands (`PulumiCommand.run`, which `stack.up()` calls;
 * marked internal in its typings): the same binary, environment and CommandError on failure.
 */
interface CommandRunner {
  run(
    args: string[],
    cwd: string,
    additionalEnv: Record<string, string>,
    onOutput?: (data: string) => void,
  ): Promise<unknown>;
}

/** `pulumi up` with the arguments and environment `stack.up({ diff: true, color: "never" })` uses. */
async function runUp(stack: Stack, onOutput?: (text: string) => void): Promise<void> {
  const ws = stack.workspace;
  const runner = ws.pulumiCommand as unknown as CommandRunner;
  const env: Record<string, string> = { ...(ws.pulumiHome ? { PULUMI_HOME: ws.pulumiHome } : {}) };
  for (const [k, v] of Object.entries(ws.envVars)) if (v !== undefined) env[k] = v;
  const args = ["up", "--yes", "--skip-preview", "--diff", "--color", "never"];
  await runner.run(
    [...args, "--exec-kind", "auto.local", "--stack", stack.name],
    ws.workDir,
    env,
    onOutput,
  );
}

/** How many times the access up runs when the API server's quota admission loses a race. */
export const UP_ATTEMPTS = 3;

/**
 * Whether an up failed because the API server refused a create with 409 while it updated a
 * ResourceQuota's usage: its quota admission lost the race with the quota controller's status
 * updates, after retrying itself (apiserver's resourcequota admission, `checkQuotas`). It comes
 * under load when many counted objects (ServiceAccounts, Secrets, Roles) are created in one
 * namespace at once, as a rotation does; the Kubernetes provider neither retries it nor says more
 * than "Server-Side Apply field conflict detected". Nothing was half-made: the object does not
 * exist, the state holds what the up did before, and the next up creates the rest.
 */
export function quotaStatusConflict(failure: unknown): boolean {
  return /Operation cannot be fulfilled on resourcequotas\b/.test(commandStderr(failure) ?? "");
}

/** `up`, run again (at most UP_ATTEMPTS in all) while it fails on such a race alone. */
export async function upUntilNoQuotaRace(
  up: () => Promise<void>,
  stackName: string,
  io: Io,
): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await up();
    } catch (err) {
      if (attempt >= UP_ATTEMPTS || !quotaStatusConflict(err)) throw err;
      io.stderr(
        `== ${stackName}: the API server refused a create while it updated a ResourceQuota's usage (HTTP 409, a race inside the API server under load); running the up again (attempt ${attempt + 1} of ${UP_ATTEMPTS})\n`,
      );
    }
  }
}

/** What the access up leaves: the stack's outputs (secrets decrypted), as `stack.up()` gives them. */
export interface AccessUpResult {
  readonly outputs: OutputMap;
  /** The stack's state after the up (`stack export --show-secrets`). */
  readonly exported: unknown;
}

/** `pulumi up` of an access stack, then the sweep of what a lost earlier run left. */
export async function upAccessStack(stack: Stack, opts: AccessUpOptions): Promise<AccessUpResult> {
  const { stackName, io } = opts;
  const witness = await clearDeadLocks(stack, stackName, opts.workDir, io);
  const config = await accessConfig(stack);
  const kc = await adminKubeconfig(config.context);
  // Unreadable (the server down, a network error): the up runs anyway, and its own check of the
  // admin credential names the problem; without a clock nothing is swept (said below).
  const started = await serverClock(kc).catch(() => undefined);
  const env = stack.workspace.envVars;
  const saved = Object.fromEntries(Object.keys(ACCESS_UP_ENV).map((k) => [k, env[k]]));
  Object.assign(env, ACCESS_UP_ENV);
  let failure: unknown;
  try {
    await withLockWitness(witness, stackName, () =>
      upUntilNoQuotaRace(() => runUp(stack, opts.onOutput), stackName, io),
    );
  } catch (err) {
    failure = err;
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete env[k];
      else env[k] = v;
    }
  }
  // An up refused for a lock never ran: another one may be running, whose new identities its
  // state does not hold yet. Anything else wrote the state (success or failure) and is swept.
  const lockRefused =
    failure !== undefined &&
    /currently locked by \d+ lock|Another update is currently in progress/i.test(
      commandFailure(failure),
    );
  const upFailed = () => `pulumi up of stack ${stackName} failed:\n${commandFailure(failure)}`;
  const upFailure = () => (failure instanceof CliError ? failure : new CliError(upFailed()));
  if (lockRefused) throw upFailure();
  let exported: unknown;
  try {
    exported = await stack.exportStack();
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    if (failure === undefined)
      throw new CliError(`the state of stack ${stackName} could not be read after its up: ${why}`);
    throw new CliError(
      `${upFailed()}\n(nor could its state be read to look for the identities an interrupted up may have left: ${why})`,
    );
  }
  if (started === undefined) {
    io.stderr(
      `== ${stackName}: the API server's clock could not be read before the up, so the identities an interrupted up may have left were not looked for; rerun the handoff\n`,
    );
  } else {
    try {
      const state = stateIdentities(exported, config.namespaces);
      const removed = await removeLeftoverIdentities(kc, state, started, (line) =>
        io.stderr(`== ${stackName}: ${line}\n`),
      );
      if (removed.length > 0) {
        io.stderr(
          `== ${stackName}: ${removed.length} identit${removed.length === 1 ? "y" : "ies"} of an interrupted up removed (${removed.map(refKey).join(", ")})\n`,
        );
      }
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      const sweep = `the identities an interrupted up may have left could not all be removed: ${why}. Rerun the handoff; until then \`scoped-cd verify\` shows them.`;
      if (failure === undefined) throw new CliError(sweep);
      // The up's failure is the news (often the same refused credential); the sweep is a footnote.
      throw new CliError(
        `${upFailed()}\n(nor could the identities an interrupted up may have left be looked for: ${why})`,
      );
    }
  }
  if (failure !== undefined) throw upFailure();
  return { outputs: exportedOutputs(exported), exported };
}
