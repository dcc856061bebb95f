// `scoped-cd verify`: with a stage's scoped kubeconfig only, ask the API server the checks of
// cli/lib/verify/checks.ts (today: the containment matrix of the security model, by
// SelfSubjectAccessReview) and print them as a table or JSON.
// Exit 0: every check as expected; 1: any surprise; 2: could not run.
//
// The kubeconfig comes from --kubeconfig-file (what Jenkins holds for a delivery stack) or, for an
// access/all stack, from its secret `kubeconfigs` output. Either way it stays in memory: it is
// parsed, never printed or written anywhere.
import * as path from "node:path";
import { Command, Option } from "commander";
import { LocalWorkspace, Stack } from "@pulumi/pulumi/automation";
import { OUTPUT_NAMES, StackOutputValues, StageSummary } from "../../components/outputs";
import { CliError } from "../errors";
import { EXIT_FOUND, EXIT_OK, ExitCode } from "../exitCodes";
import { Io, OutputFormat, writeJson } from "../io";
import { expiresWithin } from "../../policy/credentials";
import type { UndeclaredObject } from "../../policy/inventory";
import {
  credentialProblemOfError,
  describeScopedProblem,
  ScopedCredentialContext,
} from "../lib/credentialProblems";
import { KubeconfigSource, kubeconfigSourcesFor, readKubeconfig } from "../lib/kubeconfigSource";
import { stackMode } from "../lib/stages";
import { renderTable } from "../lib/table";
import { CheckRow, STAGE_CHECKS, StageCheck, StageTarget } from "../lib/verify/checks";
import { AttackResult, attackSummary, isFailure, runAttacks } from "../lib/verify/attacks";
import {
  kubeconfigFileOption,
  outputOption,
  stackOption,
  stageOption,
  workDirOption,
} from "../options";

export interface VerifyArgs {
  readonly stack: string;
  readonly kubeconfig?: KubeconfigSource;
  readonly stage?: string;
  readonly workDir: string;
  readonly otherNamespace: string;
  readonly output: OutputFormat;
  /** Run the escape-attempt catalogue (policy/attacks.ts) instead of the checks. */
  readonly attacks?: boolean;
}

interface VerifyOptions {
  stack?: string;
  kubeconfigFile?: string[];
  stage?: string;
  workDir: string;
  otherNamespace: string;
  output: OutputFormat;
  attacks?: boolean;
}

export function defineVerify(program: Command): Command {
  return program
    .command("verify")
    .summary("check with a scoped kubeconfig what it may and may not do")
    .description(
      "As the stage's scoped identity, ask the API server every check of the containment matrix (SelfSubjectAccessReview: nothing is created or changed).\n\nExit: 0 all as expected, 1 any surprise, 2 could not run (a refused credential names the hand-over step).",
    )
    .addOption(stackOption("the stack whose stages are checked"))
    .addOption(kubeconfigFileOption(false))
    .addOption(
      stageOption(
        "check only this stage (needed with --kubeconfig-file when the stack has several)",
      ),
    )
    .addOption(workDirOption())
    .addOption(
      new Option(
        "--other-namespace <ns>",
        "a namespace besides kube-system that must be out of reach",
      ).default("default"),
    )
    .addOption(
      new Option(
        "--attacks",
        "run the catalogue of harmless escape attempts instead; exit 1 when one the stage's config does not allow gets through",
      ),
    )
    .addOption(outputOption())
    .addHelpText(
      "after",
      `
Examples:
  $ scoped-cd verify --stack test --kubeconfig-file test=/run/secrets/test.kubeconfig
  $ scoped-cd verify --stack prod-access --stage prod \\
      --kubeconfig-file prod-access=.local/handoff/prod.kubeconfig
  $ scoped-cd verify --stack dev --output json
  $ scoped-cd verify --stack test --attacks --kubeconfig-file test=/run/secrets/test.kubeconfig`,
    );
}

