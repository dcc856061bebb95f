// The documentation matches the schema: every configuration key has its row in
// docs/configuration.md "Keys" and its mention in Pulumi.yaml, and nothing documented is missing
// from the schema. Every committed stack file is valid.
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import * as yaml from "js-yaml";
import { z } from "zod";
import { parseConfig, stackSchema, stageSchema } from "../../config";

const ROOT = path.resolve(__dirname, "../../..");
const STAGE = "stages.<stage>";

/**
 * The documented key paths of a schema: its leaves, plus maps of named entries (`releases.<name>`),
 * which get a row of their own. Wrappers (defaults, optional, transforms) are looked through.
 */
export function schemaKeys(schema: z.ZodType, prefix: string): string[] {
  const def = (schema as unknown as { _zod: { def: Record<string, any> } })._zod.def;
  switch (def.type) {
    case "default":
    case "prefault":
    case "optional":
    case "nullable":
    case "readonly":
      return schemaKeys(def.innerType, prefix);
    case "pipe":
      return schemaKeys(def.in, prefix);
    case "object":
      return Object.entries(def.shape as Record<string, z.ZodType>).flatMap(([k, v]) =>
        schemaKeys(v, prefix ? `${prefix}.${k}` : k),
      );
    case "record": {
      const entry = `${prefix}.<name>`;
      const entries = schemaKeys(def.valueType, entry);
      // A map of plain values (quota, values) is one key; a map of named objects gets a row for
      // the entry (`releases.<name>`) besides the entry's own keys.
      return entries.length === 1 && entries[0] === entry ? [prefix] : [entry, ...entries];
    }
    default:
      return [prefix];
  }
}

/** Every key of the stack configuration, stage keys under `stages.<stage>`. */
function allSchemaKeys(): string[] {
  const top = schemaKeys(stackSchema, "").filter((k) => !k.startsWith("stages"));
  return [...top, STAGE, ...schemaKeys(stageSchema, STAGE)];
}

interface KeyRow {
  /** The key, `…` expanded to `stages.<stage>.`. */
  readonly key: string;
  /** The rest of the row (type, default, meaning). */
  readonly text: string;
}

/** The rows of the tables in docs/configuration.md "Keys" (its `###` subsections included). */
function keyRows(): KeyRow[] {
  const doc = fs.readFileSync(path.join(ROOT, "docs", "configuration.md"), "utf8");
  const section = doc.split(/^## Keys$/m)[1]?.split(/^## /m)[0] ?? "";
  return [...section.matchAll(/^\| `([^`]+)`(.*)$/gm)].map((m) => ({
    key: m[1].replace(/^…/, `${STAGE}.`),
    text: m[2],
  }));
}
const documentedKeys = () => keyRows().map((r) => r.key);

/**
 * A schema key is documented by its own row, or by its parent's row when that row names it as a
 * field (`…containerRequests` with type `{cpu, memory}`).
 */
function isDocumented(key: string, rows: readonly KeyRow[]): boolean {
  const parent = key.slice(0, key.lastIndexOf("."));
  const field = key.slice(key.lastIndexOf(".") + 1);
  return rows.some(
    (r) => r.key === key || (r.key === parent && new RegExp(`\\b${field}\\b`).test(r.text)),
  );
}

describe("documentation of the configuration", () => {
  it("has a row in docs/configuration.md Keys for every schema key", () => {
    const rows = keyRows();
    assert.ok(rows.length > 0, "docs/configuration.md has no ## Keys section with key rows");
    assert.deepEqual(
      allSchemaKeys().filter((k) => !isDocumented(k, rows)),
      [],
      "schema keys missing from docs/configuration.md Keys",
    );
  });

  it("documents no key that the schema lacks", () => {
    const keys = allSchemaKeys();
    const known = (k: string) => keys.includes(k) || keys.some((s) => s.startsWith(`${k}.`));
    assert.deepEqual(
      documentedKeys().filter((k) => !known(k)),
      [],
      "docs/configuration.md Keys rows with no schema key",
    );
  });

  it("mentions every key in Pulumi.yaml's config block", () => {
    const text = fs.readFileSync(path.join(ROOT, "Pulumi.yaml"), "utf8");
    const top = Object.keys(stackSchema.shape).filter((k) => !text.includes(`scoped-cd:${k}`));
    assert.deepEqual(top, [], "top-level keys missing from Pulumi.yaml");
    const stageDoc = text.split("scoped-cd:stages:")[1] ?? "";
    const words = new Set(stageDoc.match(/[A-Za-z]+/g));
    const missing = schemaKeys(stageSchema, "")
      .map((k) =>
        k
          .split(".")
          .filter((s) => s !== "<name>")
          .pop()!,
      )
      .filter((leaf) => !words.has(leaf));
    assert.deepEqual(missing, [], "stage keys missing from Pulumi.yaml's scoped-cd:stages");
  });

  it("finds keys at every depth, and maps of named entries as rows", () => {
    const keys = allSchemaKeys();
    for (const key of [
      "mode",
      "cluster.name",
      STAGE,
      `${STAGE}.guardrails.quota`,
      `${STAGE}.releases.<name>`,
      `${STAGE}.releases.<name>.values`,
    ]) {
      assert.ok(keys.includes(key), key);
    }
    assert.ok(!keys.includes(`${STAGE}.guardrails.quota.<name>`));
  });
});

describe("the committed stack files", () => {
  const files = fs.readdirSync(ROOT).filter((f) => /^Pulumi\..+\.yaml$/.test(f));

  it("exist for the demo, the access and the delivery stacks", () => {
    assert.ok(files.includes("Pulumi.dev.yaml") && files.length >= 7, files.join(", "));
  });

  for (const file of files) {
    it(`${file} is a valid configuration`, () => {
      const doc = yaml.load(fs.readFileSync(path.join(ROOT, file), "utf8")) as {
        config?: Record<string, unknown>;
      };
      const raw: Record<string, unknown> = {};
      for (const [key, value] of Object.entries(doc.config ?? {})) {
        if (!key.startsWith("scoped-cd:")) continue;
        // A secure value is ciphertext: the program only sees that it is there.
        const secure = typeof value === "object" && value !== null && "secure" in value;
        raw[key.slice("scoped-cd:".length)] = secure ? "[secret]" : value;
      }
      assert.deepEqual(parseConfig(raw).problems, []);
    });
  }
});
