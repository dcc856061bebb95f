// The `volumes` admission policy of a stage (policy/admissionPolicies/index.ts lists them all).
import { AdmissionPolicy, AdmissionSettings, ciRequester } from "../admission";
import { rule, says } from "./common";

export function volumesPolicy(s: AdmissionSettings): AdmissionPolicy {
  return {
    class: "volumes",
    resourceRules: [rule([""], ["persistentvolumeclaims"])],
    // The PersistentVolume binder (a control-plane identity) sets volumeName when it binds.
    matchConditions: [{ name: "ci-requester", expression: ciRequester(s) }],
    validations: [
      {
        expression:
          '!has(object.spec.volumeName) || object.spec.volumeName == "" || ' +
          "(request.operation == 'UPDATE' && has(oldObject.spec.volumeName) && " +
          "oldObject.spec.volumeName == object.spec.volumeName)",
        message: says(
          "volumes.volumeName",
          "a claim may not name its PersistentVolume (it could bind a volume provisioned for someone else); let the storage class provision one",
          null,
        ),
        reason: "Forbidden",
      },
      {
        expression:
          "!has(object.spec.dataSourceRef) || !has(object.spec.dataSourceRef.namespace) || " +
          'object.spec.dataSourceRef.namespace == "" || object.spec.dataSourceRef.namespace == request.namespace',
        message: says(
          "volumes.dataSource",
          "a claim may not be populated from another namespace's data",
          null,
        ),
        reason: "Forbidden",
      },
    ],
  };
}
