// The drift report (`npm run drift`): turn the engine events of one refreshing preview per stack
// into a short Markdown report for a pull-request comment, and an exit code for the check.
// Pure: no I/O, no clock, so the same events always give the same bytes (the unit tests pin them).
//
// What the engine sends (`stack.preview({ refresh: true, diff: true, onEvent })`):
// - a refresh phase: per resource in the state, a resourcePreEvent and a resOutputsEvent with
//   op "refresh". The resOutputsEvent carries the refresh diff (`diffs`, `detailedDiff`: state →
//   live, computed by the provider against the inputs the program declared), `old` (the state)
//   and `new` (what was read back; absent when the object is gone);
// - a preview phase: per resource, a resourcePreEvent whose op is the planned step (same, create,
//   update, replace and its create-replacement/delete-replaced halves, delete, read, ...).
// Secret values arrive blinded: `{[runtime.specialSigKey]: runtime.specialSecretSig, ciphertext:
// "[secret]"}` (the sentinel) or the string "[secret]".
import * as crypto from "node:crypto";
import { runtime } from "@pulumi/pulumi";
import type { EngineEvent, OpType, StepEventMetadata } from "@pulumi/pulumi/automation";
import diff from "microdiff";
import type { UndeclaredObject } from "../../policy/inventory";
import { byResource } from "../../policy/escalation";
import type { ReleaseAdmission } from "./admissionPreview";
import { permissionDeltas, StagePermissionDelta } from "./permissionDelta";

/**
 * One stack's preview: its engine events (and the grants to identities no stack made, found
 * beside the preview), or why it could not run.
 */
export type StackPreview =
  | {
      readonly stack: string;
      readonly events: readonly EngineEvent[];
      readonly strayGrants?: readonly string[];
      readonly undeclared?: readonly UndeclaredInStage[];
      /**
       * URNs of resources the program reads (`.get`, `external` in the state), not declares:
       * their refresh replaces the copy of a live object the state keeps, which is no drift.
       */
      readonly reads?: readonly string[];
      /** The admission preview of each release the preview plans (cli/lib/admissionPreview.ts). */
      readonly admission?: readonly ReleaseAdmission[];
    }
  | { readonly stack: string; readonly error: string };

/** An object of a stage namespace that neither a release nor the access layer manages. */
export interface UndeclaredInStage extends UndeclaredObject {
  readonly stage: string;
  readonly namespace: string;
}

export type ChangeKind = "create" | "update" | "replace" | "delete";
export const CHANGE_KINDS: readonly ChangeKind[] = ["create", "update", "replace", "delete"];

/** Which planned operation counts as which change; ops not listed change nothing. */
const CHANGE_OF_OP: Partial<Record<OpType, ChangeKind>> = {
  create: "create",
  import: "create", // adopting an existing object into the stack
  update: "update",
  replace: "replace",
  "create-replacement": "replace",
  "delete-replaced": "replace",
  "read-replacement": "replace",
  "import-replacement": "replace",
  "discard-replaced": "replace",
  delete: "delete",
  discard: "delete", // a read resource the program no longer reads
};

/** One property of a drifted resource, with values already rendered (and masked). */
export interface PropertyDrift {
  readonly path: string;
  readonly before: string;
  readonly after: string;
}

export interface DriftedResource {
  readonly urn: string;
  /** `type::name` */
  readonly label: string;
  /** The object is gone from the cluster (refresh read nothing back). */
  readonly deleted: boolean;
  readonly properties: readonly PropertyDrift[];
  /** Properties left out of `properties` to keep the report short. */
  readonly omitted: number;
}

export interface PlannedChange {
  readonly kind: ChangeKind;
  readonly urn: string;
  readonly label: string;
  /** Top-level properties that change (replacement reasons for a replace). */
  readonly properties: readonly string[];
}

export interface StackAnalysis {
  readonly stack: string;
  /** Distinct resources in the state or the program, excluding the root `pulumi:pulumi:Stack`. */
  readonly resources: number;
  readonly counts: Readonly<Record<ChangeKind, number>>;
  readonly drifted: readonly DriftedResource[];
  readonly planned: readonly PlannedChange[];
  /** RoleBindings granting a stage Role to an identity scoped-cd did not make (allowRbac). */
  readonly strayGrants: readonly string[];
  /** The inventory: objects in the stages' namespaces that nothing of the stack declares. */
  readonly undeclared: readonly UndeclaredInStage[];
  /** Per stage whose deployer's rights or guardrail allowances change: what changes. */
  readonly permissionDelta: readonly StagePermissionDelta[];
  /** Per release: the dry-run of its rendered objects as the stage's identity. */
  readonly admission: readonly ReleaseAdmission[];
}