export function verifyArgs(opts: VerifyOptions): VerifyArgs {
  if (!opts.stack) throw new CliError("--stack is required");
  const sources = kubeconfigSourcesFor([opts.stack], opts.kubeconfigFile ?? []);
  return {
    stack: opts.stack,
    kubeconfig: sources.get(opts.stack),
    stage: opts.stage,
    workDir: path.resolve(opts.workDir),
    otherNamespace: opts.otherNamespace,
    output: opts.output,
    ...(opts.attacks ? { attacks: true } : {}),
  };
}

/** The stages to check, each with its kubeconfig (from the file, else the stack's output). */
export function stageTargets(
  args: VerifyArgs,
  outputs: Partial<StackOutputValues>,
  mode?: string,
): StageTarget[] {
  const stages = outputs.stages;
  if (!stages || Object.keys(stages).length === 0) {
    throw new CliError(`stack ${args.stack} has no stages output: has it been deployed?`);
  }
  let names = Object.keys(stages);
  if (args.stage) {
    if (!stages[args.stage]) {
      throw new CliError(
        `stack ${args.stack} has no stage ${args.stage} (it has ${names.join(", ")})`,
      );
    }
    names = [args.stage];
  }
  const target = (stage: string, kubeconfig: string): StageTarget => ({
    stack: args.stack,
    stage,
    summary: stages[stage],
    kubeconfig,
    otherNamespace: args.otherNamespace,
    siblingNamespaces: Object.values(stages)
      .map((s) => s.namespace)
      .filter((ns) => ns !== stages[stage].namespace),
    ...(mode ? { mode } : {}),
  });

  if (args.kubeconfig) {
    if (names.length !== 1) {
      throw new CliError(
        `--kubeconfig-file belongs to one stage, and stack ${args.stack} has ${names.join(", ")}: add --stage`,
      );
    }
    return [target(names[0], readKubeconfig(args.kubeconfig))];
  }
  const kubeconfigs = outputs.kubeconfigs;
  if (!kubeconfigs) {
    throw new CliError(
      `stack ${args.stack} exports no kubeconfigs (a delivery stack): pass --kubeconfig-file ${args.stack}=<path>`,
    );
  }
  return names.map((stage) => {
    if (!kubeconfigs[stage])
      throw new CliError(`stack ${args.stack} has no kubeconfig for ${stage}`);
    return target(stage, kubeconfigs[stage]);
  });
}

export interface StageResult {
  readonly stage: string;
  readonly namespace: string;
  readonly serviceAccount: string | null;
  /** null when the stack does not know whether the stage runs Tiller. */
  readonly tiller: boolean | null;
  readonly checks: readonly CheckRow[];
  readonly surprises: number;
  /** The inventory's undeclared objects (also rows of `checks`). */
  readonly undeclared: readonly UndeclaredObject[];
}

/** The `--output json` document. */
export function verifyJson(stack: string, results: readonly StageResult[]) {
  const surprises = results.reduce((n, r) => n + r.surprises, 0);
  return { stack, ok: surprises === 0, surprises, stages: results };
}

export function renderVerifyTable(rows: readonly CheckRow[]): string {
  return renderTable([
    ["RESULT", "EXPECTED", "ACTUAL", "REQUEST", "NOTE"],
    ...rows.map((r) => [
      r.ok ? "ok" : "SURPRISE",
      r.expected,
      r.actual,
      r.description,
      r.ok ? (r.note ?? "") : [r.note, r.reason].filter(Boolean).join("; "),
    ]),
  ]);
}

export interface AttackStageResult {
  readonly stage: string;
  readonly namespace: string;
  readonly serviceAccount: string | null;
  /** False when the stack does not say what the stage allows (nothing is then allowed by config). */
  readonly allowancesKnown: boolean;
  readonly summary: string;
  readonly allowed: number;
  /** Wall time of the stage's attempts (the figure docs/security.md quotes). */
  readonly seconds: number;
  readonly attempts: readonly AttackResult[];
}

/** The `verify --attacks --output json` document. */
export function attacksJson(stack: string, results: readonly AttackStageResult[]) {
  const allowed = results.reduce((n, r) => n + r.allowed, 0);
  return { stack, ok: allowed === 0, allowed, stages: results };
}

