// `scoped-cd drift`: a refreshing preview (`pulumi preview --refresh --diff`) of each stack through
// the Automation API, rendered into one Markdown report (cli/lib/driftReport.ts) for the pull
// request. Exit 0: clean; 1: changes or drift; 2: some stack could not be previewed (the report
// says why).
//
// It needs only what the stack's own `pulumi preview` needs: the backend and passphrase, plus the
// scoped kubeconfig for a delivery stack. It never asks for secrets to be shown: the engine blinds
// them in events, and the renderer masks them again by key and shape.
//
// The stacks are previewed concurrently (`--concurrency`, default all at once): each preview is
// mostly waiting on its API server, so the report takes about as long as the slowest stack.
//
// Besides the preview, each stage's namespace is searched for RoleBindings that grant a stage Role
// to an identity scoped-cd did not make (possible with allowRbac, and not undone by a rotation),
// and inventoried for objects nothing of the stack declares (cli/lib/inventory.ts): the preview
// cannot see either because no stack owns them.
//
// And each Helm release the preview plans is rendered and dry-run as the stage's scoped identity
// (cli/lib/admissionPreview.ts): a chart change a guardrail would refuse fails the check (exit 1)
// before it fails the deploy. The identity is the kubeconfig file given for the stack, else the
// stack's own `kubeconfigs` output, else its access stack's (`scoped-cd:accessStack`).
import * as fs from "node:fs";
import * as path from "node:path";
import { Command, InvalidArgumentError, Option } from "commander";
import { EngineEvent, LocalWorkspace, Stack } from "@pulumi/pulumi/automation";
import { OUTPUT_NAMES, StageSummary } from "../../components/outputs";
import { CliError, commandFailure, plainText } from "../errors";
import { EXIT_COULD_NOT_RUN, EXIT_FOUND, EXIT_OK, ExitCode } from "../exitCodes";
import { Io, OutputFormat, writeJson } from "../io";
import {
  analyze,
  driftExitCode,
  renderDriftReport,
  StackPreview,
  UndeclaredInStage,
} from "../lib/driftReport";
import { strayGrantsIn } from "../lib/identityCheck";
import {
  assertReadable,
  KubeconfigSource,
  kubeconfigSourcesFor,
  readKubeconfig,
} from "../lib/kubeconfigSource";
import { stackMode, stagesOf } from "../lib/stages";
import { stageInventory } from "../lib/inventory";
import { deliveryCredentialHint } from "../lib/credentialProblems";
import { withScopedKubeconfig } from "../lib/scopedConfig";
import { checkRelease, ReleaseAdmission, releaseTargets } from "../lib/admissionPreview";
import {
  kubeconfigFileOption,
  outOption,
  outputOption,
  repeatableStackOption,
  workDirOption,
} from "../options";

export interface DriftArgs {
  readonly stacks: readonly string[];
  /** stack -> the scoped kubeconfig to preview it with */
  readonly kubeconfigs: ReadonlyMap<string, KubeconfigSource>;
  readonly out: string;
  readonly workDir: string;
  readonly output: OutputFormat;
  /** How many stacks are previewed at once. */
  readonly concurrency: number;
}

interface DriftOptions {
  stack?: string[];
  kubeconfigFile?: string[];
  out: string;
  workDir: string;
  output: OutputFormat;
  concurrency?: number;
}

function positiveInteger(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError("a whole number, at least 1");
  return n;
}

export function defineDrift(program: Command): Command {
  return program
    .command("drift")
    .summary("refreshing preview of stacks, as a Markdown drift report")
    .description(
      "Preview each stack with --refresh and render one Markdown report (also written to --out), with each stage's identities outside the stack, objects nothing declares, the permission delta of each stage's deployer, and the admission preview of each release (rendered with helm v3 from PATH, dry-run as the stage identity).\n\nExit: 0 clean, 1 changes, drift, undeclared objects or objects admission would refuse, 2 some stack (or some release's admission preview) could not run.",
    )
    .addOption(repeatableStackOption("stack to preview (repeatable, in report order)"))
    .addOption(kubeconfigFileOption(true))
    .addOption(outOption("where to write the Markdown report").default("drift-report.md"))
    .addOption(workDirOption())
    .addOption(outputOption())
    .addOption(
      new Option(
        "--concurrency <n>",
        "how many stacks to preview at once (default: all; 1 previews one after another)",
      ).argParser(positiveInteger),
    )
    .addHelpText(
      "after",
      `
Examples:
  $ scoped-cd drift --stack test --stack preprod --stack prod
  $ scoped-cd drift --stack test --kubeconfig-file test=/run/secrets/test.kubeconfig \\
      --stack prod --kubeconfig-file prod=/run/secrets/prod.kubeconfig --out drift-report.md
  $ scoped-cd drift --stack test --output json`,
    );
}