export type StackOutcome = StackAnalysis | { readonly stack: string; readonly error: string };

const ROOT_STACK_TYPE = "pulumi:pulumi:Stack";
export const MASK = "[secret]";

/**
 * Property names whose values are masked wherever they appear, even when the provider did not mark
 * them secret: a Secret's payload, anything that names a credential, and kubectl's
 * last-applied-configuration annotation (a copy of the whole object, Secret data included).
 */
const SECRET_KEY_EXACT = /^(data|stringdata|binarydata)$/i;
const SECRET_KEY_PART =
  /kubeconfig|token|pass|secret|credential|private.?key|api.?key|last-applied-configuration/i;

export function isSecretKey(key: string): boolean {
  return SECRET_KEY_EXACT.test(key) || SECRET_KEY_PART.test(key);
}

/** Values that are secrets by shape, whatever their key: PEM private keys and JWTs (tokens). */
const SECRET_SHAPED = [
  /-----BEGIN [A-Z ]*PRIVATE KEY-----/,
  /^eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*$/,
];

function isSecretSentinel(value: unknown): boolean {
  return (
    value === MASK ||
    (isPlainObject(value) && value[runtime.specialSigKey] === runtime.specialSecretSig) ||
    (typeof value === "string" && SECRET_SHAPED.some((re) => re.test(value)))
  );
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * A copy of `value` with every secret (by sentinel, by shape, or by key) replaced by MASK, or by
 * what `replace` makes of the secret.
 */
export function maskSecrets(
  value: unknown,
  replace: (secret: unknown) => unknown = () => MASK,
): unknown {
  if (isSecretSentinel(value)) return replace(value);
  if (Array.isArray(value)) return value.map((v) => maskSecrets(v, replace));
  if (isPlainObject(value)) {
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [
        k,
        isSecretKey(k) ? replace(v) : maskSecrets(v, replace),
      ]),
    );
  }
  return value;
}

/**
 * A per-process key for comparing secrets without keeping them: two masked secrets compare equal
 * exactly when the secrets were equal, and the digest means nothing outside this process. It
 * never reaches the report (values there are masked again from the state).
 */
const COMPARISON_KEY = crypto.randomBytes(32);
const comparableMask = (secret: unknown) =>
  `${MASK}:${crypto
    .createHmac("sha256", COMPARISON_KEY)
    .update(JSON.stringify(secret) ?? "")
    .digest("hex")}`;

/**
 * Split a Pulumi property path (`spec.template.spec.containers[0].image`,
 * `metadata.labels["app.kubernetes.io/name"]`) into its keys and indexes.
 */
export function parsePropertyPath(path: string): (string | number)[] {
  const segments: (string | number)[] = [];
  let i = 0;
  while (i < path.length) {
    if (path[i] === ".") {
      i++;
    } else if (path.startsWith('["', i)) {
      // A quoted key: JSON string syntax up to the closing `"]`.
      let j = i + 2;
      while (j < path.length && !(path[j] === '"' && path[j - 1] !== "\\")) j++;
      segments.push(JSON.parse(path.slice(i + 1, j + 1)) as string);
      i = j + 2;
    } else if (path[i] === "[") {
      const j = path.indexOf("]", i);
      const index = path.slice(i + 1, j < 0 ? path.length : j);
      segments.push(/^\d+$/.test(index) ? Number(index) : index);
      i = j < 0 ? path.length : j + 1;
    } else {
      let j = i;
      while (j < path.length && path[j] !== "." && path[j] !== "[") j++;
      segments.push(path.slice(i, j));
      i = j;
    }
  }
  return segments;
}

const ABSENT = Symbol("absent");

/** The value at `path`, MASK if a secret lies on the way, ABSENT if there is none. */
function valueAt(root: unknown, segments: readonly (string | number)[]): unknown {
  let current: unknown = root;
  for (const segment of segments) {
    if (isSecretSentinel(current)) return MASK;
    if (typeof segment === "number" && Array.isArray(current)) {
      if (segment >= current.length) return ABSENT;
      current = current[segment];
    } else if (isPlainObject(current) && String(segment) in current) {
      current = current[String(segment)];
    } else {
      return ABSENT;
    }
  }
  return current;
}

