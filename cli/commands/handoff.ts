// `scoped-cd handoff`, for operators: `pulumi up` of an access stack with the admin kubeconfig
// (KUBECONFIG or ~/.kube/config; it never leaves this machine), then the stage's scoped kubeconfig
// from the stack's secret `kubeconfigs` output straight into a 0600 file for Jenkins' credentials
// store. The kubeconfig is never printed. The up is cli/lib/accessUp.ts's: one checkpoint at the end,
// then the sweep of what a lost earlier up left.
import * as path from "node:path";
import { createInterface } from "node:readline/promises";
import { Command, Option } from "commander";
import { LocalWorkspace, OutputMap, Stack } from "@pulumi/pulumi/automation";
import { OUTPUT_NAMES } from "../../components/outputs";
import { CliError, commandFailure } from "../errors";
import { EXIT_DECLINED, EXIT_OK, ExitCode } from "../exitCodes";
import { Io } from "../io";
import { upAccessStack } from "../lib/accessUp";
import { writePrivateFile } from "../lib/privateFile";
import { stackMode } from "../lib/stages";
import { outOption, stackOption, stageOption, workDirOption, yesOption } from "../options";

export interface HandoffArgs {
  readonly stack: string;
  readonly stage?: string;
  /** Undefined: .local/handoff/<stage>.kubeconfig under the work dir. */
  readonly out?: string;
  readonly yes: boolean;
  readonly up: boolean;
  readonly workDir: string;
}

interface HandoffOptions {
  stack?: string;
  stage?: string;
  out?: string;
  yes?: boolean;
  up: boolean;
  workDir: string;
}

export function defineHandoff(program: Command): Command {
  return program
    .command("handoff")
    .summary("operators: deploy an access stack, write a stage's scoped kubeconfig to a 0600 file")
    .description(
      "Run `pulumi up` of an access stack with the admin kubeconfig (after showing the preview and asking, unless --yes), then write the stage's scoped kubeconfig to a file of mode 0600. The kubeconfig is never printed. The up writes its state once, at the end; a lock left by a handoff killed on this agent is cleared when its witness proves the holder gone, and after the up every deployer or Tiller identity (ServiceAccount, token Secret) in the stack's namespaces that the state does not hold and that predates the up is deleted, each one named.\n\nExit: 0 written, 2 could not run, 3 declined.",
    )
    .addOption(stackOption("the access stack (e.g. prod-access)"))
    .addOption(
      stageOption("the stage whose kubeconfig is handed over (default: the stack's only stage)"),
    )
    .addOption(
      outOption(
        "where to write it (default: <work-dir>/.local/handoff/<stage>.kubeconfig, git-ignored)",
      ),
    )
    .addOption(yesOption("do not ask before `pulumi up`"))
    .addOption(new Option("--no-up", "only write the kubeconfig of what is already deployed"))
    .addOption(workDirOption())
    .addHelpText(
      "after",
      `
Examples:
  $ scoped-cd handoff --stack prod-access                  # preview, ask, up, write the file
  $ scoped-cd handoff --stack prod-access --stage prod --out /secure/prod.kubeconfig --yes
  $ scoped-cd handoff --stack prod-access --no-up          # only (re)write the file`,
    );
}

export function handoffArgs(opts: HandoffOptions): HandoffArgs {
  if (!opts.stack) throw new CliError("--stack is required");
  if (opts.yes && !opts.up)
    throw new CliError("--yes and --no-up together: there is nothing to confirm");
  return {
    stack: opts.stack,
    stage: opts.stage,
    out: opts.out === undefined ? undefined : path.resolve(opts.out),
    yes: opts.yes === true,
    up: opts.up,
    workDir: path.resolve(opts.workDir),
  };
}

