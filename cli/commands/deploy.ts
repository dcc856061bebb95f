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
import { LocalWorkspace, UpResult } from "@pulumi/pulumi/automation";
import { CliError, commandFailure } from "../errors";
import { EXIT_OK, ExitCode } from "../exitCodes";
import { Io, OutputFormat, writeJson } from "../io";
import { assertReadable, KubeconfigSource, kubeconfigSourcesFor } from "../lib/kubeconfigSource";
import { withScopedKubeconfig } from "../lib/scopedConfig";
import { renderStagesTable, stackMode, stagesOf } from "../lib/stages";
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
      "Run `pulumi up` of one delivery stack (any other mode is refused). The scoped kubeconfig from --kubeconfig-file is secret config for this run only; KUBECONFIG is unset.\n\nExit: 0 deployed, 2 could not run or the update failed.",
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
export function deployJson(stack: string, up: Pick<UpResult, "summary" | "outputs">) {
  return { stack, result: up.summary.result, stages: stagesOf(up.outputs) };
}

export async function runDeploy(args: DeployArgs, io: Io): Promise<ExitCode> {
  if (args.kubeconfig) assertReadable(args.kubeconfig);
  // Nothing may fall back to an ambient (admin) kubeconfig: the engine inherits this environment.
  delete process.env.KUBECONFIG;
  const stack = await LocalWorkspace.selectStack({ stackName: args.stack, workDir: args.workDir });
  const mode = await stackMode(stack);
  if (mode !== "delivery") {
    throw new CliError(
      `stack ${args.stack} is in mode ${mode}; deploy runs delivery stacks only (operators use handoff for access stacks)`,
    );
  }
  // In JSON mode stdout carries the document only; the engine's progress goes to stderr.
  const progress = args.output === "json" ? io.stderr : io.stdout;
  const up = (configFile?: string) =>
    stack.up({ diff: true, color: "never", configFile, onOutput: progress });
  let result: UpResult;
  try {
    if (args.kubeconfig) {
      io.stderr(`== ${args.stack}: the scoped kubeconfig from --kubeconfig-file, as secret config for this run only
`);
      result = await withScopedKubeconfig(args.workDir, args.stack, args.kubeconfig.path, up);
    } else {
      result = await up();
    }
  } catch (err) {
    throw new CliError(`pulumi up of stack ${args.stack} failed:\n${commandFailure(err)}`);
  }
  if (args.output === "json") writeJson(io, deployJson(args.stack, result));
  else io.stdout(`\n${renderStagesTable(stagesOf(result.outputs))}\n`);
  return EXIT_OK;
}
