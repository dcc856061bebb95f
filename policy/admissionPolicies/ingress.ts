// The `ingress` admission policy of a stage (policy/admissionPolicies/index.ts lists them all).
import {
  AdmissionPolicy,
  AdmissionSettings,
  hostPatternRegex,
  INJECTION_ANNOTATION_FRAGMENTS,
  INJECTION_ANNOTATION_KEYS,
  RULE_PREFIX,
} from "../admission";
import { celList, msg, rule, says, stageKeys } from "./common";

export function ingressPolicy(s: AdmissionSettings): AdmissionPolicy {
  const { relax } = stageKeys(s);
  const hostRegexes = celList(s.ingress.allowHosts.map(hostPatternRegex));
  const hostOk = (h: string) => `${hostRegexes}.exists(p, ${h}.matches(p))`;
  const classes = celList(s.ingress.allowClasses);
  const annotationExact = s.ingress.allowAnnotations.filter((a) => !a.endsWith("*"));
  const annotationPrefixes = s.ingress.allowAnnotations
    .filter((a) => a.endsWith("*"))
    .map((a) => a.slice(0, -1));
  const injection =
    `(${celList([...INJECTION_ANNOTATION_FRAGMENTS])}.exists(f, k.contains(f)) || ` +
    `k in ${celList([...INJECTION_ANNOTATION_KEYS])})`;
  const annotationAllowed =
    `(k in ${celList(annotationExact)} || ` +
    `${celList(annotationPrefixes)}.exists(p, k.startsWith(p)))`;
  const annotations = "(has(object.metadata.annotations) ? object.metadata.annotations : {})";
  return {
    class: "ingress",
    resourceRules: [rule(["networking.k8s.io", "extensions"], ["ingresses"])],
    validations: [
      // First: the API server reports the first failed validation of a policy.
      {
        expression: `${annotations}.all(k, !${injection})`,
        messageExpression: msg([
          `${RULE_PREFIX} ingress.annotations: annotation `,
          { cel: `${annotations}.filter(k, ${injection})[0]` },
          " injects controller configuration or widens the Ingress; no setting relaxes it",
        ]),
        reason: "Forbidden",
      },
      {
        expression: "!has(object.spec.defaultBackend)",
        message: says(
          "ingress.defaultBackend",
          "a defaultBackend catches every host and path of the controller",
          null,
        ),
        reason: "Forbidden",
      },
      {
        // A rule without a host matches every host; TLS hosts are what cert-manager certifies.
        expression:
          `(!has(object.spec.rules) || object.spec.rules.all(r, has(r.host) && ${hostOk("r.host")})) && ` +
          `(!has(object.spec.tls) || object.spec.tls.all(t, !has(t.hosts) || t.hosts.all(h, ${hostOk("h")})))`,
        message: says(
          "ingress.host",
          `every Ingress rule and TLS entry needs a host matching the stage's allowed host patterns (${s.ingress.allowHosts.join(", ") || "none"})`,
          relax("ingress.allowHosts"),
        ),
        reason: "Forbidden",
      },
      {
        expression:
          `(!has(object.spec.ingressClassName) || object.spec.ingressClassName in ${classes}) && ` +
          `(!("kubernetes.io/ingress.class" in ${annotations}) || ${annotations}["kubernetes.io/ingress.class"] in ${classes})`,
        message: says(
          "ingress.class",
          `the ingress class must be one of the stage's allowed classes (${s.ingress.allowClasses.join(", ") || "none: leave it unset"})`,
          relax("ingress.allowClasses"),
        ),
        reason: "Forbidden",
      },
      {
        expression: `${annotations}.all(k, k == "kubernetes.io/ingress.class" || ${annotationAllowed})`,
        messageExpression: msg([
          `${RULE_PREFIX} ingress.annotations: annotation `,
          {
            cel: `${annotations}.filter(k, !(k == "kubernetes.io/ingress.class" || ${annotationAllowed}))[0]`,
          },
          ` is not in the stage's allowed set; ${relax("ingress.allowAnnotations")}`,
        ]),
        reason: "Forbidden",
      },
    ],
  };
}
