// Pure helpers of the benchmark: summary statistics, the least-squares line, the table. No I/O,
// so test/unit/bench.test.ts checks them with fixed numbers (the bench's figures are never
// asserted anywhere).

export interface Summary {
  readonly median: number;
  readonly min: number;
  readonly max: number;
  readonly n: number;
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/** Summary of the finite values (a run that measured nothing here is NaN and left out). */
export function summarize(all: readonly number[]): Summary {
  const values = all.filter((v) => Number.isFinite(v));
  return {
    median: median(values),
    min: values.length ? Math.min(...values) : NaN,
    max: values.length ? Math.max(...values) : NaN,
    n: values.length,
  };
}

export interface LineFit {
  /** Seconds per unit of x. */
  readonly slope: number;
  readonly intercept: number;
  /** Coefficient of determination: 1 is a perfect line. */
  readonly r2: number;
}

/** Ordinary least squares of y on x (every point, not the medians: the spread counts). */
export function fitLine(points: readonly { x: number; y: number }[]): LineFit {
  const n = points.length;
  if (n < 2) return { slope: NaN, intercept: NaN, r2: NaN };
  const mx = points.reduce((a, p) => a + p.x, 0) / n;
  const my = points.reduce((a, p) => a + p.y, 0) / n;
  let sxx = 0;
  let sxy = 0;
  let syy = 0;
  for (const p of points) {
    sxx += (p.x - mx) ** 2;
    sxy += (p.x - mx) * (p.y - my);
    syy += (p.y - my) ** 2;
  }
  if (sxx === 0) return { slope: NaN, intercept: NaN, r2: NaN };
  const slope = sxy / sxx;
  const intercept = my - slope * mx;
  const r2 = syy === 0 ? 1 : (sxy * sxy) / (sxx * syy);
  return { slope, intercept, r2 };
}

/** Per-run ratios a[i] / b[i] (both measured within run i, so machine noise cancels). */
export function ratios(a: readonly number[], b: readonly number[]): number[] {
  const n = Math.min(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < n; i++) if (b[i] > 0 && Number.isFinite(a[i])) out.push(a[i] / b[i]);
  return out;
}

export interface Row {
  readonly name: string;
  /** Seconds per run (or another unit, see `unit`). */
  readonly values: readonly number[];
  /** "s" (default), "ms", "x" (a ratio), "s/stage", … */
  readonly unit?: string;
  readonly note?: string;
}

export function formatNumber(value: number, unit = "s"): string {
  if (!Number.isFinite(value)) return "n/a";
  if (unit === "x") return `${value.toFixed(2)}x`;
  const abs = Math.abs(value);
  const digits = abs >= 100 ? 0 : abs >= 10 ? 1 : abs >= 1 ? 2 : 3;
  return `${value.toFixed(digits)} ${unit}`;
}

/** A Markdown table (valid as plain text too): measurement, median, min, max, runs, note. */
export function renderTable(rows: readonly Row[]): string {
  const header = ["measurement", "median", "min", "max", "runs", "note"];
  const body = rows.map((r) => {
    const s = summarize(r.values);
    const unit = r.unit ?? "s";
    return [
      r.name,
      formatNumber(s.median, unit),
      formatNumber(s.min, unit),
      formatNumber(s.max, unit),
      String(s.n),
      r.note ?? "",
    ];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells: string[]) =>
    `| ${cells.map((c, i) => (i >= 1 && i <= 4 ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join(" | ")} |`;
  // The separator as Prettier writes it, so that the table pastes into Markdown unchanged.
  const rule = `| ${widths.map((w, i) => (i >= 1 && i <= 4 ? `${"-".repeat(w - 1)}:` : "-".repeat(w))).join(" | ")} |`;
  return [line(header), rule, ...body.map(line)].join("\n") + "\n";
}
