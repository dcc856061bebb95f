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

/** A line that starts one of the CLI's diagnostics (`error: ...`, `warning: ...`). */
const DIAGNOSTIC = /^\s*(error|warning|info|debug):/i;

/**
 * Why a Pulumi CLI run failed, briefly: for a CommandError, the CLI's exit code and the error
 * diagnostics of its stderr, each with its continuation lines (the cause a provider appends on
 * the next line, as the Kubernetes provider does after "Server-Side Apply field conflict
 * detected"), else the last lines of it; otherwise the error's message.
 */
export function commandFailure(err: unknown, maxLines = 20): string {
  // A CommandError's message embeds the CLI's whole stdout; only its stderr says what went wrong.
  const result = (err as { commandResult?: { stderr?: unknown; code?: unknown } } | undefined)
    ?.commandResult;
  if (result && typeof result.stderr === "string") {
    const lines = plainText(result.stderr).trim().split("\n");
    const errors: string[] = [];
    let inError = false;
    for (const line of lines) {
      if (DIAGNOSTIC.test(line)) inError = /^\s*error:/i.test(line);
      else if (line.trim() === "") inError = false;
      if (inError || (!DIAGNOSTIC.test(line) && /\berror\b/i.test(line))) errors.push(line);
    }
    const shown = (errors.length > 0 ? errors : lines).slice(-maxLines).join("\n").trim();
    return `${shown || "(no message on stderr)"} (pulumi exit code ${String(result.code)})`;
  }
  return plainText(err instanceof Error ? err.message : String(err));
}
