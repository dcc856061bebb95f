// The documents read well and hold together: the README stays a landing page, no table cell or
// line is a paragraph, every relative link and #anchor in README.md and docs/ resolves (GitHub's
// heading slugs), and docs/cli.md is what cli/reference.ts generates from the commander
// definitions. docs/pending-*.md are notes for the lead to fold in, not documents: left out.
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { cliReference } from "../../cli/reference";

const ROOT = path.resolve(__dirname, "../../..");
const README_MAX_BYTES = 15 * 1024;
const CELL_MAX = 160;
const LINE_MAX = 300;

/** README.md and docs/*.md, relative to the root. */
function documents(): string[] {
  const docs = fs
    .readdirSync(path.join(ROOT, "docs"))
    .filter((f) => f.endsWith(".md") && !f.startsWith("pending-"))
    .map((f) => path.join("docs", f));
  return ["README.md", ...docs];
}

const read = (file: string) => fs.readFileSync(path.join(ROOT, file), "utf8");

/** The lines of a Markdown text outside fenced code blocks, with their line numbers. */
export function proseLines(text: string): { line: string; n: number }[] {
  const out: { line: string; n: number }[] = [];
  let fence: string | undefined;
  text.split("\n").forEach((line, i) => {
    const m = /^\s*(`{3,}|~{3,})/.exec(line);
    if (m) {
      if (fence === undefined) fence = m[1];
      else if (m[1].startsWith(fence[0]) && m[1].length >= fence.length) fence = undefined;
      return;
    }
    if (fence === undefined) out.push({ line, n: i + 1 });
  });
  return out;
}

/** The cells of a table row (`| a | b \| c |`), or undefined for other lines and separators. */
export function tableCells(line: string): string[] | undefined {
  const t = line.trim();
  if (!t.startsWith("|") || /^\|[\s:|-]+\|$/.test(t)) return undefined;
  return t
    .slice(1, t.endsWith("|") && !t.endsWith("\\|") ? -1 : undefined)
    .split(/(?<!\\)\|/)
    .map((c) => c.trim());
}

/** The text a heading renders as: code spans, links and emphasis reduced to their text. */
function headingText(raw: string): string {
  return raw
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, "$1")
    .replace(/`([^`]*)`/g, "$1")
    .replace(/<[^>]+>/g, "")
    .replace(/(\*\*|__|\*|_)(\S(?:.*?\S)?)\1/g, "$2")
    .trim();
}

/**
 * GitHub's anchor for a heading (github-slugger): lowercase, every character that is not a
 * letter, mark, number, connector, space or hyphen dropped, spaces to hyphens; a repeated slug
 * gets `-1`, `-2`, … in order.
 */
export function slugs(text: string): Set<string> {
  const seen = new Map<string, number>();
  const result = new Set<string>();
  for (const { line } of proseLines(text)) {
    const m = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (!m) continue;
    const base = headingText(m[1])
      .toLowerCase()
      .replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, "")
      .replace(/ /g, "-");
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    result.add(n === 0 ? base : `${base}-${n}`);
  }
  return result;
}

/** Inline links and images of a Markdown text outside code: `[text](target)`. */
export function links(text: string): { target: string; n: number }[] {
  const out: { target: string; n: number }[] = [];
  for (const { line, n } of proseLines(text)) {
    const withoutCode = line.replace(/`[^`]*`/g, "");
    for (const m of withoutCode.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) {
      out.push({ target: m[1], n });
    }
  }
  return out;
}

/** Why a relative link from `file` does not resolve, or undefined when it does. */
function brokenLink(file: string, target: string): string | undefined {
  if (/^[a-z][a-z0-9+.-]*:/i.test(target)) return undefined; // https:, mailto: …
  const [pathPart, anchor] = target.split("#", 2);
  const resolved = pathPart ? path.join(path.dirname(file), decodeURI(pathPart)) : file;
  if (resolved.startsWith("..")) return `${target} points outside the repository`;
  if (!fs.existsSync(path.join(ROOT, resolved))) return `${resolved} does not exist`;
  if (anchor === undefined) return undefined;
  if (!resolved.endsWith(".md")) return `${target}: an anchor into a file that is not Markdown`;
  if (!slugs(read(resolved)).has(anchor)) return `${resolved} has no heading #${anchor}`;
  return undefined;
}

describe("the documents", () => {
  it("include the README and the docs by topic", () => {
    const files = documents();
    for (const f of [
      "configuration",
      "security",
      "operations",
      "jenkins",
      "tiller",
      "performance",
      "development",
      "cli",
    ]) {
      assert.ok(files.includes(path.join("docs", `${f}.md`)), `docs/${f}.md is missing`);
    }
  });

  it("keep the README a landing page (at most 15 KB)", () => {
    const bytes = fs.statSync(path.join(ROOT, "README.md")).size;
    assert.ok(bytes <= README_MAX_BYTES, `README.md is ${bytes} bytes, over ${README_MAX_BYTES}`);
  });

  it(`have no table cell longer than ${CELL_MAX} characters`, () => {
    const long = documents().flatMap((file) =>
      proseLines(read(file)).flatMap(({ line, n }) =>
        (tableCells(line) ?? [])
          .filter((c) => c.length > CELL_MAX)
          .map((c) => `${file}:${n}: ${c.length} characters: ${c.slice(0, 60)}…`),
      ),
    );
    assert.deepEqual(long, [], "move the explanation under the table");
  });

  it(`have no line longer than ${LINE_MAX} characters`, () => {
    const long = documents().flatMap((file) =>
      read(file)
        .split("\n")
        .map((line, i) => ({ line, n: i + 1 }))
        .filter(({ line }) => line.length > LINE_MAX)
        .map(({ line, n }) => `${file}:${n}: ${line.length} characters`),
    );
    assert.deepEqual(long, []);
  });

  it("link only to files and headings that exist", () => {
    const broken = documents().flatMap((file) =>
      links(read(file)).flatMap(({ target, n }) => {
        const why = brokenLink(file, target);
        return why ? [`${file}:${n}: ${why}`] : [];
      }),
    );
    assert.deepEqual(broken, []);
  });

  it("have docs/cli.md as cli/reference.ts generates it (npm run docs:cli)", () => {
    assert.equal(read(path.join("docs", "cli.md")), cliReference(), "run `npm run docs:cli`");
  });
});

describe("the link checker", () => {
  it("derives GitHub's anchors from headings", () => {
    const text = [
      "# scoped-cd",
      "## Modes: who runs which stack",
      "### A deploy that died mid-`up`",
      "## Keyless OIDC (`deployer.credential.kind: oidc`)",
      "## The access layer is out of CI's reach",
      "## Example",
      "## Example",
      "```text",
      "## not a heading",
      "```",
    ].join("\n");
    assert.deepEqual(
      [...slugs(text)],
      [
        "scoped-cd",
        "modes-who-runs-which-stack",
        "a-deploy-that-died-mid-up",
        "keyless-oidc-deployercredentialkind-oidc",
        "the-access-layer-is-out-of-cis-reach",
        "example",
        "example-1",
      ],
    );
  });

  it("finds links outside code only, and splits table cells at unescaped pipes", () => {
    const text = "see [a](docs/a.md#x) and `[b](nope.md)`\n```\n[c](nope.md)\n```\n![p](p.png)";
    assert.deepEqual(
      links(text).map((l) => l.target),
      ["docs/a.md#x", "p.png"],
    );
    assert.deepEqual(tableCells("| `a \\| b` | c |"), ["`a \\| b`", "c"]);
    assert.equal(tableCells("| --- | :---: |"), undefined);
  });

  it("reports a missing file, a missing heading and a link out of the repository", () => {
    assert.equal(brokenLink("README.md", "docs/security.md#checking-containment"), undefined);
    assert.match(brokenLink("README.md", "docs/nope.md") ?? "", /does not exist/);
    assert.match(brokenLink("README.md", "docs/security.md#nope") ?? "", /no heading #nope/);
    assert.match(brokenLink("docs/cli.md", "../../x.md") ?? "", /outside the repository/);
  });
});