const MAX_VALUE_CHARS = 80;

/** A value as a Markdown table cell: `—` when absent, `[secret]` when masked, else code. */
export function renderValue(value: unknown, maskedByPath = false): string {
  if (value === ABSENT || value === undefined) return "—";
  if (maskedByPath) return MASK;
  const masked = maskSecrets(value);
  if (masked === MASK) return MASK;
  let text = JSON.stringify(masked) ?? String(masked);
  if (text.length > MAX_VALUE_CHARS) text = `${text.slice(0, MAX_VALUE_CHARS - 1)}…`;
  return code(text);
}

/** Inline code that survives a GFM table cell (pipes escaped, backticks fenced). */
function code(text: string): string {
  const escaped = text.replace(/\|/g, "\\|");
  return escaped.includes("`") ? `\`\` ${escaped} \`\`` : `\`${escaped}\``;
}

/** `urn:pulumi:stack::project::parent$type::name` → `type::name` */
export function resourceLabel(urn: string): string {
  const parts = urn.split("::");
  if (parts.length < 4) return urn;
  const qualifiedType = parts[2];
  const name = parts.slice(3).join("::");
  return `${qualifiedType.split("$").pop()}::${name}`;
}

function stepsOf(events: readonly EngineEvent[]): { pre: boolean; md: StepEventMetadata }[] {
  const steps: { pre: boolean; md: StepEventMetadata }[] = [];
  for (const event of events) {
    if (event.resourcePreEvent) steps.push({ pre: true, md: event.resourcePreEvent.metadata });
    if (event.resOutputsEvent) steps.push({ pre: false, md: event.resOutputsEvent.metadata });
  }
  return steps;
}

/** Refreshing these is never drift of this stack: a StackReference reads another stack's outputs. */
const NOT_DRIFT_TYPES = new Set(["pulumi:pulumi:StackReference"]);

/**
 * Output paths that change on every read of a Kubernetes object without anyone touching it
 * (bookkeeping, controller status). Only consulted when the provider gave no diff of its own.
 * A Helm release's status is kept: a new revision there means someone upgraded it by hand.
 */
function isVolatileOutput(type: string, path: readonly (string | number)[]): boolean {
  if (!type.startsWith("kubernetes:")) return false;
  const [top, second, third] = path;
  if (top === "metadata") {
    // The API server stamps a legacy token's Secret each day the token is used.
    if (second === "labels") return third === "kubernetes.io/legacy-token-last-used";
    return ["resourceVersion", "generation", "managedFields", "creationTimestamp"].includes(
      String(second),
    );
  }
  return top === "status" && type !== "kubernetes:helm.sh/v3:Release";
}

/** A Pulumi property path for segments: `a.b[0]["c.d"]`. */
export function formatPropertyPath(segments: readonly (string | number)[]): string {
  return segments
    .map((s, i) =>
      typeof s === "number"
        ? `[${s}]`
        : /^[A-Za-z_$][\w$-]*$/.test(s)
          ? `${i === 0 ? "" : "."}${s}`
          : `[${JSON.stringify(s)}]`,
    )
    .join("");
}

/**
 * Leaf paths where two output trees differ: masked first (a secret compares as one opaque leaf,
 * changed or not), then diffed.
 */
function differingPaths(before: unknown, after: unknown): (string | number)[][] {
  const masked = (v: unknown) => ({ root: maskSecrets(v, comparableMask) });
  return diff(masked(before), masked(after)).map((d) => d.path.slice(1));
}

const MAX_PROPERTIES = 25;

function propertyDrift(
  md: StepEventMetadata,
  segments: readonly (string | number)[],
  path: string,
  inputDiff: boolean,
): PropertyDrift {
  // The diff names inputs or outputs; look on that side first, the other if it is absent.
  const sides = inputDiff ? (["inputs", "outputs"] as const) : (["outputs", "inputs"] as const);
  let before: unknown = ABSENT;
  let after: unknown = ABSENT;
  for (const side of sides) {
    before = valueAt(md.old![side], segments);
    after = valueAt(md.new![side], segments);
    if (before !== ABSENT || after !== ABSENT) break;
  }
  const masked = segments.some((s) => typeof s === "string" && isSecretKey(s));
  return { path, before: renderValue(before, masked), after: renderValue(after, masked) };
}

