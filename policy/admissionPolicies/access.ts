// The `access` admission policy of a stage (policy/admissionPolicies/index.ts lists them all).
import {
  ACCESS_LAYER_LABEL,
  AdmissionPolicy,
  AdmissionSettings,
  celString,
  CI_FINALIZERS,
  ciRequester,
  RESERVED_NAMES,
  RULE_PREFIX,
} from "../admission";
import { celList, msg, rule } from "./common";

export function accessPolicy(s: AdmissionSettings): AdmissionPolicy {
  const labelled = (o: string) =>
    `${o} != null && has(${o}.metadata.labels) && ` +
    `${celString(ACCESS_LAYER_LABEL.key)} in ${o}.metadata.labels && ` +
    `${o}.metadata.labels[${celString(ACCESS_LAYER_LABEL.key)}] == ${celString(ACCESS_LAYER_LABEL.value)}`;
  const what = { cel: 'request.kind.kind + " " + variables.name' };
  const reserved = RESERVED_NAMES.map(
    (r) =>
      `(request.resource.group == ${celString(r.group)} && request.resource.resource == ${celString(r.resource)} && ` +
      `variables.name.matches(${celString(r.pattern)}))`,
  ).join(" || ");
  const keptFrom = (field: string, item: string) =>
    `(oldObject != null && has(oldObject.metadata.${field}) && ${item} in oldObject.metadata.${field})`;
  return {
    class: "access",
    // Every resource of the namespace (and the Namespace object itself, which the selector
    // matches by its own labels); subresources cannot change metadata (status resets it).
    resourceRules: [rule(["*"], ["*"], ["CREATE", "UPDATE", "DELETE"])],
    matchConditions: [{ name: "ci-requester", expression: ciRequester(s) }],
    variables: [
      {
        // A generated name (generateName) is in the object by the time validation runs.
        name: "name",
        expression:
          "object != null && has(object.metadata.name) ? object.metadata.name : request.name",
      },
    ],
    validations: [
      {
        // UPDATE covers every patch type, server-side apply and a chart's upgrade: a change of
        // metadata only (finalizers, ownerReferences, labels, annotations) is an UPDATE too.
        expression: `!(${labelled("oldObject")}) && !(${labelled("object")})`,
        messageExpression: msg([
          `${RULE_PREFIX} access.owned: `,
          what,
          ` belongs to the access layer (label ${ACCESS_LAYER_LABEL.key}=${ACCESS_LAYER_LABEL.value}): only the operators' access stack may `,
          { cel: "request.operation.lowerAscii()" },
          " it or set that label, metadata included; no setting relaxes it",
        ]),
        reason: "Forbidden",
      },
      {
        expression: `request.operation == "DELETE" || !(${reserved})`,
        messageExpression: msg([
          `${RULE_PREFIX} access.reservedName: `,
          what,
          " is a name the access layer uses (deployer-*, tiller*, scoped-deployer, tiller-deploy, stage-*); no setting relaxes it",
        ]),
        reason: "Forbidden",
      },
      {
        expression:
          'request.operation == "DELETE" || !has(object.metadata.finalizers) || ' +
          `object.metadata.finalizers.all(f, f in ${celList([...CI_FINALIZERS])} || ` +
          '(f == "kubernetes.io/pvc-protection" && request.resource.resource == "persistentvolumeclaims") || ' +
          `${keptFrom("finalizers", "f")})`,
        messageExpression: msg([
          `${RULE_PREFIX} access.finalizers: `,
          what,
          ": a finalizer no controller of the cluster removes would stall its deletion (rotation, destroy, namespace teardown); no setting relaxes it",
        ]),
        reason: "Forbidden",
      },
      {
        expression:
          'request.operation == "DELETE" || !has(object.metadata.ownerReferences) || ' +
          "object.metadata.ownerReferences.all(r, " +
          "((!has(r.controller) || !r.controller) && (!has(r.blockOwnerDeletion) || !r.blockOwnerDeletion)) || " +
          `${keptFrom("ownerReferences", "r")})`,
        messageExpression: msg([
          `${RULE_PREFIX} access.ownerReferences: `,
          what,
          ": controller and blockOwnerDeletion owner references are the control plane's (one hides an object from the inventory, the other stalls its owner's deletion); no setting relaxes it",
        ]),
        reason: "Forbidden",
      },
    ],
  };
}
