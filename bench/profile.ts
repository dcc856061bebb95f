// Where a no-change preview's time goes, from the Pulumi CLI's own log: `-v=3 --logtostderr` writes
// one JSON line per event with a nanosecond timestamp, the engine's and (through the language host)
// the Node.js program's alike. Pulumi's tracing flags are the obvious tool but break this program:
// with `--tracing file:` or `--otel-traces file://` the preview registers the stack and nothing
// else, burns about 30 s of CPU in the Node.js runtime and exits 1 without a message (3.274.1,
// measured 2026-12-03), so the log is the profile.

export interface LogEntry {
  /** Milliseconds since the epoch. */
  readonly t: number;
  readonly msg: string;
}

/** The JSON log lines of a `-v=N --logtostderr` run, in order (other lines are skipped). */
export function readVerboseLog(text: string): LogEntry[] {
  const entries: LogEntry[] = [];
  for (const line of text.split("\n")) {
    if (!line.startsWith("{")) continue;
    try {
      const doc = JSON.parse(line) as { time?: string; msg?: string };
      const t = doc.time ? Date.parse(doc.time) + fraction(doc.time) : NaN;
      if (Number.isFinite(t) && typeof doc.msg === "string") entries.push({ t, msg: doc.msg });
    } catch {
      // a line of the engine's display output that starts with a brace
    }
  }
  return entries;
}

/** Sub-millisecond digits of an RFC 3339 time (Date.parse keeps milliseconds only). */
function fraction(time: string): number {
  const m = /\.(\d+)/.exec(time);
  return m && m[1].length > 3 ? Number(`0.${m[1].slice(3)}`) : 0;
}

export interface Phase {
  readonly name: string;
  /** From the first log line, ms. */
  readonly offsetMs: number;
  readonly durationMs: number;
}

/** The first entry matching `re` at or after `from` (index), or -1. */
function find(entries: readonly LogEntry[], re: RegExp, from = 0): number {
  for (let i = from; i < entries.length; i++) if (re.test(entries[i].msg)) return i;
  return -1;
}

/**
 * The preview's phases between log milestones: the CLI's start (backend, stack, config, secrets)
 * until it waits for the language runtime; Node.js and the program's modules until the stack
 * resource registers; the program's own work until the first custom resource registers (config,
 * StackReference, live reads); the resources' registrations and steps until the last finishes;
 * the end (outputs, summary, shutdown of the plugins).
 */
export function previewPhases(entries: readonly LogEntry[]): Phase[] {
  if (entries.length === 0) throw new Error("the log has no JSON lines: was -v given?");
  const marks: { name: string; at: number }[] = [];
  const t0 = entries[0].t;
  const langhost = find(entries, /^Waiting for language runtime metadata/);
  const stack = find(entries, /^Registering resource: t=pulumi:pulumi:Stack/);
  const custom = find(entries, /^Registering resource: .*custom=true/, Math.max(stack, 0));
  let lastStep = -1;
  for (let i = entries.length - 1; i >= 0; i--) {
    if (/^RegisterResource(Outputs)? RPC finished/.test(entries[i].msg)) {
      lastStep = i;
      break;
    }
  }
  const named: [string, number][] = [
    ["CLI start: backend, stack, config, secrets manager", langhost],
    ["language host, Node.js and the program's modules", stack],
    ["program until its first resource (config, StackReference, live reads)", custom],
    ["registrations and steps (diff against the state)", lastStep],
    ["outputs, summary and plugin shutdown (to the last log line)", entries.length - 1],
  ];
  let prev = t0;
  for (const [name, i] of named) {
    if (i < 0) continue;
    marks.push({ name, at: entries[i].t });
  }
  return marks.map((m) => {
    const phase = { name: m.name, offsetMs: prev - t0, durationMs: m.at - prev };
    prev = m.at;
    return phase;
  });
}

/** The `n` longest silences between consecutive log lines, with the message that ended each. */
export function longestGaps(
  entries: readonly LogEntry[],
  n = 8,
): { afterMs: number; gapMs: number; msg: string }[] {
  const t0 = entries[0]?.t ?? 0;
  const gaps = entries.slice(1).map((e, i) => ({
    afterMs: entries[i].t - t0,
    gapMs: e.t - entries[i].t,
    msg: e.msg.length > 90 ? `${e.msg.slice(0, 87)}...` : e.msg,
  }));
  return gaps.sort((a, b) => b.gapMs - a.gapMs).slice(0, n);
}
