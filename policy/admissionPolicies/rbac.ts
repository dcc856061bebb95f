// The `rbac` admission policy of a stage (policy/admissionPolicies/index.ts lists them all).
import { AdmissionPolicy, AdmissionSettings, ciRequester } from "../admission";
import { rule, says } from "./common";

export function rbacPolicy(s: AdmissionSettings): AdmissionPolicy {
  return {
    class: "rbac",
    resourceRules: [rule(["rbac.authorization.k8s.io"], ["rolebindings"])],
    // CI identities only: the access layer itself binds a group (the OIDC CI user's), and the
    // garbage collector must still update such a binding's finalizers when it is deleted.
    matchConditions: [{ name: "ci-requester", expression: ciRequester(s) }],
    validations: [
      {
        expression: 'object.roleRef.kind == "Role"',
        message: says(
          "rbac.roleRef",
          "a RoleBinding may bind only a Role of its namespace, never a ClusterRole",
          null,
        ),
        reason: "Forbidden",
      },
      {
        expression:
          '!has(object.subjects) || object.subjects.all(x, x.kind == "ServiceAccount" && (!has(x.namespace) || x.namespace == "" || x.namespace == request.namespace))',
        message: says(
          "rbac.subjects",
          "a RoleBinding may name only ServiceAccounts of its own namespace (no users, groups or other namespaces' accounts)",
          null,
        ),
        reason: "Forbidden",
      },
    ],
  };
}
