// Where a no-change preview's time goes: the Pulumi CLI's OpenTelemetry trace of one preview
// (`--otel-traces file://…`, OTLP JSON), summarized as the root span's phases (its direct
// children, in order, with their offsets) and the span names that took the most time in all.
import * as fs from "node:fs";

export interface Span {
  readonly service: string;
  readonly name: string;
  readonly spanId: string;
  readonly parentSpanId?: string;
  /** Milliseconds since the epoch. */
  readonly start: number;
  readonly end: number;
}

/** Every span of an OTLP JSON file (one document per line, or one document). */
export function readOtlpSpans(file: string): Span[] {
  const text = fs.readFileSync(file, "utf8");
  const docs: unknown[] = [];
  try {
    docs.push(JSON.parse(text));
  } catch {
    for (const line of text.split("\n")) if (line.trim()) docs.push(JSON.parse(line));
  }
  const spans: Span[] = [];
  const ms = (nanos: unknown) => Number(BigInt(String(nanos)) / 1000n) / 1000;
  for (const doc of docs as {
    resourceSpans?: {
      resource?: { attributes?: { key: string; value: { stringValue?: string } }[] };
      scopeSpans?: { spans?: Record<string, unknown>[] }[];
    }[];
  }[]) {
    for (const rs of doc.resourceSpans ?? []) {
      const service =
        rs.resource?.attributes?.find((a) => a.key === "service.name")?.value.stringValue ?? "?";
      for (const ss of rs.scopeSpans ?? []) {
        for (const s of ss.spans ?? []) {
          spans.push({
            service,
            name: String(s.name),
            spanId: String(s.spanId),
            parentSpanId: s.parentSpanId ? String(s.parentSpanId) : undefined,
            start: ms(s.startTimeUnixNano),
            end: ms(s.endTimeUnixNano),
          });
        }
      }
    }
  }
  return spans;
}

export interface ProfileSummary {
  readonly root: Span;
  /** The root's direct children, in start order: offset from the root's start and duration, ms. */
  readonly phases: { name: string; service: string; offsetMs: number; durationMs: number }[];
  /** Span names by the time all their spans took together (overlaps counted once per span). */
  readonly byName: { name: string; service: string; count: number; totalMs: number }[];
  readonly services: string[];
}

export function summarizeSpans(spans: readonly Span[], top = 12): ProfileSummary {
  const ids = new Set(spans.map((s) => s.spanId));
  const roots = spans.filter((s) => !s.parentSpanId || !ids.has(s.parentSpanId));
  if (roots.length === 0) throw new Error("the trace has no root span");
  const root = roots.reduce((a, b) => (b.end - b.start > a.end - a.start ? b : a));
  const phases = spans
    .filter((s) => s.parentSpanId === root.spanId)
    .sort((a, b) => a.start - b.start)
    .map((s) => ({
      name: s.name,
      service: s.service,
      offsetMs: s.start - root.start,
      durationMs: s.end - s.start,
    }));
  const groups = new Map<
    string,
    { name: string; service: string; count: number; totalMs: number }
  >();
  for (const s of spans) {
    if (s === root) continue;
    const key = `${s.service}\u0000${s.name}`;
    const g = groups.get(key) ?? { name: s.name, service: s.service, count: 0, totalMs: 0 };
    g.count += 1;
    g.totalMs += s.end - s.start;
    groups.set(key, g);
  }
  const byName = [...groups.values()].sort((a, b) => b.totalMs - a.totalMs).slice(0, top);
  return { root, phases, byName, services: [...new Set(spans.map((s) => s.service))].sort() };
}
