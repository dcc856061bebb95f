// The project's layers and the one direction their imports may point (docs/development.md "Layout"): a check
// in the test suite, so a wrong import fails `npm test` with the file and the import named.
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import * as ts from "typescript";

const ROOT = path.resolve(__dirname, "../../..");

type Layer =
  "policy" | "config" | "components" | "outputs" | "cli" | "program" | "hack" | "test" | "bench";

/** What each layer may import from the project (besides itself). */
const MAY_IMPORT: Record<Layer, readonly Layer[]> = {
  policy: [],
  config: ["policy"],
  outputs: [],
  components: ["policy", "config", "outputs"],
  cli: ["policy", "outputs"],
  program: ["config", "components", "outputs"],
  hack: [],
  // The unit tests check the bench's pure helpers (bench/stats.ts); nothing else imports bench/.
  test: ["policy", "config", "components", "outputs", "cli", "program", "hack", "bench"],
  // Developer infrastructure apart from the layers: the benchmarks may use anything.
  bench: ["policy", "config", "components", "outputs", "cli", "program", "hack", "test"],
};

/** Packages a layer may not use at all: policy/ is pure TypeScript, without Pulumi. */
const FORBIDDEN_PACKAGES: Partial<Record<Layer, RegExp>> = {
  policy: /^@pulumi\/|^@kubernetes\//,
};

/** The layer of a project file (relative to the root), or undefined outside the layers. */
export function layerOf(file: string): Layer | undefined {
  const f = file
    .split(path.sep)
    .join("/")
    .replace(/\.(d\.)?[jt]s$/, "");
  if (f === "index") return "program";
  if (f === "components/outputs") return "outputs";
  const top = f.split("/")[0];
  return (["policy", "config", "components", "cli", "hack", "test", "bench"] as const).find(
    (l) => l === top,
  );
}

export interface Violation {
  readonly file: string;
  readonly specifier: string;
  readonly reason: string;
}

/** Every import of `source` (a file at `file`, relative to the root) that breaks the layering. */
export function violationsIn(file: string, source: string): Violation[] {
  const from = layerOf(file);
  if (!from) return [];
  const { importedFiles } = ts.preProcessFile(source, true, true);
  const violations: Violation[] = [];
  for (const { fileName: specifier } of importedFiles) {
    if (!specifier.startsWith(".")) {
      if (FORBIDDEN_PACKAGES[from]?.test(specifier)) {
        violations.push({ file, specifier, reason: `${from}/ may not use ${specifier}` });
      }
      continue;
    }
    const target = path.normalize(path.join(path.dirname(file), specifier));
    const to = layerOf(target);
    if (!to || to === from) continue;
    if (!MAY_IMPORT[from].includes(to)) {
      violations.push({ file, specifier, reason: `${from} may not import ${to}` });
    }
  }
  return violations;
}

function sourceFiles(dir: string): string[] {
  return fs.readdirSync(path.join(ROOT, dir), { withFileTypes: true }).flatMap((e) => {
    const rel = path.join(dir, e.name);
    if (e.isDirectory()) return sourceFiles(rel);
    return e.name.endsWith(".ts") && !e.name.endsWith(".d.ts") ? [rel] : [];
  });
}

describe("layers", () => {
  it("point their imports one way only: policy <- config <- components <- program, cli", () => {
    const files = [
      "index.ts",
      ...["policy", "config", "components", "cli", "bench"]
        .filter((d) => fs.existsSync(path.join(ROOT, d)))
        .flatMap(sourceFiles),
    ];
    assert.ok(files.length > 20, `expected the project's sources, found ${files.length}`);
    const violations = files.flatMap((f) =>
      violationsIn(f, fs.readFileSync(path.join(ROOT, f), "utf8")),
    );
    assert.deepEqual(violations, []);
  });

  it("reports an import against the direction, with the file and the import", () => {
    assert.deepEqual(violationsIn("policy/rbac.ts", 'import { x } from "../config";'), [
      { file: "policy/rbac.ts", specifier: "../config", reason: "policy may not import config" },
    ]);
    assert.deepEqual(
      violationsIn("config/rules.ts", 'import type { Stage } from "../components/stage";'),
      [
        {
          file: "config/rules.ts",
          specifier: "../components/stage",
          reason: "config may not import components",
        },
      ],
    );
    assert.equal(
      violationsIn("cli/commands/verify.ts", 'import { Stage } from "../../components/stage";')[0]
        ?.reason,
      "cli may not import components",
    );
    assert.deepEqual(
      violationsIn(
        "cli/commands/verify.ts",
        'import type { StageSummary } from "../../components/outputs";',
      ),
      [],
    );
    assert.equal(
      violationsIn("policy/rbac.ts", 'import * as pulumi from "@pulumi/pulumi";')[0]?.reason,
      "policy/ may not use @pulumi/pulumi",
    );
    assert.equal(
      violationsIn("components/stage.ts", 'const c = require("../cli/main");')[0]?.reason,
      "components may not import cli",
    );
    assert.deepEqual(
      violationsIn("bench/program.ts", 'import { x } from "../test/unit/harness";'),
      [],
    );
    assert.equal(
      violationsIn("cli/commands/drift.ts", 'import { x } from "../../bench/stats";')[0]?.reason,
      "cli may not import bench",
    );
  });
});
