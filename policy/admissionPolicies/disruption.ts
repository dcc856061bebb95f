// The `disruption` admission policy of a stage (policy/admissionPolicies/index.ts lists them all).
import { AdmissionPolicy, AdmissionSettings } from "../admission";
import { rule, says, stageKeys } from "./common";

export function disruptionPolicy(s: AdmissionSettings): AdmissionPolicy {
  const { relax } = stageKeys(s);
  return {
    class: "disruption",
    resourceRules: [rule(["policy"], ["poddisruptionbudgets"])],
    validations: [
      {
        expression:
          "!has(object.spec.maxUnavailable) || (type(object.spec.maxUnavailable) == int ? " +
          'object.spec.maxUnavailable > 0 : !string(object.spec.maxUnavailable).matches("^0*%?$"))',
        message: says(
          "disruptionBudgets.maxUnavailable",
          "maxUnavailable 0 or 0% blocks every eviction (node drains never finish)",
          null,
        ),
        reason: "Forbidden",
      },
      s.disruptionBudgets.allowMinAvailable
        ? {
            expression:
              "!has(object.spec.minAvailable) || type(object.spec.minAvailable) == int || " +
              '!string(object.spec.minAvailable).matches("^0*100%$")',
            message: says(
              "disruptionBudgets.minAvailable",
              "minAvailable 100% blocks every eviction (node drains never finish)",
              null,
            ),
            reason: "Forbidden",
          }
        : {
            // Any minAvailable blocks every eviction for some replica count the policy cannot see
            // (an integer >= replicas; a percentage rounds up, so 50% of one replica is one).
            expression: "!has(object.spec.minAvailable)",
            message: says(
              "disruptionBudgets.minAvailable",
              "minAvailable can block every eviction (an integer at or above the replica count, or any percentage of one replica); use maxUnavailable",
              relax("disruptionBudgets.allowMinAvailable"),
            ),
            reason: "Forbidden",
          },
    ],
  };
}
