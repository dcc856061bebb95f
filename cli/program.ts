// The `scoped-cd` command: one commander program with the subcommands of cli/commands/. Each
// subcommand validates its options into plain args (a usage error exits 2 before anything runs),
// then runs. Every error line reads `scoped-cd <subcommand>: <message>`; a user error never shows
// a stack trace.
import { Command, CommanderError } from "commander";
import { auditArgs, defineAudit, runAudit } from "./commands/audit";
import { defineDemo, demoArgs, runDemo } from "./commands/demo";
import { defineDeploy, deployArgs, runDeploy } from "./commands/deploy";
import { defineDrift, driftArgs, runDrift } from "./commands/drift";
import { defineHandoff, handoffArgs, runHandoff } from "./commands/handoff";
import { defineHelm2, helm2Args, runHelm2 } from "./commands/helm2";
import { defineRevoke, revokeArgs, runRevoke } from "./commands/revoke";
import { defineVerify, runVerify, verifyArgs } from "./commands/verify";
import { CliError, commandFailure } from "./errors";
import { EXIT_COULD_NOT_RUN, EXIT_OK, ExitCode } from "./exitCodes";
import { maskBackendSecrets } from "./lib/backend";
import { Io, processIo } from "./io";

/** What each subcommand does once its args are valid; the tests replace them. */
export interface Runners {
  readonly deploy: typeof runDeploy;
  readonly handoff: typeof runHandoff;
  readonly drift: typeof runDrift;
  readonly verify: typeof runVerify;
  readonly demo: typeof runDemo;
  readonly helm2: typeof runHelm2;
  readonly revoke: typeof runRevoke;
  readonly audit: typeof runAudit;
}

const RUNNERS: Runners = {
  deploy: runDeploy,
  handoff: runHandoff,
  drift: runDrift,
  verify: runVerify,
  demo: runDemo,
  helm2: runHelm2,
  revoke: runRevoke,
  audit: runAudit,
};

/** `scoped-cd deploy: <message>` (or `scoped-cd: <message>` outside a subcommand). */
export function errorLine(subcommand: string | undefined, message: string): string {
  // Every error passes here: the state backend's password (URL or PGPASSWORD) never gets out.
  return `scoped-cd${subcommand ? ` ${subcommand}` : ""}: ${maskBackendSecrets(message.trimEnd())}\n`;
}

export interface RunState {
  subcommand?: string;
  code: ExitCode;
}

/**
 * The whole command tree. `run` parses with it; cli/reference.ts renders docs/cli.md from it (the
 * defaults build it without running anything).
 */
export function buildProgram(
  io: Io = processIo,
  runners: Runners = RUNNERS,
  state: RunState = { code: EXIT_OK },
): Command {
  const output = (name?: string) => ({
    writeOut: io.stdout,
    writeErr: io.stderr,
    // commander's own messages start with "error: " and may add a suggestion on a second line;
    // ours are one line that says which subcommand speaks.
    outputError: (text: string, write: (s: string) => void) =>
      write(
        errorLine(
          name,
          text
            .replace(/^error: /, "")
            .trimEnd()
            .replace(/\n/g, " "),
        ),
      ),
  });
  const program = new Command("scoped-cd")
    .description(
      "Deploy Helm charts per stage through a namespace-scoped identity, never the admin credential.",
    )
    .exitOverride()
    .configureOutput(output())
    .showSuggestionAfterError()
    .addHelpText(
      "after",
      `
Exit codes: 0 ok, 1 drift/changes/surprise found, 2 usage error or could not run, 3 declined.

Examples:
  $ scoped-cd deploy --stack test --kubeconfig-file test=/run/secrets/test.kubeconfig
  $ scoped-cd verify --stack test --kubeconfig-file test=/run/secrets/test.kubeconfig
  $ scoped-cd drift --stack test --stack preprod --out drift-report.md
  $ scoped-cd handoff --stack prod-access
  $ scoped-cd helm2 --stack test-access --stage test -- ls
  $ scoped-cd demo`,
    );

  const add = <O, A>(
    name: keyof Runners,
    define: (p: Command) => Command,
    validate: (opts: O) => A,
    run: (args: A, io: Io) => Promise<ExitCode>,
  ) => {
    define(program)
      .configureOutput(output(name))
      .action(async (opts: O) => {
        state.subcommand = name;
        state.code = await run(validate(opts), io);
      });
  };
  add("deploy", defineDeploy, deployArgs, runners.deploy);
  add("handoff", defineHandoff, handoffArgs, runners.handoff);
  add("drift", defineDrift, driftArgs, runners.drift);
  add("verify", defineVerify, verifyArgs, (a, i) => runners.verify(a, i));
  add("demo", defineDemo, demoArgs, runners.demo);
  add("revoke", defineRevoke, revokeArgs, runners.revoke);
  add("audit", defineAudit, auditArgs, runners.audit);
  // helm2 takes Helm's arguments as operands (after --), so it is wired by hand.
  defineHelm2(program)
    .configureOutput(output("helm2"))
    .action(async (helmArgs: string[], opts: Parameters<typeof helm2Args>[0]) => {
      state.subcommand = "helm2";
      state.code = await runners.helm2(helm2Args(opts, helmArgs), io);
    });
  return program;
}

/** Run `scoped-cd` with the arguments after the command name; resolves with the exit code. */
export async function run(
  argv: readonly string[],
  io: Io = processIo,
  runners: Partial<Runners> = {},
): Promise<ExitCode> {
  const state: RunState = { code: EXIT_OK };
  const program = buildProgram(io, { ...RUNNERS, ...runners }, state);
  try {
    await program.parseAsync([...argv], { from: "user" });
    return state.code;
  } catch (err) {
    if (err instanceof CommanderError) {
      // Already printed by commander (help, version, or a usage error in our prefix style).
      return err.code === "commander.helpDisplayed" || err.code === "commander.version"
        ? EXIT_OK
        : EXIT_COULD_NOT_RUN;
    }
    if (err instanceof CliError) {
      io.stderr(errorLine(state.subcommand, err.message));
      return err.exitCode;
    }
    // Anything else is a failure we did not foresee: say what, still without a stack trace.
    io.stderr(errorLine(state.subcommand, `could not run: ${commandFailure(err)}`));
    return EXIT_COULD_NOT_RUN;
  }
}
