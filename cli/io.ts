// Where a subcommand writes: stdout for its result (a report, a table, JSON), stderr for progress
// and errors. Injected so the tests can capture both.
export interface Io {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
}

export const processIo: Io = {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
};

export type OutputFormat = "text" | "json";

/** JSON output: one document, two-space indented, newline-terminated. */
export function writeJson(io: Io, value: unknown): void {
  io.stdout(`${JSON.stringify(value, null, 2)}\n`);
}
