// `scoped-cd drift`: a refreshing preview (`pulumi preview --refresh --diff`) of each stack through
// the Automation API, rendered into one Markdown report (cli/lib/driftReport.ts) for the pull
// request. Exit 0: clean; 1: changes or drift; 2: some stack could not be previewed (the report
// says why).
//
// It needs only what the stack's own `pulumi preview` needs: the backend and passphrase, plus the
// scoped kubeconfig for a delivery stack. It never asks for secrets to be shown: the engine blinds
// them in events, and the renderer masks them again by key and shape.
import * as fs from "node:fs";
import * as path from "node:path";
import { Command } from "commander";
import { EngineEvent, LocalWorkspace } from "@pulumi/pulumi/automation";
import { CliError, commandFailure, plainText } from "../errors";
import { EXIT_COULD_NOT_RUN, EXIT_FOUND, EXIT_OK, ExitCode } from "../exitCodes";
import { Io, OutputFormat, writeJson } from "../io";
import { analyze, driftExitCode, renderDriftReport, StackPreview } from "../lib/driftReport";
import { assertReadable, KubeconfigSource, kubeconfigSourcesFor } from "../lib/kubeconfigSource";
import { withScopedKubeconfig } from "../lib/scopedConfig";
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
}

interface DriftOptions {
  stack?: string[];
  kubeconfigFile?: string[];
  out: string;
  workDir: string;
  output: OutputFormat;
}

export function defineDrift(program: Command): Command {
  return program
    .command("drift")
    .summary("refreshing preview of stacks, as a Markdown drift report")
    .description(
      "Preview each stack with --refresh and render one Markdown report (also written to --out).\n\nExit: 0 clean, 1 changes or drift, 2 some stack could not be previewed.",
    )
    .addOption(repeatableStackOption("stack to preview (repeatable, in report order)"))
    .addOption(kubeconfigFileOption(true))
    .addOption(outOption("where to write the Markdown report").default("drift-report.md"))
    .addOption(workDirOption())
    .addOption(outputOption())
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

async function previewStack(
  stackName: string,
  workDir: string,
  kubeconfig: KubeconfigSource | undefined,
): Promise<StackPreview> {
  const events: EngineEvent[] = [];
  const preview = async (configFile?: string) => {
    const stack = await LocalWorkspace.selectStack({ stackName, workDir });
    await stack.preview({
      refresh: true,
      diff: true,
      color: "never",
      configFile,
      onEvent: (event) => events.push(event),
    });
  };
  try {
    if (kubeconfig) await withScopedKubeconfig(workDir, stackName, kubeconfig.path, preview);
    else await preview();
    return { stack: stackName, events };
  } catch (err) {
    return { stack: stackName, error: failureReason(err, events) };
  }
}

export async function runDrift(args: DriftArgs, io: Io): Promise<ExitCode> {
  for (const source of args.kubeconfigs.values()) assertReadable(source);
  const previews: StackPreview[] = [];
  for (const [i, stack] of args.stacks.entries()) {
    io.stderr(`[${i + 1}/${args.stacks.length}] previewing ${stack} (refresh) ... `);
    const t0 = Date.now();
    const preview = await previewStack(stack, args.workDir, args.kubeconfigs.get(stack));
    const seconds = Math.round((Date.now() - t0) / 1000);
    io.stderr("error" in preview ? `FAILED after ${seconds}s\n` : `done in ${seconds}s\n`);
    previews.push(preview);
  }

  const report = renderDriftReport(previews);
  fs.writeFileSync(args.out, report);
  if (args.output === "json") writeJson(io, driftJson(previews));
  else io.stdout(report);
  const code = driftExitCode(previews);
  io.stderr(
    `report written to ${args.out}; exit ${code} (${["clean", "changes or drift", "could not run"][code]})\n`,
  );
  return ([EXIT_OK, EXIT_FOUND, EXIT_COULD_NOT_RUN] as const)[code];
}