/**
 * What refresh found changed on one resource, or undefined if it did not drift. The engine's
 * refresh diff (`detailedDiff`, else `diffs`) is preferred: the provider computed it against the
 * inputs the program declared. A provider that reports a change without naming properties (or
 * the engine's legacy refresh mode) leaves only the outputs to compare: then every output leaf
 * that differs is drift, except Kubernetes bookkeeping (isVolatileOutput).
 */
function driftOf(md: StepEventMetadata): DriftedResource | undefined {
  if (NOT_DRIFT_TYPES.has(md.type)) return undefined;
  const base = { urn: md.urn, label: resourceLabel(md.urn) };
  if (md.old && !md.new) return { ...base, deleted: true, properties: [], omitted: 0 };
  if (!md.old || !md.new) return undefined;

  const detailed = Object.entries(md.detailedDiff ?? {});
  let properties: PropertyDrift[];
  if (detailed.length > 0) {
    properties = detailed.map(([path, diff]) =>
      propertyDrift(md, parsePropertyPath(path), path, diff.inputDiff),
    );
  } else if ((md.diffs ?? []).length > 0) {
    properties = md.diffs!.map((key) => propertyDrift(md, [key], key, false));
  } else {
    properties = differingPaths(md.old.outputs, md.new.outputs)
      .filter((segments) => !isVolatileOutput(md.type, segments))
      .map((segments) => propertyDrift(md, segments, formatPropertyPath(segments), false));
  }
  if (properties.length === 0) return undefined;
  properties.sort((a, b) => a.path.localeCompare(b.path));
  return {
    ...base,
    deleted: false,
    properties: properties.slice(0, MAX_PROPERTIES),
    omitted: Math.max(0, properties.length - MAX_PROPERTIES),
  };
}

/** Derive counts, drift and planned changes from one stack's preview events. */
export function analyzeStack(
  stack: string,
  events: readonly EngineEvent[],
  strayGrants: readonly string[] = [],
  undeclared: readonly UndeclaredInStage[] = [],
  reads: readonly string[] = [],
  admission: readonly ReleaseAdmission[] = [],
): StackAnalysis {
  const readUrns = new Set(reads);
  const resources = new Set<string>();
  const drifted = new Map<string, DriftedResource>();
  const planned = new Map<string, PlannedChange>();

  for (const { pre, md } of stepsOf(events)) {
    if (md.type === ROOT_STACK_TYPE) continue;
    resources.add(md.urn);
    if (md.op === "refresh") {
      // The refresh diff is computed while the step runs: only the outputs event carries it.
      if (pre || readUrns.has(md.urn)) continue;
      const drift = driftOf(md);
      if (drift) drifted.set(md.urn, drift);
      continue;
    }
    const kind = CHANGE_OF_OP[md.op];
    if (!kind) continue;
    // A replacement arrives as up to three steps on one URN; the first one seen stands for it.
    const existing = planned.get(md.urn);
    const properties = kind === "replace" ? (md.keys ?? md.diffs ?? []) : (md.diffs ?? []);
    if (!existing || (existing.properties.length === 0 && properties.length > 0)) {
      planned.set(md.urn, {
        kind: existing?.kind ?? kind,
        urn: md.urn,
        label: resourceLabel(md.urn),
        properties: [...new Set(properties)].sort(),
      });
    }
  }

  const counts: Record<ChangeKind, number> = { create: 0, update: 0, replace: 0, delete: 0 };
  for (const change of planned.values()) counts[change.kind]++;
  return {
    stack,
    resources: resources.size,
    counts,
    drifted: [...drifted.values()].sort((a, b) => a.label.localeCompare(b.label)),
    planned: [...planned.values()].sort(
      (a, b) =>
        CHANGE_KINDS.indexOf(a.kind) - CHANGE_KINDS.indexOf(b.kind) ||
        a.label.localeCompare(b.label),
    ),
    strayGrants: [...strayGrants].sort(),
    undeclared: [...undeclared].sort(
      (a, b) =>
        a.stage.localeCompare(b.stage) ||
        a.kind.localeCompare(b.kind) ||
        a.name.localeCompare(b.name),
    ),
    permissionDelta: permissionDeltas(events),
    admission: [...admission],
  };
}

