// The `services` admission policy of a stage (policy/admissionPolicies/index.ts lists them all).
import { AdmissionPolicy, AdmissionSettings, RULE_PREFIX } from "../admission";
import { celList, msg, rule, says, stageKeys } from "./common";

export function servicesPolicy(s: AdmissionSettings): AdmissionPolicy {
  const { relax } = stageKeys(s);
  const allowedTypes = ["ClusterIP", ...s.services.allowTypes];
  return {
    class: "services",
    resourceRules: [rule([""], ["services"])],
    validations: [
      {
        expression: "!has(object.spec.externalIPs) || size(object.spec.externalIPs) == 0",
        message: says(
          "services.externalIPs",
          "Service spec.externalIPs intercepts traffic to any IP cluster-wide (CVE-2020-8554)",
          null,
        ),
        reason: "Forbidden",
      },
      {
        expression: `!has(object.spec.type) || object.spec.type in ${celList(allowedTypes)}`,
        messageExpression: msg([
          `${RULE_PREFIX} services.type: Service type `,
          { cel: "string(object.spec.type)" },
          ` is not allowed in stage ${s.stage}; ${relax("services.allowTypes")}`,
        ]),
        reason: "Forbidden",
      },
    ],
  };
}
