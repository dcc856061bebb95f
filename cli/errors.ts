// The one error type of the CLI, and turning a failed Pulumi CLI run (the Automation API's
// CommandError) into a short, plain reason. Every error line is `scoped-cd <subcommand>: <message>`
// (see program.ts); a user error never shows a stack trace.
import { stripVTControlCharacters } from "node:util";
import { EXIT_COULD_NOT_RUN, ExitCode } from "./exitCodes";

/** An error the user can act on: its message is printed as is, and the CLI exits with exitCode. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: ExitCode = EXIT_COULD_NOT_RUN,
  ) {
    super(message);
    this.name = "CliError";
  }
}

/** Drop ANSI escapes and Pulumi's `<{%...%}>` colour directives from CLI text. */
export function plainText(text: string): string {
  // Pulumi's own colour directives are not ANSI, so Node's stripper leaves them: one regex stays.
  return stripVTControlCharacters(text).replace(/<\{%[^%]*%\}>/g, "");
}

/** The last lines of the CLI's stderr for a CommandError, else the error's message. */
export function commandFailure(err: unknown, maxLines = 20): string {
  // A CommandError's message embeds the CLI's whole stdout; only its stderr says what went wrong.
  const stderr = (err as { commandResult?: { stderr?: unknown } } | undefined)?.commandResult
    ?.stderr;
  if (typeof stderr === "string" && stderr.trim()) {
    return plainText(stderr).trim().split("\n").slice(-maxLines).join("\n");
  }
  return plainText(err instanceof Error ? err.message : String(err));
}
