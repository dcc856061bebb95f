import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { deployerRules } from "../../policy/deployerProfile";
import { renderScopedKubeconfig } from "./kubeconfig";
import { stageLabels } from "./labels";
import { PolicyRule } from "../../policy/rbac";
import { grantRoleToServiceAccount } from "./roleGrant";
import { AUTHORITATIVE, BACKGROUND_DELETION } from "./labels";
import { TokenRequest } from "./tokenRequest";
import { guardServiceAccount, IdentityDeletion } from "./deletionGuard";
import { CredentialConfig } from "../../config";
import { jwtAuthenticator, oidcJobGroup } from "../../policy/credentials";
import { CredentialSummary } from "../outputs";

export const LEGACY_TOKEN_WARNING =
  "deployer.credential.kind is legacy: the deployer's token is a long-lived ServiceAccount token " +
  "Secret that works until deployer.rotation changes; prefer the expiring token (kind: token) or keyless OIDC";

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
  /** The deployer's credential: kind and its settings (defaults applied). */
  readonly credential: CredentialConfig;
  /** The admin kubeconfig context (`cluster.context`), for the TokenRequest provider. */
  readonly adminContext?: string;
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
  /** The ServiceAccount's name; it carries the rotation suffix. Null with OIDC (no ServiceAccount). */
  public readonly serviceAccountName: pulumi.Output<string | null>;
  /** The rotation suffix: Tiller's identity carries it too, so a rotation replaces both. */
  public readonly suffix: pulumi.Output<string>;
  /** What the `stages` output says of the credential (plain). */
  public readonly credential: pulumi.Output<CredentialSummary>;
  /** OIDC only: the AuthenticationConfiguration `jwt` entry operators add to the API server. */
  public readonly authenticator?: ReturnType<typeof jwtAuthenticator>;
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

    this.suffix = suffix.result;
    this.rules = deployerRules({
      allowRbac: args.allowRbac,
      tiller: args.tiller,
      extraRules: args.extraRules,
    });
    const cred = args.credential;

    if (cred.kind === "oidc") {
      // Keyless: no ServiceAccount and no token. The RoleBinding binds the groups the API
      // server's JWT authenticator maps from the CI's ID token (one per trusted job); the
      // kubeconfig reads the build's own ID token and holds no secret.
      const trust = cred.oidc!;
      this.authenticator = jwtAuthenticator(trust);
      const metadata = {
        name: "scoped-deployer",
        namespace: args.namespace,
        labels,
        // Background deletion: no foregroundDeletion finalizer for the garbage collector to remove
        // (a RoleBinding has no dependents), so deleting never waits on another controller.
        annotations: { ...AUTHORITATIVE, "pulumi.com/deletionPropagationPolicy": "background" },
      };
      const role = new k8s.rbac.v1.Role(
        `${name}-role`,
        { metadata, rules: this.rules },
        { parent: this, provider },
      );
      const binding = new k8s.rbac.v1.RoleBinding(
        `${name}-binding`,
        {
          metadata,
          roleRef: {
            apiGroup: "rbac.authorization.k8s.io",
            kind: "Role",
            name: role.metadata.name,
          },
          subjects: [...trust.jobs].sort().map((job) => ({
            apiGroup: "rbac.authorization.k8s.io",
            kind: "Group",
            name: oidcJobGroup(job),
          })),
        },
        { parent: this, provider },
      );
      this.grants = [role, binding];
      this.serviceAccountName = pulumi.output(null);
      // kube-system's copy of the cluster CA: the stage's own copy is in a namespace CI writes to.
      const rootCa = k8s.core.v1.ConfigMap.get(`${name}-root-ca`, "kube-system/kube-root-ca.crt", {
        parent: this,
        provider,
        dependsOn: [binding],
      });
      this.kubeconfig = pulumi
        .all([rootCa.data, args.server, args.namespace])
        .apply(([data, server, namespace]) =>
          renderScopedKubeconfig({
            clusterName: args.clusterName,
            stage: args.stage,
            server,
            caData: Buffer.from(data["ca.crt"], "utf8").toString("base64"),
            credential: { oidc: true },
            namespace,
          }),
        );
      this.credential = pulumi.output({
        kind: "oidc",
        expiresAt: null,
        credentialId: null,
        expiryWarningSeconds: null,
      });
      // The kubeconfig stays a property, not a registered output: the stack's `kubeconfigs` is the
      // one copy of it in the state (each copy there is a secret to guard and checkpoint bytes).
      this.registerOutputs({ credential: this.credential });
      return;
    }

    const serviceAccount = new k8s.core.v1.ServiceAccount(
      `${name}-sa`,
      {
        metadata: {
          name: pulumi.interpolate`deployer-${suffix.result}`,
          namespace: args.namespace,
          labels,
          annotations: { "scoped-cd.io/rotation": args.rotation, ...BACKGROUND_DELETION },
        },
        automountServiceAccountToken: false,
      },
      // A rotation deletes the old identity first, early in the `up`: every token of it dies then.
      { parent: this, provider, deleteBeforeReplace: true },
    );
    this.serviceAccountName = serviceAccount.metadata.name;
    // Deleted (and stripped of any finalizer) before the ServiceAccount, within a bound.
    guardServiceAccount(name, serviceAccount, args, this);
    this.grants = grantRoleToServiceAccount(name, {
      objectName: "scoped-deployer",
      namespace: args.namespace,
      serviceAccountName: serviceAccount.metadata.name,
      rules: this.rules,
      labels,
      provider,
      parent: this,
    });

    if (cred.kind === "token") {
      // An expiring token from the TokenRequest API, bound to a Secret the provider owns.
      const token = new TokenRequest(
        `${name}-token`,
        {
          namespace: args.namespace,
          serviceAccountName: serviceAccount.metadata.name,
          lifetimeSeconds: cred.lifetimeSeconds!,
          renewAfter: cred.renewAfter!,
          context: args.adminContext,
          labels,
        },
        { parent: this, dependsOn: [serviceAccount] },
      );
      this.kubeconfig = pulumi.secret(
        pulumi
          .all([token.token, token.caData, args.server, args.namespace])
          .apply(([bearer, caData, server, namespace]) =>
            renderScopedKubeconfig({
              clusterName: args.clusterName,
              stage: args.stage,
              server,
              caData,
              credential: { token: bearer },
              namespace,
            }),
          ),
      );
      this.credential = pulumi
        .all([token.expiresAt, token.credentialId])
        .apply(([expiresAt, credentialId]) => ({
          kind: "token" as const,
          expiresAt,
          credentialId,
          expiryWarningSeconds: cred.expiryWarningSeconds!,
        }));
    } else {
      pulumi.log.warn(`stage ${args.stage}: ${LEGACY_TOKEN_WARNING}`, this);
      // A long-lived token bound to the ServiceAccount: the token controller fills it in, and it
      // stops working when this Secret or the ServiceAccount is deleted.
      const token = new k8s.core.v1.Secret(
        `${name}-token`,
        {
          metadata: {
            name: pulumi.interpolate`${serviceAccount.metadata.name}-token`,
            namespace: args.namespace,
            labels,
            annotations: {
              "kubernetes.io/service-account.name": serviceAccount.metadata.name,
              ...BACKGROUND_DELETION,
            },
          },
          type: "kubernetes.io/service-account-token",
        },
        { parent: this, provider, dependsOn: [serviceAccount] },
      );
      new IdentityDeletion(
        `${name}-token-deletion`,
        {
          ref: { kind: "Secret", namespace: args.namespace, name: token.metadata.name },
          context: args.adminContext,
        },
        { parent: this, dependsOn: [token] },
      );
      this.kubeconfig = pulumi.secret(
        pulumi.all([token.data, args.server, args.namespace]).apply(([data, server, namespace]) =>
          renderScopedKubeconfig({
            clusterName: args.clusterName,
            stage: args.stage,
            server,
            caData: requireKey(data, "ca.crt", name),
            credential: {
              token: Buffer.from(requireKey(data, "token", name), "base64").toString("utf8"),
            },
            namespace,
          }),
        ),
      );
      this.credential = pulumi.output({
        kind: "legacy" as const,
        expiresAt: null,
        credentialId: null,
        expiryWarningSeconds: null,
      });
    }

    // Not the kubeconfig: see above.
    this.registerOutputs({
      serviceAccountName: this.serviceAccountName,
      credential: this.credential,
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
