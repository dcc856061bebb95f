// The stage's guardrails as ONE ValidatingAdmissionPolicy (and so one binding) instead of one per
// class: a stage's access layer then has 2 admission objects instead of 18, which halves the
// resources of a stage and the engine's steps and checkpoint writes with them (issue 20;
// docs/performance.md). Each class keeps its exact CEL: what a class's resourceRules and
// matchConditions selected becomes a guard variable (`<class>_applies`), and each validation is
// `!guard || (expression)`. CEL's `||` is true when either side is true, even if the other errs,
// so an expression written for one kind is never evaluated (nor able to fail) on another. The
// class's own variables are renamed `<class>_<name>`, since two classes define `podSpec`
// differently. Guards compare with `==` only (no list literals): policy/allowances.ts reads a
// stage's allowed values from the CEL lists of the validations.
import type { AdmissionPolicy, ResourceRule, Validation } from "../admission";
import { SUB } from "./common";

/** The class name of the merged policy: the policy and its binding are `scoped-cd-<ns>-guardrails`. */
export const MERGED_CLASS = "guardrails";

const anyOf = (terms: string[]) => (terms.length === 1 ? terms[0] : `(${terms.join(" || ")})`);

/** CEL that is true when the request matches one resource rule (as the API server matches it). */
export function ruleMatch(r: ResourceRule): string {
  const terms: string[] = [];
  if (!r.apiGroups.includes("*")) {
    terms.push(anyOf(r.apiGroups.map((g) => `request.resource.group == "${g}"`)));
  }
  if (!r.apiVersions.includes("*")) {
    terms.push(anyOf(r.apiVersions.map((v) => `request.resource.version == "${v}"`)));
  }
  // `x` is the resource alone, `x/y` its subresource y; `*` every resource, `*/*` and `x/*` with
  // every subresource.
  terms.push(
    anyOf(
      r.resources.map((spec) => {
        const [resource, sub] = spec.split("/");
        const parts: string[] = [];
        if (resource !== "*") parts.push(`request.resource.resource == "${resource}"`);
        if (sub === undefined) parts.push(`${SUB} == ""`);
        else if (sub !== "*") parts.push(`${SUB} == "${sub}"`);
        return parts.length ? parts.join(" && ") : "true";
      }),
    ),
  );
  if (!r.operations.includes("*")) {
    terms.push(anyOf(r.operations.map((o) => `request.operation == "${o}"`)));
  }
  return terms.join(" && ");
}

/** The policy's union of resource rules, one entry per distinct rule. */
function unionRules(policies: readonly AdmissionPolicy[]): ResourceRule[] {
  const seen = new Set<string>();
  const out: ResourceRule[] = [];
  for (const r of policies.flatMap((p) => p.resourceRules)) {
    const key = JSON.stringify(r);
    if (!seen.has(key)) {
      seen.add(key);
      out.push(r);
    }
  }
  return out;
}

/** Rename a class's variables in a CEL expression (`variables.podSpec` → `variables.<class>_podSpec`). */
function renamer(cls: string, names: readonly string[]) {
  if (names.length === 0) return (e: string) => e;
  const re = new RegExp(`\\bvariables\\.(${names.join("|")})(?![A-Za-z0-9_])`, "g");
  return (e: string) => e.replace(re, (_m, n: string) => `variables.${cls}_${n}`);
}

/** One policy doing what every policy of `policies` does, each class on the requests it selected. */
export function mergePolicies(policies: readonly AdmissionPolicy[]): AdmissionPolicy {
  const variables: { name: string; expression: string }[] = [];
  const validations: Validation[] = [];
  for (const p of policies) {
    if (!/^[a-z]+$/.test(p.class)) throw new Error(`policy class ${p.class}: not [a-z]+`);
    const rename = renamer(
      p.class,
      (p.variables ?? []).map((v) => v.name),
    );
    const guard = `${p.class}_applies`;
    const conditions = (p.matchConditions ?? []).map((c) => `(${rename(c.expression)})`);
    variables.push({
      name: guard,
      expression: [anyOf(p.resourceRules.map((r) => `(${ruleMatch(r)})`)), ...conditions].join(
        " && ",
      ),
    });
    for (const v of p.variables ?? []) {
      variables.push({ name: `${p.class}_${v.name}`, expression: rename(v.expression) });
    }
    for (const v of p.validations) {
      validations.push({
        ...v,
        expression: `!variables.${guard} || (${rename(v.expression)})`,
        ...(v.messageExpression ? { messageExpression: rename(v.messageExpression) } : {}),
      });
    }
  }
  const names = variables.map((v) => v.name);
  const dup = names.find((n, i) => names.indexOf(n) !== i);
  if (dup) throw new Error(`merged admission policy: variable ${dup} defined twice`);
  return { class: MERGED_CLASS, resourceRules: unionRules(policies), variables, validations };
}

/** One class of a merged policy, as it was before the merge (what a reviewer reads). */
export interface MergedClass {
  readonly class: string;
  /** When the class applies: its resource rules and match conditions, as CEL. */
  readonly guard: string;
  readonly variables: { name: string; expression: string }[];
  readonly validations: Validation[];
}

/** The classes of a merged policy's spec, their own names and expressions restored. */
export function classesOf(spec: {
  variables?: { name: string; expression: string }[];
  validations?: Validation[];
}): MergedClass[] {
  const out: MergedClass[] = [];
  for (const v of spec.variables ?? []) {
    const m = /^([a-z]+)_applies$/.exec(v.name);
    if (m) out.push({ class: m[1], guard: v.expression, variables: [], validations: [] });
  }
  const restore = (cls: string) => (e: string) =>
    e.replace(new RegExp(`\\bvariables\\.${cls}_([A-Za-z0-9_]+)`, "g"), "variables.$1");
  for (const c of out) {
    const back = restore(c.class);
    const prefix = `${c.class}_`;
    for (const v of spec.variables ?? []) {
      if (v.name.startsWith(prefix) && v.name !== `${c.class}_applies`) {
        c.variables.push({ name: v.name.slice(prefix.length), expression: back(v.expression) });
      }
    }
    const wrapper = `!variables.${c.class}_applies || (`;
    for (const v of spec.validations ?? []) {
      if (!v.expression.startsWith(wrapper)) continue;
      c.validations.push({
        ...v,
        expression: back(v.expression.slice(wrapper.length, -1)),
        ...(v.messageExpression ? { messageExpression: back(v.messageExpression) } : {}),
      });
    }
  }
  return out;
}
