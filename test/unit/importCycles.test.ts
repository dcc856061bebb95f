// No import cycles among the project's own modules (type-only imports included: a cycle of types
// is still two modules that cannot be understood, moved or tested apart). The graph is read with
// TypeScript's own pre-processor, the same way test/unit/layers.test.ts reads the layering.
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import * as ts from "typescript";

const ROOT = path.resolve(__dirname, "../../..");
const SOURCE_DIRS = ["policy", "config", "components", "cli", "hack", "test", "bench"];

/** The project file a relative import resolves to (`x.ts`, `x/index.ts`), if any. */
function resolve(from: string, specifier: string, exists: (f: string) => boolean) {
  const base = path.normalize(path.join(path.dirname(from), specifier)).replace(/\.js$/, "");
  return [`${base}.ts`, path.join(base, "index.ts")].find(exists);
}

/** Module graph: file → the project files it imports. */
export function importGraph(sources: ReadonlyMap<string, string>): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const [file, text] of sources) {
    const { importedFiles } = ts.preProcessFile(text, true, true);
    const targets = importedFiles
      .map((i) => i.fileName)
      .filter((s) => s.startsWith("."))
      .map((s) => resolve(file, s, (f) => sources.has(f)))
      .filter((f): f is string => f !== undefined);
    graph.set(file, [...new Set(targets)]);
  }
  return graph;
}

/** Every cycle, as the files of one strongly connected component (Tarjan), sorted. */
export function importCycles(graph: ReadonlyMap<string, readonly string[]>): string[][] {
  let counter = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const cycles: string[][] = [];
  const visit = (v: string) => {
    index.set(v, counter);
    low.set(v, counter++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v)!, index.get(w)!));
      }
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      const selfImport = (graph.get(v) ?? []).includes(v);
      if (component.length > 1 || selfImport) cycles.push(component.sort());
    }
  };
  for (const v of [...graph.keys()].sort()) if (!index.has(v)) visit(v);
  return cycles;
}

function sourceFiles(dir: string): string[] {
  return fs.readdirSync(path.join(ROOT, dir), { withFileTypes: true }).flatMap((e) => {
    const rel = path.join(dir, e.name);
    if (e.isDirectory()) return e.name === "node_modules" ? [] : sourceFiles(rel);
    return e.name.endsWith(".ts") && !e.name.endsWith(".d.ts") ? [rel] : [];
  });
}

describe("import cycles", () => {
  it("there are none among the project's modules", () => {
    const files = [
      "index.ts",
      ...SOURCE_DIRS.filter((d) => fs.existsSync(path.join(ROOT, d))).flatMap(sourceFiles),
    ];
    assert.ok(files.length > 50, `expected the project's sources, found ${files.length}`);
    const sources = new Map(files.map((f) => [f, fs.readFileSync(path.join(ROOT, f), "utf8")]));
    assert.deepEqual(importCycles(importGraph(sources)), []);
  });

  it("finds a cycle through type-only imports and an index module, naming its files", () => {
    const sources = new Map([
      ["cli/lib/checks.ts", 'import { a } from "./a";\nexport type Row = string;'],
      ["cli/lib/a/index.ts", 'import type { Row } from "../checks";\nexport const a = 1;'],
      ["cli/lib/b.ts", 'import { a } from "./a";'],
      ["cli/lib/self.ts", 'import { x } from "./self.js";'],
    ]);
    assert.deepEqual(importCycles(importGraph(sources)), [
      ["cli/lib/a/index.ts", "cli/lib/checks.ts"],
      ["cli/lib/self.ts"],
    ]);
  });
});
