// `scoped-cd deploy`: `pulumi up` of one delivery stack, as Jenkins runs it, through the Automation
// API. With --kubeconfig-file, the scoped kubeconfig reaches the program as the secret config
// `scoped-cd:kubeconfig` of a private copy of the stack file (cli/lib/scopedConfig.ts): never on a
// command line, in a log, or in the checked-out stack file. Without it, the stack's own config
// decides (accessStack: the kubeconfig comes from the access stack's output through the backend).
//
// No admin kubeconfig is involved: KUBECONFIG is unset for the run, and a delivery stack creates no
// admin provider. Any other mode is refused before anything runs.
import * as path from "node:path";
import { Command } from "commander";
import { LocalWorkspace, Stack, UpResult } from "@pulumi/pulumi/automation";
import { CliError, commandFailure } from "../errors";
import { auditCommand, auditSelectorOf, ReviewedUser } from "../../policy/audit";
import { describeBackendFailure, maskBackendSecrets, passwordInUrlWarning } from "../lib/backend";
import { clearDeadLocks, LockWitnessFile, withLockWitness } from "../lib/deadLocks";
import { EXIT_OK, ExitCode } from "../exitCodes";
import { Io, OutputFormat, writeJson } from "../io";
import {
  credentialProblemOf,
  credentialProblemOfError,
  describeScopedProblem,
  ScopedCredentialContext,
} from "../lib/credentialProblems";
import {
  decodeHelmRelease,
  describeLocks,
  describePendingCreates,
  encodeHelmRelease,
  locksOfRefusal,
  markedFailed,
  newestRevision,
  PENDING_STATUSES,
  pendingOperationsOf,
} from "../lib/interruptedDeploy";
import { KubeconfigSource, kubeconfigSourcesFor, readKubeconfig } from "../lib/kubeconfigSource";
import { describePodProblems, podWarnings } from "../lib/podProblems";
import { withScopedKubeconfig } from "../lib/scopedConfig";
import { renderStagesTable, stackConfig, stackMode, stagesOf } from "../lib/stages";
import { kubeconfigFileOption, outputOption, stackOption, workDirOption } from "../options";

export interface DeployArgs {
  readonly stack: string;
  readonly kubeconfig?: KubeconfigSource;
  readonly workDir: string;
  readonly output: OutputFormat;
}

interface DeployOptions {
  stack?: string;
  kubeconfigFile?: string[];
  workDir: string;
  output: OutputFormat;
}

export function defineDeploy(program: Command): Command {
  return program
    .command("deploy")
    .summary("pulumi up of a delivery stack with its scoped kubeconfig")
    .description(
      "Run `pulumi up` of one delivery stack (any other mode is refused). The scoped kubeconfig from --kubeconfig-file is secret config for this run only; KUBECONFIG is unset. Before the up: the credential is checked (a refused one names the hand-over step), a locked stack is refused (the lock's holder, its age and `pulumi cancel` named) unless this agent's own witness proves the holder dead (same host, boot and pid namespace, that process gone: the lock is cleared, in one line), and a Helm revision an interrupted deploy left pending is marked failed.\n\nExit: 0 deployed, 2 could not run, refused (credential, lock) or the update failed.",
    )
    .addOption(stackOption("the delivery stack to deploy"))
    .addOption(kubeconfigFileOption(false))
    .addOption(workDirOption())
    .addOption(outputOption())
    .addHelpText(
      "after",
      `
Examples:
  $ scoped-cd deploy --stack test --kubeconfig-file test=/run/secrets/test.kubeconfig
  $ scoped-cd deploy --stack preprod        # kubeconfig from the stack's accessStack
  $ scoped-cd deploy --stack prod --kubeconfig-file prod=prod.kubeconfig --output json`,
    );
}

export function deployArgs(opts: DeployOptions): DeployArgs {
  if (!opts.stack) throw new CliError("--stack is required");
  const sources = kubeconfigSourcesFor([opts.stack], opts.kubeconfigFile ?? []);
  return {
    stack: opts.stack,
    kubeconfig: sources.get(opts.stack),
    workDir: path.resolve(opts.workDir),
    output: opts.output,
  };
}

/** The `--output json` document. */
export function deployJson(
  stack: string,
  up: Pick<UpResult, "summary" | "outputs">,
  identity?: ReviewedUser,
) {
  const selector = identity && auditSelectorOf(identity);
  return {
    stack,
    result: up.summary.result,
    stages: stagesOf(up.outputs),
    // Who the API server saw: the key `scoped-cd audit` finds this deploy's writes by.
    ...(identity ? { identity: { username: identity.username ?? null, ...selector } } : {}),
  };
}

