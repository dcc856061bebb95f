// The `workloads` admission policy of a stage (policy/admissionPolicies/index.ts lists them all).
import {
  AdmissionPolicy,
  AdmissionSettings,
  CONTROL_PLANE_TAINTS,
  RULE_PREFIX,
} from "../admission";
import { celList, msg, POD_SPEC_VARIABLE, podTemplateRules, says, stageKeys } from "./common";

export function workloadsPolicy(s: AdmissionSettings): AdmissionPolicy {
  const { relax } = stageKeys(s);
  const pc = "variables.podSpec.priorityClassName";
  return {
    class: "workloads",
    resourceRules: podTemplateRules(),
    variables: [POD_SPEC_VARIABLE],
    validations: [
      {
        expression:
          `!has(${pc}) || ${pc} == "" || ` +
          `(!${pc}.startsWith("system-") && ${pc} in ${celList(s.workloads.allowPriorityClasses)})`,
        messageExpression: msg([
          `${RULE_PREFIX} workloads.priorityClassName: priority class `,
          { cel: pc },
          ` is not allowed in stage ${s.stage} (system-* never); ${relax("workloads.allowPriorityClasses")}`,
        ]),
        reason: "Forbidden",
      },
      {
        // A scheduled Pod carries the nodeName the scheduler bound; only creation may not set it.
        expression:
          "(request.kind.kind == 'Pod' && request.operation == 'UPDATE') || " +
          '!has(variables.podSpec.nodeName) || variables.podSpec.nodeName == ""',
        message: says(
          "workloads.nodeName",
          "a pod template may not pick its node (nodeName bypasses the scheduler and every taint)",
          null,
        ),
        reason: "Forbidden",
      },
      {
        // An empty key with operator Exists tolerates every taint, control-plane ones included.
        expression:
          "!has(variables.podSpec.tolerations) || variables.podSpec.tolerations.all(t, " +
          `has(t.key) && t.key != "" && !(t.key in ${celList(CONTROL_PLANE_TAINTS)}))`,
        message: says(
          "workloads.tolerations",
          "a pod template may not tolerate control-plane taints or every taint (empty key)",
          null,
        ),
        reason: "Forbidden",
      },
    ],
  };
}
