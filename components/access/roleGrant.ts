import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { authoritativeAnnotations } from "./authoritative";
import { PolicyRule } from "../../policy/rbac";

export interface RoleGrantArgs {
  /** Name of both the Role and its RoleBinding in the cluster. */
  readonly objectName: string;
  readonly namespace: pulumi.Input<string>;
  /** The ServiceAccount (in the same namespace) the Role is bound to. */
  readonly serviceAccountName: pulumi.Input<string>;
  readonly rules: PolicyRule[];
  readonly labels: Record<string, string>;
  readonly provider: k8s.Provider;
  readonly parent: pulumi.Resource;
}

/**
 * A namespaced Role and the RoleBinding that grants it to one ServiceAccount; both authoritative,
 * so `up` takes back what someone else edited. Pulumi names: `<name>-role`, `<name>-binding`.
 */
export function grantRoleToServiceAccount(
  name: string,
  args: RoleGrantArgs,
): [k8s.rbac.v1.Role, k8s.rbac.v1.RoleBinding] {
  const opts = { parent: args.parent, provider: args.provider };
  const ref = { name: args.objectName, namespace: args.namespace };
  const metadata = (kind: string, declared: Record<string, unknown>) => ({
    ...ref,
    labels: args.labels,
    // Forced apply, plus a token that changes when someone appends to the live lists.
    annotations: authoritativeAnnotations(
      { apiVersion: "rbac.authorization.k8s.io/v1", kind, ...ref },
      declared,
      args.provider,
    ),
  });
  const rules = args.rules;
  const role = new k8s.rbac.v1.Role(
    `${name}-role`,
    { metadata: metadata("Role", { rules }), rules },
    opts,
  );
  const roleRef = { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: args.objectName };
  const subjects = [
    { kind: "ServiceAccount", name: args.serviceAccountName, namespace: args.namespace },
  ];
  const binding = new k8s.rbac.v1.RoleBinding(
    `${name}-binding`,
    { metadata: metadata("RoleBinding", { roleRef, subjects }), roleRef, subjects },
    { ...opts, dependsOn: [role] },
  );
  return [role, binding];
}