/** Ask on the terminal; no terminal means no answer, which is not a yes. */
async function confirm(question: string): Promise<boolean> {
  if (!process.stdin.isTTY) {
    throw new CliError("confirmation needed and stdin is not a terminal: pass --yes");
  }
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return /^y(es)?$/i.test((await rl.question(question)).trim());
  } finally {
    rl.close();
  }
}

/** The stack's outputs after the up (read from the state the up left), or undefined if declined. */
async function deployAccessStack(
  stack: Stack,
  args: HandoffArgs,
  io: Io,
): Promise<OutputMap | undefined> {
  const admin = process.env.KUBECONFIG ?? "~/.kube/config";
  try {
    if (!args.yes) {
      io.stderr(`== pulumi preview ${args.stack} (admin kubeconfig: ${admin})\n`);
      await stack.preview({ diff: true, color: "never", onOutput: io.stderr });
      if (!(await confirm(`Deploy ${args.stack}? [y/N] `))) return undefined;
    }
    io.stderr(`== pulumi up ${args.stack} (admin kubeconfig: ${admin})\n`);
    const result = await upAccessStack(stack, {
      stackName: args.stack,
      workDir: args.workDir,
      io,
      onOutput: io.stderr,
    });
    return result.outputs;
  } catch (err) {
    if (err instanceof CliError) throw err;
    throw new CliError(`pulumi up of stack ${args.stack} failed:\n${commandFailure(err)}`);
  }
}

/** The stage's kubeconfig from the stack's secret output (decrypted by the Automation API). */
function scopedKubeconfig(
  outputs: OutputMap,
  args: HandoffArgs,
): { stage: string; kubeconfig: string } {
  const kubeconfigs = (outputs[OUTPUT_NAMES.kubeconfigs]?.value ?? {}) as Record<string, string>;
  const stages = Object.keys(kubeconfigs);
  if (stages.length === 0) {
    throw new CliError(`stack ${args.stack} exports no kubeconfigs: has it been deployed?`);
  }
  const stage = args.stage ?? (stages.length === 1 ? stages[0] : undefined);
  if (!stage) {
    throw new CliError(
      `stack ${args.stack} has several stages (${stages.join(", ")}): add --stage`,
    );
  }
  const kubeconfig = kubeconfigs[stage];
  if (typeof kubeconfig !== "string" || kubeconfig === "") {
    throw new CliError(
      `stack ${args.stack} has no kubeconfig for stage ${stage} (it has ${stages.join(", ")})`,
    );
  }
  return { stage, kubeconfig };
}

export async function runHandoff(args: HandoffArgs, io: Io): Promise<ExitCode> {
  const stack = await LocalWorkspace.selectStack({ stackName: args.stack, workDir: args.workDir });
  const mode = await stackMode(stack);
  if (mode !== "access") {
    throw new CliError(
      `stack ${args.stack} is in mode ${mode}, not access; handoff deploys access stacks only`,
    );
  }
  const outputs = args.up ? await deployAccessStack(stack, args, io) : await stack.outputs();
  if (!outputs) {
    io.stderr(`== not deployed; nothing written\n`);
    return EXIT_DECLINED;
  }
  const { stage, kubeconfig } = scopedKubeconfig(outputs, args);
  const out = args.out ?? path.join(args.workDir, ".local", "handoff", `${stage}.kubeconfig`);
  writePrivateFile(out, kubeconfig);
  const shown = path.relative(process.cwd(), out) || out;
  io.stderr(
    `== scoped kubeconfig of stage ${stage} written to ${shown} (mode 0600; content not shown)
Hand it to Jenkins as a "Secret file" credential with ID scoped-cd-kubeconfig-${stage}
(Manage Jenkins > Credentials > the scoped-cd folder's store > Add/Update credentials > upload
${shown}), then delete it here: shred -u "${shown}"
Check it first if you like: scoped-cd verify --stack ${args.stack} --stage ${stage} --kubeconfig-file "${args.stack}=${shown}"
`,
  );
  return EXIT_OK;
}