export function renderAttackTable(rows: readonly AttackResult[]): string {
  return renderTable([
    ["CLASS", "ATTEMPT", "RESULT", "ANSWER"],
    ...rows.map((r) => [
      r.class,
      r.attempt,
      r.outcome === "allowed-by-config" ? `allowed by config (${r.allowedBy})` : r.outcome,
      r.answer,
    ]),
  ]);
}

/** The text report of one stage's attempts. */
export function renderAttackStage(stack: string, r: AttackStageResult): string {
  const identity = r.serviceAccount ? `, as ${r.serviceAccount}` : "";
  const lines = [
    `== stack ${stack}, stage ${r.stage} (namespace ${r.namespace}${identity}): escape attempts`,
  ];
  if (!r.allowancesKnown)
    lines.push(
      "   the stack does not say what the stage allows: nothing counts as allowed by config",
    );
  lines.push(renderAttackTable(r.attempts));
  const failed = r.attempts.filter(isFailure);
  if (failed.length) {
    lines.push(
      `   ALLOWED (an escape, or a guardrail missing): ${failed.map((f) => f.id).join(", ")}`,
    );
  }
  lines.push(`   ${r.summary} (${r.seconds} s)`, "");
  return `${lines.join("\n")}\n`;
}

async function runAttackStages(
  args: VerifyArgs,
  io: Io,
  targets: readonly StageTarget[],
  credential: Omit<ScopedCredentialContext, "stages">,
): Promise<ExitCode> {
  const results: AttackStageResult[] = [];
  for (const target of targets) {
    let attempts: AttackResult[];
    const started = Date.now();
    try {
      attempts = await runAttacks(target);
    } catch (err) {
      const message = (err instanceof Error ? err.message : String(err)).split("\n")[0];
      const problem = credentialProblemOfError(err);
      const why = problem
        ? `\n${describeScopedProblem({ ...problem, server: problem.server ?? serverOf(target.kubeconfig) }, { ...credential, stages: [target.stage] })}`
        : "";
      throw new CliError(
        `asking the API server failed for stage ${target.stage} (attacks): ${message}${why}`,
      );
    }
    const result: AttackStageResult = {
      stage: target.stage,
      namespace: target.summary.namespace,
      serviceAccount: target.summary.serviceAccount,
      allowancesKnown: target.summary.allowances != null,
      summary: attackSummary(attempts),
      allowed: attempts.filter(isFailure).length,
      seconds: Math.round((Date.now() - started) / 100) / 10,
      attempts,
    };
    results.push(result);
    if (args.output === "text") io.stdout(renderAttackStage(args.stack, result));
  }
  if (args.output === "json") writeJson(io, attacksJson(args.stack, results));
  return results.every((r) => r.allowed === 0) ? EXIT_OK : EXIT_FOUND;
}

async function checkStage(
  target: StageTarget,
  checks: readonly StageCheck[],
  credential: Omit<ScopedCredentialContext, "stages">,
): Promise<StageResult> {
  const rows: CheckRow[] = [];
  for (const check of checks) {
    try {
      rows.push(...(await check.run(target)));
    } catch (err) {
      // The client's error can quote the request; keep only its first line (never the kubeconfig).
      const message = (err instanceof Error ? err.message : String(err)).split("\n")[0];
      const problem = credentialProblemOfError(err);
      const why = problem
        ? `\n${describeScopedProblem({ ...problem, server: problem.server ?? serverOf(target.kubeconfig) }, { ...credential, stages: [target.stage] })}`
        : "";
      throw new CliError(
        `asking the API server failed for stage ${target.stage} (${check.name}): ${message}${why}`,
      );
    }
    const stranger = rows.find((r) => r.check === "identity" && !r.ok);
    if (stranger) {
      throw new CliError(
        `stage ${target.stage}: ${stranger.description.replace(" (SelfSubjectReview)", "")} expected, but ${stranger.reason}. ` +
          "The other checks would test someone else's rights: fix the cluster's mapping (EKS access entry, GKE, AKS) or the exec plugin's environment, then rerun",
      );
    }
  }
  return {
    stage: target.stage,
    namespace: target.summary.namespace,
    serviceAccount: target.summary.serviceAccount,
    tiller: target.summary.tiller?.enabled ?? null,
    checks: rows,
    surprises: rows.filter((r) => !r.ok).length,
    undeclared: rows
      .filter((r) => r.check === "inventory" && !r.ok && r.object)
      .map((r) => r.object!),
  };
}