export function analyze(previews: readonly StackPreview[]): StackOutcome[] {
  return previews.map((p) =>
    "error" in p
      ? p
      : analyzeStack(
          p.stack,
          p.events,
          p.strayGrants ?? [],
          p.undeclared ?? [],
          p.reads ?? [],
          p.admission ?? [],
        ),
  );
}

function hasChanges(a: StackAnalysis): boolean {
  return a.drifted.length > 0 || a.planned.length > 0;
}

/** A release the API server would refuse some object of: the PR would fail at deploy. */
function hasRefusals(a: StackAnalysis): boolean {
  return a.admission.some((r) => r.refusals.length > 0);
}

/** A release whose admission preview could not run (the report cannot vouch for it). */
function hasUncheckedReleases(a: StackAnalysis): boolean {
  return a.admission.some((r) => r.error !== undefined);
}

/**
 * Anything a reviewer must look at: drift, planned changes, identities outside the stack, or
 * objects a guardrail would refuse.
 */
function hasFindings(a: StackAnalysis): boolean {
  return hasChanges(a) || a.strayGrants.length > 0 || a.undeclared.length > 0 || hasRefusals(a);
}

/**
 * 0: every stack clean; 1: some stack has changes, drift or objects admission would refuse;
 * 2: some stack (or some release's admission preview) could not run.
 */
export function driftExitCode(previews: readonly StackPreview[]): 0 | 1 | 2 {
  const outcomes = analyze(previews);
  if (outcomes.some((o) => "error" in o || hasUncheckedReleases(o))) return 2;
  return outcomes.some((o) => hasFindings(o as StackAnalysis)) ? 1 : 0;
}

function row(cells: readonly (string | number)[]): string {
  return `| ${cells.join(" | ")} |`;
}

const analyses = (outcomes: readonly StackOutcome[]) =>
  outcomes.filter((o): o is StackAnalysis => !("error" in o));

function verdict(outcomes: readonly StackOutcome[]): string {
  const failed = outcomes.filter((o) => "error" in o).map((o) => o.stack);
  const changed = outcomes
    .filter((o): o is StackAnalysis => !("error" in o) && hasChanges(o))
    .map((o) => o.stack);
  const parts: string[] = [];
  if (failed.length > 0) parts.push(`**could not run:** ${failed.join(", ")}`);
  if (changed.length > 0) parts.push(`**changes or drift:** ${changed.join(", ")}`);
  const stray = outcomes
    .filter((o): o is StackAnalysis => !("error" in o) && o.strayGrants.length > 0)
    .map((o) => o.stack);
  if (stray.length > 0) parts.push(`**identities outside the stack:** ${stray.join(", ")}`);
  const undeclared = outcomes
    .filter((o): o is StackAnalysis => !("error" in o) && o.undeclared.length > 0)
    .map((o) => o.stack);
  if (undeclared.length > 0) parts.push(`**undeclared objects:** ${undeclared.join(", ")}`);
  const permissions = analyses(outcomes)
    .filter((o) => o.permissionDelta.length > 0)
    .map((o) => o.stack);
  if (permissions.length > 0) parts.push(`**permissions change:** ${permissions.join(", ")}`);
  const refused = analyses(outcomes)
    .filter(hasRefusals)
    .map((o) => o.stack);
  if (refused.length > 0) {
    parts.push(`**refused at admission, the deploy would fail:** ${refused.join(", ")}`);
  }
  const unchecked = analyses(outcomes)
    .filter(hasUncheckedReleases)
    .map((o) => o.stack);
  if (unchecked.length > 0)
    parts.push(`**admission preview could not run:** ${unchecked.join(", ")}`);
  return parts.length > 0 ? parts.join("; ") : "**clean:** no changes, no drift";
}

