// How configuration problems are reported: one line per problem, each with its key path, all at
// once, as a RunError (the engine prints the message, never a stack trace).
import * as pulumi from "@pulumi/pulumi";
import { z } from "zod";
import { PROJECT } from "./schema";

/** Thrown when the stack configuration is invalid; lists every problem with its key path. */
export class ConfigError extends pulumi.RunError {
  constructor(readonly problems: readonly string[]) {
    super(
      `invalid stack configuration (${problems.length} problem${problems.length > 1 ? "s" : ""}):\n` +
        problems.map((p) => `  - ${p}`).join("\n"),
    );
  }
}

/** `scoped-cd:stages.prod.guardrails.quota["requests.cpu"]` */
export function keyPath(path: readonly PropertyKey[]): string {
  let out = `${PROJECT}:`;
  path.forEach((seg, i) => {
    if (typeof seg === "number") out += `[${seg}]`;
    else if (String(seg).includes(".")) out += `[${JSON.stringify(String(seg))}]`;
    else out += i === 0 ? String(seg) : `.${String(seg)}`;
  });
  return out;
}

/** A problem found by a cross-field rule: where, and what is wrong. */
export type Problem = [path: PropertyKey[], message: string];

export const formatProblem = ([path, message]: Problem) => `${keyPath(path)}: ${message}`;

/** A schema issue as problem lines (an unknown-keys issue names each key). */
export function formatIssue(issue: z.core.$ZodIssue, prefix: PropertyKey[]): string[] {
  const path = [...prefix, ...issue.path];
  if (issue.code === "unrecognized_keys") {
    return issue.keys.map((k) => `${keyPath([...path, k])}: unknown key`);
  }
  return [`${path.length > 0 ? keyPath(path) : `${PROJECT}:<root>`}: ${describeIssue(issue)}`];
}

function describeIssue(issue: z.core.$ZodIssue): string {
  if (issue.code === "invalid_type" && issue.input === undefined) return "is required";
  if (issue.code === "invalid_type")
    return `must be ${TYPE_NAMES[issue.expected] ?? article(issue.expected)}`;
  if (issue.code === "invalid_value") {
    return `must be one of ${issue.values.map((v) => JSON.stringify(v)).join(", ")}`;
  }
  return issue.message;
}

const TYPE_NAMES: Record<string, string> = { record: "a map", object: "a map", array: "a list" };
const article = (t: string) => (/^[aeiou]/.test(t) ? `an ${t}` : `a ${t}`);
