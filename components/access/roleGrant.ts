import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { AUTHORITATIVE } from "./labels";
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
  const metadata = {
    name: args.objectName,
    namespace: args.namespace,
    labels: args.labels,
    annotations: AUTHORITATIVE,
  };
  const role = new k8s.rbac.v1.Role(`${name}-role`, { metadata, rules: args.rules }, opts);
  const binding = new k8s.rbac.v1.RoleBinding(
    `${name}-binding`,
    {
      metadata,
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: role.metadata.name },
      subjects: [
        { kind: "ServiceAccount", name: args.serviceAccountName, namespace: args.namespace },
      ],
    },
    opts,
  );
  return [role, binding];
}
