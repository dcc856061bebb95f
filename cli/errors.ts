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

/** A failed Pulumi CLI run's stderr (a CommandError's), as plain text; undefined for any other error. */
export function commandStderr(err: unknown): string | undefined {
  // A CommandError's message embeds the CLI's whole stdout; only its stderr says what went wrong.
  const stderr = (err as { commandResult?: { stderr?: unknown } } | undefined)?.commandResult
    ?.stderr;
  return typeof stderr === "string" ? plainText(stderr) : undefined;
}

/**
 * The lines of a failed run's stderr worth showing: those that name an error, and the cause the
 * Kubernetes provider puts on a line of its own after "Server-Side Apply field conflict detected"
 * (it has no "error" in it, and it says whether another field manager or a 409 inside the API
 * server refused the apply). Everything else there (the outputs, the summary) is not the reason.
 */
const REASON = /\berror\b|had an apply conflict|Operation cannot be fulfilled/i;

/**
 * Why a Pulumi CLI run failed, briefly: for a CommandError, the CLI's exit code and the reason
 * lines of its stderr (else the last lines of it); otherwise the error's message.
 */
export function commandFailure(err: unknown, maxLines = 20): string {
  const stderr = commandStderr(err);
  if (stderr !== undefined) {
    const code = (err as { commandResult: { code?: unknown } }).commandResult.code;
    const lines = stderr.trim().split("\n");
    const errors = lines.filter((l) => REASON.test(l));
    const shown = (errors.length > 0 ? errors : lines).slice(-maxLines).join("\n").trim();
    return `${shown || "(no message on stderr)"} (pulumi exit code ${String(code)})`;
  }
  return plainText(err instanceof Error ? err.message : String(err));
}
