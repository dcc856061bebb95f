// The access-scaling plot: Vega-Lite renders SVG (headless, no canvas), resvg turns it into PNG.
// Both come from the npm registry (resvg as a prebuilt platform package), nothing is downloaded
// at run time. Vega is an ES module with top-level await: loaded with import(), never require().
import * as fs from "node:fs";

export interface ScalingPoint {
  readonly stages: number;
  readonly seconds: number;
  /** "scoped-cd up" or "kubectl apply --server-side" (the floor). */
  readonly series: string;
}

export async function renderScalingPng(
  points: readonly ScalingPoint[],
  title: string,
  file: string,
): Promise<void> {
  const vega = await import("vega");
  const vl = await import("vega-lite");
  const { Resvg } = await import("@resvg/resvg-js");
  const finite = points.filter((p) => Number.isFinite(p.seconds));
  const color = { field: "series", type: "nominal", title: null };
  const x = { field: "stages", type: "quantitative", title: "stages in the access stack" };
  const layers: Record<string, unknown>[] = [
    {
      // Every run, as a point.
      data: { values: finite.map((p) => ({ ...p })) },
      mark: { type: "point", filled: true, opacity: 0.5, size: 40 },
      encoding: { x, y: { field: "seconds", type: "quantitative", title: "wall time (s)" }, color },
    },
    {
      // The median of each series at each size, joined.
      data: { values: finite.map((p) => ({ ...p })) },
      mark: { type: "line", point: false, strokeWidth: 2 },
      encoding: { x, y: { aggregate: "median", field: "seconds", type: "quantitative" }, color },
    },
  ];
  const spec = vl.compile({
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title,
    width: 560,
    height: 320,
    layer: layers,
    config: { font: "DejaVu Sans", legend: { orient: "top-left", labelLimit: 0 } },
  } as never).spec;
  const view = new vega.View(vega.parse(spec), { renderer: "none" });
  const svg = await view.toSVG();
  view.finalize();
  const png = new Resvg(svg, {
    background: "white",
    fitTo: { mode: "zoom", value: 2 },
    font: { loadSystemFonts: true, defaultFontFamily: "DejaVu Sans" },
  })
    .render()
    .asPng();
  fs.writeFileSync(file, png);
}