/** The summary's last lines: the identity the deploy ran as, and how to list what it wrote. */
export function auditHint(identity: ReviewedUser | undefined, target: DeliveryTarget): string {
  if (!identity?.username) return "";
  const namespaces = [...new Set(Object.values(target.stages).map((s) => s.namespace))];
  const commands = (namespaces.length ? namespaces : [undefined])
    .map((ns) => auditCommand(identity, ns))
    .filter((c): c is string => c !== undefined);
  return (
    `deployed as ${identity.username}` +
    (commands.length ? `; its writes: ${commands.join("; ")}` : "") +
    "\n"
  );
}

/** The stack's stages (name -> namespace and release names) and accessStack, from its config. */
export async function deliveryTarget(stack: Stack): Promise<DeliveryTarget> {
  const parse = await stackConfig(stack);
  const stages: DeliveryTarget["stages"] = {};
  const declared = parse("scoped-cd:stages");
  if (declared && typeof declared === "object") {
    const entries = Object.entries(
      declared as Record<string, { namespace?: unknown; releases?: object } | undefined>,
    );
    for (const [stage, cfg] of entries) {
      stages[stage] = {
        namespace: typeof cfg?.namespace === "string" ? cfg.namespace : stage,
        releases: Object.keys(cfg?.releases ?? {}),
      };
    }
  }
  const accessStack = parse("scoped-cd:accessStack");
  return { stages, accessStack: typeof accessStack === "string" ? accessStack : undefined };
}

export interface DeliveryTarget {
  readonly stages: Record<string, { namespace: string; releases: string[] }>;
  readonly accessStack?: string;
}

type ClientNode = typeof import("@kubernetes/client-node", {
  with: { "resolution-mode": "import" },
});
type KubeConfig = InstanceType<ClientNode["KubeConfig"]>;

async function loadKubeconfig(yaml: string): Promise<KubeConfig> {
  const { KubeConfig } = await import("@kubernetes/client-node");
  const kc = new KubeConfig();
  kc.loadFromString(yaml);
  return kc;
}

/**
 * Before anything runs: does the API server accept the scoped kubeconfig (SelfSubjectReview, which
 * every authenticated identity may ask)? A dead credential fails here, naming the hand-over step.
 */
async function checkScopedCredential(
  kc: KubeConfig,
  ctx: ScopedCredentialContext,
): Promise<ReviewedUser> {
  const { AuthenticationV1Api } = await import("@kubernetes/client-node");
  try {
    const review = await kc.makeApiClient(AuthenticationV1Api).createSelfSubjectReview({
      body: { apiVersion: "authentication.k8s.io/v1", kind: "SelfSubjectReview" },
    });
    return (review.status?.userInfo ?? {}) as ReviewedUser;
  } catch (err) {
    const problem = credentialProblemOfError(err) ?? {
      kind: "unreachable" as const,
      evidence: (err instanceof Error ? err.message : String(err)).split("\n")[0],
    };
    const server = kc.getCurrentCluster()?.server;
    throw new CliError(
      `${describeScopedProblem({ ...problem, server: problem.server ?? server }, ctx)} Nothing was changed.`,
    );
  }
}

/**
 * Helm releases of the stack whose newest revision an interrupted deploy left pending (older than
 * `before`, the moment the stack was found unlocked): pending-upgrade/-rollback are marked failed
 * (said on stderr); a pending-install stops the deploy with the command to run.
 */
