import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { deployerRules } from "../../policy/deployerProfile";
import { renderScopedKubeconfig } from "./kubeconfig";
import { stageLabels } from "./labels";
import { PolicyRule } from "../../policy/rbac";
import { grantRoleToServiceAccount } from "./roleGrant";

export interface DeployerAccessArgs {
  /** The stage this identity deploys to. */
  readonly stage: string;
  /** The stage namespace; the identity's rights stop there. */
  readonly namespace: pulumi.Input<string>;
  /** Stable cluster identity, used as the kubeconfig's cluster name. */
  readonly clusterName: string;
  /** API server URL written into the kubeconfig. */
  readonly server: pulumi.Input<string>;
  /** Changing it issues a new identity and token and revokes the old ones. */
  readonly rotation: string;
  /** Let charts create Roles and RoleBindings in the namespace. */
  readonly allowRbac: boolean;
  /** The stage runs Tiller (adds port-forward to reach it). */
  readonly tiller: boolean;
  /** Vetted extra namespaced rules. */
  readonly extraRules: readonly PolicyRule[];
  /** The admin provider; access-layer resources only. */
  readonly provider: k8s.Provider;
}

/**
 * The stage's deployer identity: a ServiceAccount, a Role generated from the least-privilege
 * profile, its RoleBinding, a token bound to the ServiceAccount, and the scoped kubeconfig.
 */
export class DeployerAccess extends pulumi.ComponentResource {
  /** The ServiceAccount's name; it carries the rotation suffix. */
  public readonly serviceAccountName: pulumi.Output<string>;
  /** The scoped kubeconfig YAML (secret). */
  public readonly kubeconfig: pulumi.Output<string>;
  /** The Role's rules as declared. */
  public readonly rules: PolicyRule[];
  /** The RBAC objects the kubeconfig's rights depend on. */
  public readonly grants: pulumi.Resource[];

  constructor(name: string, args: DeployerAccessArgs, opts?: pulumi.ComponentResourceOptions) {
    super("scoped-cd:access:DeployerAccess", name, {}, opts);
    const provider = args.provider;
    const labels = stageLabels(args.stage, "deployer");

    // The suffix changes with `rotation` only. It names the ServiceAccount itself: a rotation
    // replaces the identity (new UID), so every token ever derived from the old one — including
    // any a leaked credential minted through a Secret or a pod — dies with it.
    const suffix = new random.RandomString(
      `${name}-rotation`,
      { length: 6, special: false, upper: false, keepers: { rotation: args.rotation } },
      { parent: this },
    );

    const serviceAccount = new k8s.core.v1.ServiceAccount(
      `${name}-sa`,
      {
        metadata: {
          name: pulumi.interpolate`deployer-${suffix.result}`,
          namespace: args.namespace,
          labels,
          annotations: { "scoped-cd.io/rotation": args.rotation },
        },
        automountServiceAccountToken: false,
      },
      { parent: this, provider },
    );
    this.serviceAccountName = serviceAccount.metadata.name;

    this.rules = deployerRules({
      allowRbac: args.allowRbac,
      tiller: args.tiller,
      extraRules: args.extraRules,
    });
    this.grants = grantRoleToServiceAccount(name, {
      objectName: "scoped-deployer",
      namespace: args.namespace,
      serviceAccountName: this.serviceAccountName,
      rules: this.rules,
      labels,
      provider,
      parent: this,
    });

    // A long-lived token bound to the ServiceAccount: the token controller fills it in, and it
    // stops working when this Secret or the ServiceAccount is deleted.
    const token = new k8s.core.v1.Secret(
      `${name}-token`,
      {
        metadata: {
          name: pulumi.interpolate`${this.serviceAccountName}-token`,
          namespace: args.namespace,
          labels,
          annotations: { "kubernetes.io/service-account.name": this.serviceAccountName },
        },
        type: "kubernetes.io/service-account-token",
      },
      { parent: this, provider, dependsOn: [serviceAccount] },
    );

    this.kubeconfig = pulumi.secret(
      pulumi.all([token.data, args.server, args.namespace]).apply(([data, server, namespace]) =>
        renderScopedKubeconfig({
          clusterName: args.clusterName,
          stage: args.stage,
          server,
          caData: requireKey(data, "ca.crt", name),
          token: Buffer.from(requireKey(data, "token", name), "base64").toString("utf8"),
          namespace,
        }),
      ),
    );

    this.registerOutputs({
      serviceAccountName: this.serviceAccountName,
      kubeconfig: this.kubeconfig,
    });
  }
}

function requireKey(data: Record<string, string> | undefined, key: string, name: string): string {
  const value = data?.[key];
  if (!value) {
    throw new Error(
      `${name}: the ServiceAccount token Secret has no "${key}" yet; is the token controller running (kube-controller-manager with --service-account-private-key-file and --root-ca-file)?`,
    );
  }
  return value;
}
