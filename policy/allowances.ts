// A stage's guardrail allowances (services.allowTypes, ingress.allowHosts, …) read back from its
// ValidatingAdmissionPolicies, so a pull request can show what a change lets through before and
// after, from the objects themselves (live or planned) rather than from a config file that may not
// be what is enforced. The stage's allowances are inlined into the CEL (policy/admission.ts): each
// validation names its rule (`scoped-cd guardrail <rule>:`) and the key that relaxes it
// (`allow it with scoped-cd:stages.<stage>.guardrails.<key>`), and the allowed values are the CEL
// string lists of its expression.
import { RULE_PREFIX } from "./admission";

/** The part of a ValidatingAdmissionPolicy's validation that names and enforces a rule. */
export interface ValidationText {
  readonly expression?: string;
  readonly message?: string;
  readonly messageExpression?: string;
}

/** Allowances by config key: the values a list allowance admits, or a switch's state. */
export type Allowances = Record<string, readonly string[] | boolean>;

export interface AllowanceChange {
  /** The full config key, e.g. `scoped-cd:stages.prod.guardrails.services.allowTypes`. */
  readonly key: string;
  readonly added: readonly string[];
  readonly removed: readonly string[];
  /** For a switch: its value before and after (undefined: the policy is new or goes). */
  readonly before?: boolean;
  readonly after?: boolean;
}

const RULE_ID = new RegExp(`${RULE_PREFIX} ([A-Za-z]+\\.[A-Za-z]+):`);
const RELAX_KEY =
  /allow it with (scoped-cd:stages\.[A-Za-z0-9.-]+?\.guardrails\.[A-Za-z.]+[A-Za-z])/;
const CEL_LIST = /\[((?:"[^"\\]*"(?:, )?)*)\]/g;
const CEL_STRING = /"([^"\\]*)"/g;

/** The switch no list expresses: whether PodDisruptionBudgets may set minAvailable. */
const MIN_AVAILABLE_RULE = "disruptionBudgets.minAvailable";
const MIN_AVAILABLE_KEY = "disruptionBudgets.allowMinAvailable";

/** The host pattern a regular expression of policy/admission.ts hostPatternRegex stands for. */
export function hostPatternOfRegex(regex: string): string {
  const label = "[a-z0-9]([-a-z0-9]*[a-z0-9])?[.]";
  let body = regex.replace(/^\^/, "").replace(/\$$/, "");
  const wildcard = body.startsWith(label);
  if (wildcard) body = body.slice(label.length);
  return `${wildcard ? "*." : ""}${body.split("[.]").join(".")}`;
}

/** The values of the CEL string lists in an expression, as the config lists them. */
function listedValues(expression: string): string[] {
  const values: string[] = [];
  for (const m of expression.matchAll(CEL_LIST)) {
    const after = expression.slice(m.index! + m[0].length);
    const items = [...m[1].matchAll(CEL_STRING)].map((s) => s[1]);
    if (after.startsWith(".exists(p, k.startsWith(p))")) {
      values.push(...items.map((i) => `${i}*`)); // prefixes were written `prefix*`
    } else if (/^\.exists\(p, [^)]*\.matches\(p\)\)/.test(after)) {
      values.push(...items.map(hostPatternOfRegex));
    } else {
      values.push(...items);
    }
  }
  return values;
}

/**
 * The allowances a stage's policies enforce. Values every stage has (ClusterIP, Helm's own
 * annotations) come with them; a diff cancels them out.
 */
export function allowancesOf(stage: string, validations: readonly ValidationText[]): Allowances {
  const out: Record<string, string[] | boolean> = {};
  const minAvailableKey = `scoped-cd:stages.${stage}.guardrails.${MIN_AVAILABLE_KEY}`;
  for (const v of validations) {
    const text = `${v.message ?? ""} ${v.messageExpression ?? ""}`;
    const rule = RULE_ID.exec(text)?.[1];
    const relax = RELAX_KEY.exec(text)?.[1];
    if (rule === MIN_AVAILABLE_RULE) {
      out[minAvailableKey] = relax === undefined; // refused unless the switch is on
      continue;
    }
    if (!relax) continue;
    const list = (out[relax] as string[] | undefined) ?? [];
    for (const value of listedValues(v.expression ?? ""))
      if (!list.includes(value)) list.push(value);
    out[relax] = list;
  }
  return out;
}

/** What changes between two stages' allowances; keys in a stable order. */
export function diffAllowances(before: Allowances, after: Allowances): AllowanceChange[] {
  const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();
  const changes: AllowanceChange[] = [];
  for (const key of keys) {
    const b = before[key];
    const a = after[key];
    if (typeof b === "boolean" || typeof a === "boolean") {
      const bb = typeof b === "boolean" ? b : undefined;
      const ab = typeof a === "boolean" ? a : undefined;
      // A policy that appears or goes with the switch off changes nothing a chart can do.
      if (bb !== ab && (bb ?? false) !== (ab ?? false)) {
        changes.push({ key, added: [], removed: [], before: bb, after: ab });
      }
      continue;
    }
    const bl = (b as readonly string[] | undefined) ?? [];
    const al = (a as readonly string[] | undefined) ?? [];
    const added = al.filter((x) => !bl.includes(x)).sort();
    const removed = bl.filter((x) => !al.includes(x)).sort();
    if (added.length > 0 || removed.length > 0) changes.push({ key, added, removed });
  }
  return changes;
}