async function repairStuckReleases(
  kc: KubeConfig,
  target: DeliveryTarget,
  args: DeployArgs,
  before: Date,
  io: Io,
): Promise<void> {
  const { CoreV1Api } = await import("@kubernetes/client-node");
  const core = kc.makeApiClient(CoreV1Api);
  for (const [stage, { namespace, releases }] of Object.entries(target.stages)) {
    for (const release of releases) {
      let list;
      try {
        list = await core.listNamespacedSecret({
          namespace,
          labelSelector: `owner=helm,name=${release}`,
        });
      } catch (err) {
        // Not worth stopping for: the up itself says what is wrong (a namespace not there yet).
        const why = (err instanceof Error ? err.message : String(err)).split("\n")[0];
        io.stderr(
          `== release ${release} of stage ${stage}: Helm's history not readable (${why}); not checked\n`,
        );
        continue;
      }
      const newest = newestRevision(list.items);
      if (!newest || !PENDING_STATUSES.includes(newest.status)) continue;
      if (newest.created && newest.created.getTime() >= before.getTime()) continue; // someone else's, now
      const what = `release ${release} of stage ${stage} (namespace ${namespace}): revision ${newest.revision} is ${newest.status}`;
      if (newest.status === "pending-install") {
        throw new CliError(
          `${what}, left by a first deploy that was interrupted; it never ran. Nothing was changed. ` +
            `Remove it with the scoped kubeconfig, then rerun: ` +
            `helm uninstall ${release} --namespace ${namespace} --kubeconfig <the scoped kubeconfig>`,
        );
      }
      const secret = await core.readNamespacedSecret({ name: newest.secretName, namespace });
      const data = secret.data?.release;
      if (!data)
        throw new CliError(
          `${what}, and its storage Secret ${newest.secretName} has no release data`,
        );
      const reason = `scoped-cd deploy: ${newest.status} left by an interrupted deploy (stack ${args.stack} unlocked, revision older than this run); marked failed`;
      const fixed = markedFailed(await decodeHelmRelease(data), reason);
      await core.replaceNamespacedSecret({
        name: newest.secretName,
        namespace,
        body: {
          ...secret,
          metadata: {
            ...secret.metadata,
            labels: { ...secret.metadata?.labels, status: "failed" },
          },
          data: { ...secret.data, release: await encodeHelmRelease(fixed) },
        },
      });
      io.stderr(
        `== ${what}, left by an interrupted deploy (the stack is unlocked and the revision predates this run): marked failed, so this up upgrades from the last deployed revision\n`,
      );
    }
  }
}

/**
 * After a failed up: the reasons of the stage pods that are not Ready and the Warnings pods got
 * since the up started (an image that cannot be pulled, a crash loop), which Helm's and Pulumi's
 * timeouts leave unsaid. Best effort: a read that fails adds nothing to the message.
 */
async function podsNotReady(kc: KubeConfig, target: DeliveryTarget, since: Date): Promise<string> {
  const { CoreV1Api } = await import("@kubernetes/client-node");
  const core = kc.makeApiClient(CoreV1Api);
  const pods = [];
  const events = [];
  for (const { namespace } of Object.values(target.stages)) {
    try {
      pods.push(...(await core.listNamespacedPod({ namespace })).items);
      events.push(...(await core.listNamespacedEvent({ namespace })).items);
    } catch {
      // The failure above already says what is wrong with the credential or the server.
    }
  }
  return describePodProblems(pods, podWarnings(events, since));
}

/**
 * Before `up`: refuse a locked stack (or clear a lock proven dead) and interrupted creates; repair
 * stuck Helm revisions. Returns the lock witness file for this up, for the backends read here.
 */
async function recoverInterrupted(
  stack: Stack,
  args: DeployArgs,
  target: DeliveryTarget,
  kc: KubeConfig | undefined,
  io: Io,
): Promise<LockWitnessFile | undefined> {
  const started = new Date();
  const witness = await clearDeadLocks(stack, args.stack, args.workDir, io);
  const pending = pendingOperationsOf(await stack.exportStack());
  const creates = pending.filter((p) => p.type === "creating" || p.type === "importing");
  if (creates.length > 0) {
    throw new CliError(describePendingCreates(args.stack, args.workDir, creates));
  }
  for (const p of pending) {
    io.stderr(
      `== the last update of ${args.stack} was interrupted while ${p.type} ${p.urn}; this up re-applies it from the last recorded state\n`,
    );
  }
  // Helm storage is read with the scoped kubeconfig; without the file (accessStack) there is none
  // here, and a stuck release shows as Helm's "another operation is in progress" (explained below).
  if (kc && witness) await repairStuckReleases(kc, target, args, started, io);
  return witness;
}

