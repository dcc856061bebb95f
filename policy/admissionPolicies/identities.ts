// The `identities` admission policy of a stage (policy/admissionPolicies/index.ts lists them all).
import {
  AdmissionPolicy,
  AdmissionSettings,
  API_EGRESS_LABEL,
  celString,
  ciRequester,
  MANAGED_IDENTITY_PATTERN,
  POD_TEMPLATE_KINDS,
} from "../admission";
import {
  celList,
  POD_LABELS_EXPRESSION,
  POD_SPEC_VARIABLE,
  podTemplateRules,
  rule,
  says,
  SUB,
} from "./common";

export function identitiesPolicy(s: AdmissionSettings): AdmissionPolicy {
  const sa = "variables.podSpec";
  return {
    class: "identities",
    resourceRules: [
      rule([""], ["secrets", "configmaps"]),
      rule([""], ["serviceaccounts/token", "pods/binding"], ["CREATE"]),
      rule([""], ["services/status"], ["UPDATE"]),
      ...podTemplateRules(),
    ],
    matchConditions: [{ name: "ci-requester", expression: ciRequester(s) }],
    variables: [
      {
        name: "podSpec",
        expression: `request.resource.resource in ${celList(
          POD_TEMPLATE_KINDS.map((k) => k.resource),
        )} && ${SUB} == "" ? (${POD_SPEC_VARIABLE.expression}) : {}`,
      },
      {
        name: "podLabels",
        expression: `request.resource.resource in ${celList(
          POD_TEMPLATE_KINDS.map((k) => k.resource),
        )} && ${SUB} == "" ? (${POD_LABELS_EXPRESSION}) : {}`,
      },
    ],
    validations: [
      {
        // The token controller fills such a Secret with a never-expiring token for the named
        // ServiceAccount: only the access layer may create one. Secret type is immutable, so
        // UPDATE cannot turn an Opaque Secret into one.
        expression:
          `request.resource.resource != "secrets" || ${SUB} != "" || ` +
          'object.type != "kubernetes.io/service-account-token"',
        message: says(
          "identities.tokenSecret",
          "only the access layer creates kubernetes.io/service-account-token Secrets (a legacy token never expires and survives a rotation)",
          null,
        ),
        reason: "Forbidden",
      },
      {
        // Pods trust it, and so would a scoped kubeconfig built from it: a credential that could
        // rewrite it could make the next, rotated kubeconfig trust a server of its choosing.
        expression: `request.resource.resource != "configmaps" || request.name != "kube-root-ca.crt"`,
        message: says(
          "identities.clusterCA",
          "the namespace's kube-root-ca.crt is the cluster CA that pods trust; only the control plane writes it",
          null,
        ),
        reason: "Forbidden",
      },
      {
        expression: `!(request.resource.resource == "serviceaccounts" && ${SUB} == "token")`,
        message: says(
          "identities.tokenRequest",
          "only the access layer mints ServiceAccount tokens",
          null,
        ),
        reason: "Forbidden",
      },
      {
        expression:
          `!(request.resource.resource == "pods" && ${SUB} == "binding") && ` +
          `!(request.resource.resource == "services" && ${SUB} == "status")`,
        message: says(
          "identities.subresources",
          "pods/binding (picks a node) and services/status (claims load-balancer IPs, CVE-2020-8554) are the control plane's",
          null,
        ),
        reason: "Forbidden",
      },
      {
        expression:
          `(!has(${sa}.serviceAccountName) || !${sa}.serviceAccountName.matches(${celString(MANAGED_IDENTITY_PATTERN)})) && ` +
          `(!has(${sa}.serviceAccount) || !${sa}.serviceAccount.matches(${celString(MANAGED_IDENTITY_PATTERN)}))`,
        message: says(
          "identities.serviceAccountName",
          "a pod template may not run as an identity scoped-cd manages (deployer-*, tiller*)",
          null,
        ),
        reason: "Forbidden",
      },
      {
        // The label Tiller's own API-server egress policy selects (components/access/tiller.ts).
        expression: `!(${celString(API_EGRESS_LABEL)} in variables.podLabels)`,
        message: says(
          "identities.apiEgressLabel",
          `a pod template may not carry ${API_EGRESS_LABEL} (the label that lets Tiller's pod past the stage's egress policy to the API server)`,
          null,
        ),
        reason: "Forbidden",
      },
    ],
  };
}