export async function runVerify(
  args: VerifyArgs,
  io: Io,
  checks: readonly StageCheck[] = STAGE_CHECKS,
): Promise<ExitCode> {
  if (args.kubeconfig) readKubeconfig(args.kubeconfig); // a missing file is a usage error: before Pulumi
  const stack = await LocalWorkspace.selectStack({ stackName: args.stack, workDir: args.workDir });
  const raw = await stack.outputs();
  const outputs: Partial<StackOutputValues> = {
    stages: raw[OUTPUT_NAMES.stages]?.value as Record<string, StageSummary> | undefined,
    kubeconfigs: raw[OUTPUT_NAMES.kubeconfigs]?.value as Record<string, string> | undefined,
  };
  const mode = await stackMode(stack);
  const credential = {
    stack: args.stack,
    // An access (or all) stack hands over its own kubeconfigs; a delivery stack names its source.
    accessStack:
      mode === "delivery" ? await configString(stack, "scoped-cd:accessStack") : args.stack,
    source: args.kubeconfig ? ("file" as const) : ("access-stack" as const),
  };
  if (args.attacks) return runAttackStages(args, io, stageTargets(args, outputs, mode), credential);
  const results: StageResult[] = [];
  for (const target of stageTargets(args, outputs, mode)) {
    const result = await checkStage(target, checks, credential);
    results.push(result);
    const expiry = credentialExpiryWarning(target.stage, target.summary);
    if (expiry) io.stderr(`warning: ${expiry}\n`);
    if (args.output === "text") {
      const identity = result.serviceAccount ? `, as ${result.serviceAccount}` : "";
      io.stdout(
        `== stack ${args.stack}, stage ${result.stage} (namespace ${result.namespace}${identity})\n`,
      );
      if (result.tiller === null)
        io.stdout("   Tiller unknown to this stack: the port-forward check is left out\n");
      io.stdout(`${renderVerifyTable(result.checks)}\n`);
      io.stdout(
        result.surprises === 0
          ? `   ${result.checks.length} checks, all as expected\n\n`
          : `   ${result.surprises} of ${result.checks.length} checks SURPRISING\n\n`,
      );
    }
  }
  if (args.output === "json") writeJson(io, verifyJson(args.stack, results));
  return results.every((r) => r.surprises === 0) ? EXIT_OK : EXIT_FOUND;
}

/** A string config value of the stack, or undefined when it is not set. */
async function configString(stack: Stack, key: string): Promise<string | undefined> {
  try {
    return (await stack.getConfig(key)).value;
  } catch {
    return undefined;
  }
}

/** The server of a kubeconfig's current cluster (a plain line scan; the YAML stays in memory). */
function serverOf(kubeconfig: string): string | undefined {
  return /^\s*server:\s*(\S+)\s*$/m.exec(kubeconfig)?.[1];
}

/**
 * A warning when the stage's expiring deployer token expires within its configured margin
 * (`deployer.credential.expiryWarningSeconds`), else undefined. Not a surprise: the token still
 * works, but the access stack's `up` should renew it before Jenkins is left with a dead one.
 */
export function credentialExpiryWarning(
  stage: string,
  summary: StageSummary,
  now = Math.floor(Date.now() / 1000),
): string | undefined {
  const c = summary.credential;
  if (c?.kind !== "token" || !c.expiresAt || c.expiryWarningSeconds == null) return undefined;
  const left = expiresWithin(c.expiresAt, c.expiryWarningSeconds, now);
  if (left === undefined) return undefined;
  return left <= 0
    ? `stage ${stage}: the deployer token expired at ${c.expiresAt}; run the access stack's up to mint a new one`
    : `stage ${stage}: the deployer token expires in ${left}s (${c.expiresAt}); run the access stack's up to renew it`;
}