/** The failed up, explained when the cause is known: a credential, the server, a lock, Helm. */
export function deployFailure(
  args: Pick<DeployArgs, "stack" | "workDir">,
  ctx: ScopedCredentialContext,
  failure: string,
  backendUrl: string | undefined = process.env.PULUMI_BACKEND_URL,
): string {
  const base = `pulumi up of stack ${args.stack} failed:\n${failure}`;
  const holders = locksOfRefusal(failure);
  if (/currently locked by \d+ lock/i.test(failure) && holders.length > 0) {
    // A deploy that took the lock between our check and this up's (or a backend not read here).
    return describeLocks(args.stack, args.workDir, holders);
  }
  if (/currently locked by \d+ lock|Another update is currently in progress/i.test(failure)) {
    return (
      `${base}\nAnother deploy of ${args.stack} holds the stack; this one changed nothing. ` +
      `If none is running (its agent died), clear the lock and rerun: (cd ${args.workDir} && pulumi cancel --stack ${args.stack} --yes)`
    );
  }
  if (/another operation \(install\/upgrade\/rollback\) is in progress/.test(failure)) {
    return (
      `${base}\nA Helm release of the stack was left pending by an interrupted deploy. ` +
      `Rerun scoped-cd deploy with --kubeconfig-file, which marks such a revision failed when the stack is unlocked and the revision predates the run ` +
      `(or, with the scoped kubeconfig: helm rollback <release> --namespace <namespace>).`
    );
  }
  const backend = describeBackendFailure(failure, backendUrl, args.stack);
  if (backend) return backend;
  const problem = credentialProblemOf(failure);
  return problem ? `${base}\n${describeScopedProblem(problem, ctx)}` : base;
}

export async function runDeploy(args: DeployArgs, io: Io): Promise<ExitCode> {
  const kubeconfigYaml = args.kubeconfig ? readKubeconfig(args.kubeconfig) : undefined;
  // Nothing may fall back to an ambient (admin) kubeconfig: the engine inherits this environment.
  delete process.env.KUBECONFIG;
  const warning = passwordInUrlWarning(process.env.PULUMI_BACKEND_URL);
  if (warning) io.stderr(`== warning: ${warning}\n`);
  let stack: Stack;
  try {
    stack = await LocalWorkspace.selectStack({ stackName: args.stack, workDir: args.workDir });
  } catch (err) {
    const failure = commandFailure(err);
    const backend = describeBackendFailure(failure, process.env.PULUMI_BACKEND_URL, args.stack);
    throw backend ? new CliError(`${backend} Nothing was changed.`) : err;
  }
  const mode = await stackMode(stack);
  if (mode !== "delivery") {
    throw new CliError(
      `stack ${args.stack} is in mode ${mode}; deploy runs delivery stacks only (operators use handoff for access stacks)`,
    );
  }
  const target = await deliveryTarget(stack);
  const ctx: ScopedCredentialContext = {
    stack: args.stack,
    stages: Object.keys(target.stages),
    accessStack: target.accessStack,
    source: args.kubeconfig ? "file" : "access-stack",
  };
  const kc = kubeconfigYaml === undefined ? undefined : await loadKubeconfig(kubeconfigYaml);
  const identity = kc ? await checkScopedCredential(kc, ctx) : undefined;
  const witness = await recoverInterrupted(stack, args, target, kc, io);

  // In JSON mode stdout carries the document only; the engine's progress goes to stderr.
  // The engine's text goes through the backend mask: it may quote the backend URL.
  const out = args.output === "json" ? io.stderr : io.stdout;
  const progress = (text: string) => out(maskBackendSecrets(text));
  // The witness of this up's `pulumi` process: what lets a later deploy prove the lock it leaves
  // (killed, backend down) dead and clear it. Kept when the up fails, removed when it succeeds.
  const up = (configFile?: string) =>
    withLockWitness(witness, args.stack, () =>
      stack.up({ diff: true, color: "never", configFile, onOutput: progress }),
    );
  let result: UpResult;
  const upStarted = new Date();
  try {
    if (args.kubeconfig) {
      io.stderr(`== ${args.stack}: the scoped kubeconfig from --kubeconfig-file, as secret config for this run only
`);
      result = await withScopedKubeconfig(args.workDir, args.stack, args.kubeconfig.path, up);
    } else {
      result = await up();
    }
  } catch (err) {
    const failure = deployFailure(args, ctx, commandFailure(err));
    const pods = kc ? await podsNotReady(kc, target, upStarted) : "";
    throw new CliError(pods ? `${failure}\n${pods}` : failure);
  }
  if (args.output === "json") writeJson(io, deployJson(args.stack, result, identity));
  else
    io.stdout(`\n${renderStagesTable(stagesOf(result.outputs))}\n${auditHint(identity, target)}`);
  return EXIT_OK;
}
