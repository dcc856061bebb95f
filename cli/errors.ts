// Turning a failed Pulumi CLI run (the Automation API's CommandError) into a short, plain reason.
// A CommandError's message embeds the CLI's whole stdout; only its stderr says what went wrong.

/** Drop ANSI escapes and Pulumi's `<{%...%}>` colour directives from CLI text. */
export function plainText(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/\u001b\[[0-9;]*m/g, "").replace(/<\{%[^%]*%\}>/g, "");
}

/** The last lines of the CLI's stderr for a CommandError, else the error's message. */
export function commandFailure(err: unknown, maxLines = 20): string {
  const stderr = (err as { commandResult?: { stderr?: unknown } } | undefined)?.commandResult
    ?.stderr;
  if (typeof stderr === "string" && stderr.trim()) {
    return plainText(stderr).trim().split("\n").slice(-maxLines).join("\n");
  }
  return plainText(err instanceof Error ? err.message : String(err));
}