function stackSection(outcome: StackOutcome): string[] {
  const lines = [`## ${outcome.stack}`, ""];
  if ("error" in outcome) {
    // A fence longer than any backtick run in the message, so the message cannot close it.
    const longestRun = Math.max(0, ...(outcome.error.match(/`+/g) ?? []).map((r) => r.length));
    const fence = "`".repeat(Math.max(3, longestRun + 1));
    lines.push("The preview could not run:", "", `${fence}text`, outcome.error.trim(), fence, "");
    return lines;
  }
  if (!hasFindings(outcome) && !hasUncheckedReleases(outcome)) {
    lines.push("No drift, no planned changes.", "");
    lines.push(...admissionSection(outcome));
    return lines;
  }
  lines.push(...admissionSection(outcome));
  lines.push(...permissionDeltaSection(outcome));

  if (outcome.strayGrants.length > 0) {
    lines.push(
      `### Identities outside the stack (${outcome.strayGrants.length})`,
      "",
      "A stage Role is bound to an identity that scoped-cd did not make. A rotation does not remove such a grant: delete it unless a chart needs it.",
      "",
    );
    for (const grant of outcome.strayGrants) lines.push(`- ${grant}`);
    lines.push("");
  }

  if (outcome.undeclared.length > 0) {
    lines.push(
      `### Objects nothing declares (${outcome.undeclared.length})`,
      "",
      "In a stage namespace, but no release of the stack (by its manifest) and not the access layer manages them, nor a controller made them for one that does; a rotation leaves them. Delete them, or acknowledge an expected one in `scoped-cd:stages.<stage>.inventory.acknowledge`.",
      "",
      "| stage | kind | name | age | created by | note |",
      "| --- | --- | --- | --- | --- | --- |",
    );
    for (const u of outcome.undeclared) {
      const note = [
        u.children > 0 ? `${u.children} controlled object${u.children === 1 ? "" : "s"}` : "",
        u.note ?? "",
      ]
        .filter(Boolean)
        .join("; ");
      lines.push(
        row([
          u.stage,
          u.kind,
          code(u.name),
          u.age,
          u.creator ? code(u.creator) : "unknown",
          note || "—",
        ]),
      );
    }
    lines.push("");
  }

  if (outcome.drifted.length === 0) {
    lines.push("No drift.", "");
  } else {
    lines.push(`### Drifted (${outcome.drifted.length})`, "");
    for (const resource of outcome.drifted) {
      lines.push(`#### ${code(resource.label)}`, "");
      if (resource.deleted) {
        lines.push("Deleted outside Pulumi: the refresh found no such object.", "");
      } else {
        lines.push("| property | before | after |", "| --- | --- | --- |");
        for (const p of resource.properties) lines.push(row([code(p.path), p.before, p.after]));
        if (resource.omitted > 0) lines.push(row([`… ${resource.omitted} more`, "", ""]));
        lines.push("");
      }
    }
  }

  if (outcome.planned.length === 0) {
    lines.push("No planned changes.", "");
  } else {
    lines.push(`### Planned changes (${outcome.planned.length})`, "");
    lines.push("| op | resource | properties |", "| --- | --- | --- |");
    for (const change of outcome.planned) {
      const properties = change.properties.map(code).join(", ") || "—";
      lines.push(row([change.kind, code(change.label), properties]));
    }
    lines.push("");
  }
  return lines;
}

/** `apps/deployments: create, get` per line, for a rule list in a details block. */
function ruleLines(
  rules: readonly {
    apiGroups: string[];
    resources: string[];
    verbs: string[];
    resourceNames?: string[];
  }[],
): string[] {
  if (rules.length === 0) return ["(none)"];
  return rules.map((r) => {
    const names = r.resourceNames?.length ? ` [${r.resourceNames.join(",")}]` : "";
    const resources = r.apiGroups.flatMap((g) =>
      r.resources.map((res) => `${g === "" ? "" : `${g}/`}${res}`),
    );
    return `${resources.join(", ")}${names}: ${r.verbs.join(", ")}`;
  });
}

/** Per stage whose deployer's rights or guardrail allowances change (omitted when none do). */
function permissionDeltaSection(outcome: StackAnalysis): string[] {
  if (outcome.permissionDelta.length === 0) return [];
  const lines = [
    `### Permission delta (${outcome.permissionDelta.length})`,
    "",
    "What the change lets the stage's deployer credential do: its Role's effective rules before (live) and after (planned), and the guardrail allowances it adds or removes.",
    "",
  ];
  for (const d of outcome.permissionDelta) {
    lines.push(`#### stage ${d.stage}`, "");
    if (d.role && (d.role.added.length > 0 || d.role.removed.length > 0)) {
      lines.push("| change | resource | verbs | escalation class |", "| --- | --- | --- | --- |");
      for (const a of byResource(d.role.added)) {
        lines.push(
          row([
            "added",
            code(a.resource),
            a.verbs.join(", "),
            a.classes.map((c) => `**${c}**`).join(", ") || "—",
          ]),
        );
      }
      for (const r of byResource(d.role.removed)) {
        lines.push(row(["removed", code(r.resource), r.verbs.join(", "), "—"]));
      }
      lines.push(
        "",
        "<details><summary>deployer rules before and after</summary>",
        "",
        "Before:",
        "",
        "```text",
        ...ruleLines(d.role.before),
        "```",
        "",
        "After:",
        "",
        "```text",
        ...ruleLines(d.role.after),
        "```",
        "",
        "</details>",
        "",
      );
    }
    if (d.allowances.length > 0) {
      lines.push("| guardrail allowance | added | removed |", "| --- | --- | --- |");
      for (const a of d.allowances) {
        const added =
          a.after !== undefined || a.before !== undefined
            ? code(String(a.after ?? false))
            : a.added.map(code).join(", ") || "—";
        const removed =
          a.after !== undefined || a.before !== undefined
            ? code(String(a.before ?? false))
            : a.removed.map(code).join(", ") || "—";
        lines.push(row([code(a.key), added, removed]));
      }
      lines.push("");
    }
  }
  return lines;
}

/** One line for a stack whose releases were all admitted (nothing to review, but it ran). */
function admissionSummaryLine(outcome: StackAnalysis): string[] {
  if (outcome.admission.length === 0) return [];
  const objects = outcome.admission.reduce((n, r) => n + r.objects, 0);
  const releases = outcome.admission.length;
  return [
    `Admission preview: ${objects} object${objects === 1 ? "" : "s"} of ${releases} release${releases === 1 ? "" : "s"} admitted by a server-side dry-run as the stage identity.`,
    "",
  ];
}

/** Refusals and unchecked releases (omitted when every release's objects were admitted). */
function admissionSection(outcome: StackAnalysis): string[] {
  const relevant = outcome.admission.filter(
    (r) => r.refusals.length > 0 || r.error !== undefined || r.skipped !== undefined,
  );
  if (relevant.length === 0) return admissionSummaryLine(outcome);
  const refusals = relevant.reduce((n, r) => n + r.refusals.length, 0);
  const lines = [
    `### Admission preview (${refusals} refused)`,
    "",
    "Each release's rendered objects, sent as a server-side dry-run with the stage's scoped identity. A refused object fails the deploy: change the chart, or set the config key (where one exists) in the access stack.",
    "",
  ];
  for (const r of relevant) {
    lines.push(`#### stage ${r.stage}, release ${code(r.release)}`, "");
    if (r.error !== undefined) {
      lines.push(`Could not check: ${r.error}`, "");
      continue;
    }
    if (r.skipped !== undefined) {
      lines.push(`${r.skipped[0].toUpperCase()}${r.skipped.slice(1)}.`, "");
      continue;
    }
    lines.push(
      `${r.refusals.length} of ${r.objects} object${r.objects === 1 ? "" : "s"} refused:`,
      "",
      "| object | refused by | rule | allowed by |",
      "| --- | --- | --- | --- |",
    );
    for (const f of r.refusals) {
      lines.push(
        row([
          code(f.object),
          f.policy ? `${f.source} ${code(f.policy)}` : f.source,
          code(f.rule),
          f.configKey ? code(f.configKey) : "no setting",
        ]),
      );
    }
    lines.push("");
  }
  return lines;
}

/** The whole report: title, verdict, summary table, then one section per stack. */
export function renderDriftReport(previews: readonly StackPreview[]): string {
  const outcomes = analyze(previews);
  const lines = [
    "# Drift report",
    "",
    `Refreshing preview of ${outcomes.length} stack${outcomes.length === 1 ? "" : "s"}: ${verdict(outcomes)}.`,
    "",
    row(["stack", "resources", ...CHANGE_KINDS, "drifted"]),
    row(["---", "---:", "---:", "---:", "---:", "---:", "---:"]),
  ];
  for (const o of outcomes) {
    if ("error" in o) {
      lines.push(row([o.stack, "could not run", "—", "—", "—", "—", "—"]));
    } else {
      lines.push(
        row([o.stack, o.resources, ...CHANGE_KINDS.map((k) => o.counts[k]), o.drifted.length]),
      );
    }
  }
  lines.push("");
  for (const o of outcomes) lines.push(...stackSection(o));
  return `${lines.join("\n").trimEnd()}\n`;
}