/** Validate the parsed options (usage errors: exit 2, before anything runs). */
export function driftArgs(opts: DriftOptions): DriftArgs {
  const stacks = opts.stack ?? [];
  if (stacks.length === 0) throw new CliError("at least one --stack is required");
  const duplicate = stacks.find((s, i) => stacks.indexOf(s) !== i);
  if (duplicate) throw new CliError(`--stack ${duplicate} is given twice`);
  const kubeconfigs = kubeconfigSourcesFor(stacks, opts.kubeconfigFile ?? []);
  return {
    stacks,
    kubeconfigs,
    out: path.resolve(opts.out),
    workDir: path.resolve(opts.workDir),
    output: opts.output,
    concurrency: opts.concurrency ?? stacks.length,
  };
}

/** The `--output json` document: the same analysis the Markdown report renders. */
export function driftJson(previews: readonly StackPreview[]) {
  const exitCode = driftExitCode(previews);
  return {
    verdict: (["clean", "changes or drift", "could not run"] as const)[exitCode],
    exitCode,
    stacks: analyze(previews),
  };
}

/**
 * Why a preview failed, for the report: the engine's error diagnostics if it sent any, else the
 * end of the CLI's stderr, else the error message. Never the CLI's stdout (the whole preview).
 */
function failureReason(err: unknown, events: readonly EngineEvent[]): string {
  const diagnostics = events
    .map((e) => e.diagnosticEvent)
    .filter((d) => d?.severity === "error")
    .map((d) => withoutStackTrace(plainText(`${d!.prefix ?? ""}${d!.message}`)).trim())
    .filter((m) => m.length > 0);
  if (diagnostics.length > 0) return [...new Set(diagnostics)].join("\n");
  return commandFailure(err);
}

/** Node's `    at f (file:line)` frames say nothing to a reviewer; the message above them does. */
function withoutStackTrace(text: string): string {
  return text
    .split("\n")
    .filter((line) => !/^\s+at .+/.test(line))
    .join("\n");
}

/**
 * `pulumi stack select` rewrites the project's workspace file: selections of concurrent previews
 * go one after another so no two write it at once (the previews then run side by side).
 */
let selecting: Promise<unknown> = Promise.resolve();
function selectOneAtATime<T>(select: () => Promise<T>): Promise<T> {
  const selected = selecting.then(select, select);
  selecting = selected.catch(() => undefined);
  return selected;
}

async function previewStack(
  stackName: string,
  workDir: string,
  kubeconfig: KubeconfigSource | undefined,
  io: Io,
): Promise<StackPreview> {
  const events: EngineEvent[] = [];
  const preview = async (configFile?: string) => {
    const stack = await selectOneAtATime(() => LocalWorkspace.selectStack({ stackName, workDir }));
    await stack.preview({
      refresh: true,
      diff: true,
      color: "never",
      configFile,
      onEvent: (event) => events.push(event),
    });
    return stack;
  };
  let stack;
  try {
    if (kubeconfig)
      stack = await withScopedKubeconfig(workDir, stackName, kubeconfig.path, preview);
    else stack = await preview();
  } catch (err) {
    const reason = failureReason(err, events);
    const hint = await deliveryCredentialHint(
      reason,
      stackName,
      workDir,
      kubeconfig && readKubeconfig(kubeconfig),
    );
    return { stack: stackName, error: hint ? `${reason}\n${hint}` : reason };
  }
  let strayGrants: string[];
  try {
    strayGrants = await strayGrantsOf(stack, kubeconfig);
  } catch (err) {
    return {
      stack: stackName,
      error: `the preview ran, but the search for identities outside the stack failed: ${commandFailure(err)}`,
    };
  }
  let undeclared: UndeclaredInStage[];
  let reads: string[];
  try {
    undeclared = await undeclaredOf(stack, kubeconfig);
    reads = await readResources(stack);
  } catch (err) {
    return {
      stack: stackName,
      error: `the preview ran, but the inventory of the stage namespaces failed: ${commandFailure(err)}`,
    };
  }
  const admission = await admissionOf(stack, events, workDir, kubeconfig, io);
  return { stack: stackName, events, strayGrants, undeclared, reads, admission };
}

/**
 * The scoped kubeconfig of each stage namespace: the file given (a delivery stack's one stage),
 * else the stack's own output, else its access stack's. Best effort: a namespace left out is
 * reported as not checked.
 */
async function kubeconfigsByNamespace(stack: Stack, workDir: string): Promise<Map<string, string>> {
  const found = new Map<string, string>();
  const add = (outputs: Record<string, { value: unknown }>) => {
    const exported = (outputs[OUTPUT_NAMES.kubeconfigs]?.value ?? {}) as Record<string, string>;
    for (const [stage, summary] of Object.entries(stagesOf(outputs))) {
      if (exported[stage] && !found.has(summary.namespace)) {
        found.set(summary.namespace, exported[stage]);
      }
    }
  };
  add(await stack.outputs());
  let accessStack: string | undefined;
  try {
    accessStack = (await stack.getConfig("scoped-cd:accessStack")).value;
  } catch {
    accessStack = undefined; // not a delivery stack by reference
  }
  if (accessStack) {
    try {
      const access = await selectOneAtATime(() =>
        LocalWorkspace.selectStack({ stackName: accessStack, workDir }),
      );
      add(await access.outputs());
    } catch {
      // unreadable: its namespaces are reported as not checked
    }
  }
  return found;
}

