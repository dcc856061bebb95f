// Building blocks the policy builders of this folder share: resource rules, the pod-template
// variables, and denial messages that name the rule and the config key that relaxes it.
import { AdmissionSettings, celString, POD_TEMPLATE_KINDS, RULE_PREFIX } from "../admission";

export const celList = (items: readonly string[]) => `[${items.map(celString).join(", ")}]`;

export const rule = (
  apiGroups: string[],
  resources: string[],
  operations = ["CREATE", "UPDATE"],
) => ({
  apiGroups,
  apiVersions: ["*"],
  operations,
  resources,
});

/** The request's subresource; the field is absent (not empty) for the resource itself. */
export const SUB = '(has(request.subResource) ? request.subResource : "")';

export const podTemplateRules = () =>
  ["", "apps", "batch"].map((g) =>
    rule(
      [g],
      POD_TEMPLATE_KINDS.filter((k) => k.group === g).map((k) => k.resource),
    ),
  );
export const POD_SPEC_VARIABLE = {
  name: "podSpec",
  expression:
    "request.kind.kind == 'Pod' ? object.spec : " +
    "request.kind.kind == 'CronJob' ? object.spec.jobTemplate.spec.template.spec : " +
    "object.spec.template.spec",
};

/** The pod labels of any pod-template kind ({} where there are none). */
export const POD_LABELS_EXPRESSION =
  "request.kind.kind == 'Pod' ? (has(object.metadata.labels) ? object.metadata.labels : {}) : " +
  "request.kind.kind == 'CronJob' ? " +
  "(has(object.spec.jobTemplate.spec.template.metadata) && has(object.spec.jobTemplate.spec.template.metadata.labels) ? object.spec.jobTemplate.spec.template.metadata.labels : {}) : " +
  "(has(object.spec.template.metadata) && has(object.spec.template.metadata.labels) ? object.spec.template.metadata.labels : {})";

/** A denial message: which rule, what it refuses, and what relaxes it. */
export function says(ruleId: string, what: string, relax: string | null): string {
  return `${RULE_PREFIX} ${ruleId}: ${what}; ${relax ?? "no setting relaxes it"}`;
}

/** The stage's config keys, and the "allow it with …" hint that names one. */
export function stageKeys(s: AdmissionSettings) {
  const key = (k: string) => `scoped-cd:stages.${s.stage}.guardrails.${k}`;
  return { key, relax: (k: string) => `allow it with ${key(k)}` };
}

/** A messageExpression: a CEL string expression, so the fixed parts are quoted. */
export const msg = (parts: (string | { cel: string })[]) =>
  parts.map((p) => (typeof p === "string" ? celString(p) : p.cel)).join(" + ");