/** The admission preview of every release the preview plans, timed (stderr). */
async function admissionOf(
  stack: Stack,
  events: readonly EngineEvent[],
  workDir: string,
  kubeconfig: KubeconfigSource | undefined,
  io: Io,
): Promise<ReleaseAdmission[]> {
  const targets = releaseTargets(events);
  if (targets.length === 0) return [];
  const t0 = Date.now();
  const given = kubeconfig ? readKubeconfig(kubeconfig) : undefined;
  const byNamespace = given
    ? new Map<string, string>()
    : await kubeconfigsByNamespace(stack, workDir);
  const results: ReleaseAdmission[] = [];
  for (const target of targets) {
    results.push(await checkRelease(target, workDir, given ?? byNamespace.get(target.namespace)));
  }
  const objects = results.reduce((n, r) => n + r.objects, 0);
  const refused = results.reduce((n, r) => n + r.refusals.length, 0);
  io.stderr(
    `admission preview of ${stack.name}: ${objects} objects of ${results.length} releases, ${refused} refused, in ${((Date.now() - t0) / 1000).toFixed(1)}s\n`,
  );
  return results;
}

/** The URNs of the resources the program reads rather than declares (`external` in the state). */
async function readResources(stack: Stack): Promise<string[]> {
  const resources = ((await stack.exportStack()).deployment?.resources ?? []) as {
    urn: string;
    external?: boolean;
  }[];
  return resources.filter((r) => r.external).map((r) => r.urn);
}

/** Each stage's kubeconfig: the file given for a delivery stack, else the stack's own output. */
async function stageKubeconfigs(
  stack: Stack,
  kubeconfig: KubeconfigSource | undefined,
): Promise<{ stage: string; summary: StageSummary; yaml: string }[]> {
  const outputs = await stack.outputs();
  const stages = stagesOf(outputs);
  const exported = (outputs[OUTPUT_NAMES.kubeconfigs]?.value ?? {}) as Record<string, string>;
  const out = [];
  for (const [stage, summary] of Object.entries(stages)) {
    const yaml = kubeconfig ? readKubeconfig(kubeconfig) : exported[stage];
    if (yaml) out.push({ stage, summary, yaml });
  }
  return out;
}

/** The inventory of each stage namespace, as the stage's scoped identity. */
async function undeclaredOf(
  stack: Stack,
  kubeconfig: KubeconfigSource | undefined,
): Promise<UndeclaredInStage[]> {
  const accessOnly = (await stackMode(stack)) === "access";
  const found: UndeclaredInStage[] = [];
  for (const { stage, summary, yaml } of await stageKubeconfigs(stack, kubeconfig)) {
    const inv = await stageInventory(yaml, summary, accessOnly);
    for (const u of inv.undeclared) found.push({ ...u, stage, namespace: summary.namespace });
  }
  return found;
}

/**
 * Stray grants in each stage of the stack, as the stage's scoped identity. A stage whose identity
 * may not list RoleBindings (no allowRbac) has none to report.
 */
async function strayGrantsOf(
  stack: Stack,
  kubeconfig: KubeconfigSource | undefined,
): Promise<string[]> {
  const stray: string[] = [];
  for (const { stage, summary, yaml } of await stageKubeconfigs(stack, kubeconfig)) {
    for (const grant of (await strayGrantsIn(yaml, summary)) ?? []) {
      stray.push(`stage ${stage} (namespace ${summary.namespace}): ${grant}`);
    }
  }
  return stray;
}

/** Run `work` over `items`, at most `limit` at a time; results in the order of `items`. */
async function mapConcurrently<T, R>(
  items: readonly T[],
  limit: number,
  work: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await work(items[i], i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

export async function runDrift(args: DriftArgs, io: Io): Promise<ExitCode> {
  for (const source of args.kubeconfigs.values()) assertReadable(source);
  const total = args.stacks.length;
  const previews = await mapConcurrently(args.stacks, args.concurrency, async (stack, i) => {
    // One whole line per event: with stacks previewed at once, lines of several interleave.
    io.stderr(`[${i + 1}/${total}] previewing ${stack} (refresh) ...\n`);
    const t0 = Date.now();
    const preview = await previewStack(stack, args.workDir, args.kubeconfigs.get(stack), io);
    const seconds = Math.round((Date.now() - t0) / 1000);
    io.stderr(
      `[${i + 1}/${total}] ${stack}: ${"error" in preview ? "FAILED" : "done"} after ${seconds}s\n`,
    );
    return preview;
  });

  const report = renderDriftReport(previews);
  fs.writeFileSync(args.out, report);
  if (args.output === "json") writeJson(io, driftJson(previews));
  else io.stdout(report);
  const code = driftExitCode(previews);
  io.stderr(
    `report written to ${args.out}; exit ${code} (${["clean", "changes, drift or refused at admission", "could not run"][code]})\n`,
  );
  return ([EXIT_OK, EXIT_FOUND, EXIT_COULD_NOT_RUN] as const)[code];
}
