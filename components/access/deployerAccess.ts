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
import {
  jwtAuthenticator,
  OIDC_USERNAME_PREFIX,
  oidcJobGroup,
  trustInForce,
} from "../../policy/credentials";
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

/** What one credential kind gives the component. */
interface Identity {
  readonly serviceAccountName: pulumi.Output<string | null>;
  readonly grants: pulumi.Resource[];
  readonly kubeconfig: pulumi.Output<string>;
  readonly credential: pulumi.Output<CredentialSummary>;
  readonly authenticator?: ReturnType<typeof jwtAuthenticator>;
}

/** What every kind's function is handed: the component as parent, its name, args and rules. */
interface KindContext {
  readonly name: string;
  readonly args: DeployerAccessArgs;
  readonly parent: pulumi.ComponentResource;
  readonly rules: PolicyRule[];
  readonly labels: Record<string, string>;
  readonly suffix: random.RandomString;
}

/**
 * The stage's deployer identity: a ServiceAccount, a Role generated from the least-privilege
 * profile, its RoleBinding, a token bound to the ServiceAccount, and the scoped kubeconfig.
 * One function per credential kind below; the resource names and inputs are those of the
 * single constructor they were split from (test/unit/deployerAccess.test.ts).
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
    const ctx: KindContext = {
      name,
      args,
      parent: this,
      rules: this.rules,
      labels: stageLabels(args.stage, "deployer"),
      suffix,
    };
    const identity = IDENTITY_OF_KIND[args.credential.kind](ctx);
    this.serviceAccountName = identity.serviceAccountName;
    this.grants = identity.grants;
    this.kubeconfig = identity.kubeconfig;
    this.credential = identity.credential;
    this.authenticator = identity.authenticator;

    // The kubeconfig stays a property, not a registered output: the stack's `kubeconfigs` is the
    // one copy of it in the state (each copy there is a secret to guard and checkpoint bytes).
    this.registerOutputs(
      args.credential.kind === "oidc" || args.credential.kind === "external"
        ? { credential: this.credential }
        : { serviceAccountName: this.serviceAccountName, credential: this.credential },
    );
  }
}

const IDENTITY_OF_KIND: Record<CredentialConfig["kind"], (ctx: KindContext) => Identity> = {
  oidc: oidcIdentity,
  token: expiringTokenIdentity,
  legacy: legacyTokenIdentity,
  external: externalIdentity,
};

/**
 * The kinds without a ServiceAccount (OIDC, external): the stage Role bound to identities the API
 * server's authenticator names, and a kubeconfig that holds no secret, only `credential`'s way of
 * getting one.
 */
function roleBoundTo(
  { name, args, parent, rules, labels }: KindContext,
  subjects: { kind: "User" | "Group"; name: string }[],
  credential: Parameters<typeof renderScopedKubeconfig>[0]["credential"],
) {
  const provider = args.provider;
  const metadata = {
    name: "scoped-deployer",
    namespace: args.namespace,
    labels,
    // Background deletion: no foregroundDeletion finalizer for the garbage collector to remove
    // (a RoleBinding has no dependents), so deleting never waits on another controller.
    annotations: { ...AUTHORITATIVE, "pulumi.com/deletionPropagationPolicy": "background" },
  };
  const role = new k8s.rbac.v1.Role(`${name}-role`, { metadata, rules }, { parent, provider });
  const binding = new k8s.rbac.v1.RoleBinding(
    `${name}-binding`,
    {
      metadata,
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: role.metadata.name },
      subjects: subjects.map((s) => ({ apiGroup: "rbac.authorization.k8s.io", ...s })),
    },
    { parent, provider },
  );
  // kube-system's copy of the cluster CA: the stage's own copy is in a namespace CI writes to.
  const rootCa = k8s.core.v1.ConfigMap.get(`${name}-root-ca`, "kube-system/kube-root-ca.crt", {
    parent,
    provider,
    dependsOn: [binding],
  });
  return {
    grants: [role, binding],
    kubeconfig: pulumi
      .all([rootCa.data, args.server, args.namespace])
      .apply(([data, server, namespace]) =>
        renderScopedKubeconfig({
          clusterName: args.clusterName,
          stage: args.stage,
          server,
          caData: Buffer.from(data["ca.crt"], "utf8").toString("base64"),
          credential,
          namespace,
        }),
      ),
  };
}

/**
 * An identity the cluster's own authenticator maps (EKS access entries, GKE, AKS): the Role bound
 * to the configured user and groups, no ServiceAccount and no token; the kubeconfig runs the
 * operator's exec plugin and holds no secret.
 */
function externalIdentity(ctx: KindContext): Identity {
  const ext = ctx.args.credential.external!;
  const subjects = [
    ...(ext.user ? [{ kind: "User" as const, name: ext.user }] : []),
    ...[...(ext.groups ?? [])].sort().map((g) => ({ kind: "Group" as const, name: g })),
  ];
  return {
    ...roleBoundTo(ctx, subjects, { exec: ext.exec }),
    serviceAccountName: pulumi.output(null),
    credential: pulumi.output({
      kind: "external" as const,
      expiresAt: null,
      credentialId: null,
      expiryWarningSeconds: null,
      auditUsers: ext.user ? [ext.user] : [],
      external: { user: ext.user ?? null, groups: [...(ext.groups ?? [])].sort() },
    }),
  };
}

/**
 * Keyless: no ServiceAccount and no token. The RoleBinding binds the groups the API server's JWT
 * authenticator maps from the CI's ID token (one per trusted job); the kubeconfig reads the
 * build's own ID token and holds no secret.
 */
function oidcIdentity(ctx: KindContext): Identity {
  const trust = ctx.args.credential.oidc!;
  const subjects = [...trust.jobs]
    .sort()
    .map((job) => ({ kind: "Group" as const, name: oidcJobGroup(job) }));
  return {
    ...roleBoundTo(ctx, subjects, { oidc: true }),
    authenticator: jwtAuthenticator(trustInForce(trust, Math.floor(Date.now() / 1000))),
    serviceAccountName: pulumi.output(null),
    credential: pulumi.output({
      kind: "oidc" as const,
      expiresAt: null,
      credentialId: null,
      expiryWarningSeconds: null,
      auditUsers: [...trust.jobs]
        .sort()
        .map((job) => `${OIDC_USERNAME_PREFIX}${job}#<build number>`),
    }),
  };
}

/** The token kinds' ServiceAccount (named with the rotation suffix), its guard and its Role. */
function deployerServiceAccount({ name, args, parent, rules, labels, suffix }: KindContext) {
  const provider = args.provider;
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
    { parent, provider, deleteBeforeReplace: true },
  );
  // Deleted (and stripped of any finalizer) before the ServiceAccount, within a bound.
  guardServiceAccount(name, serviceAccount, args, parent);
  const grants = grantRoleToServiceAccount(name, {
    objectName: "scoped-deployer",
    namespace: args.namespace,
    serviceAccountName: serviceAccount.metadata.name,
    rules,
    labels,
    provider,
    parent,
  });
  return { serviceAccount, grants };
}

/** An expiring token from the TokenRequest API, bound to a Secret the provider owns. */
function expiringTokenIdentity(ctx: KindContext): Identity {
  const { name, args, parent, labels } = ctx;
  const cred = args.credential;
  const { serviceAccount, grants } = deployerServiceAccount(ctx);
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
    { parent, dependsOn: [serviceAccount] },
  );
  return {
    serviceAccountName: serviceAccount.metadata.name,
    grants,
    kubeconfig: pulumi.secret(
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
    ),
    credential: pulumi
      .all([token.expiresAt, token.credentialId])
      .apply(([expiresAt, credentialId]) => ({
        kind: "token" as const,
        expiresAt,
        credentialId,
        expiryWarningSeconds: cred.expiryWarningSeconds!,
      })),
  };
}

/**
 * A long-lived token bound to the ServiceAccount: the token controller fills it in, and it stops
 * working when this Secret or the ServiceAccount is deleted.
 */
function legacyTokenIdentity(ctx: KindContext): Identity {
  const { name, args, parent, labels } = ctx;
  const provider = args.provider;
  const { serviceAccount, grants } = deployerServiceAccount(ctx);
  pulumi.log.warn(`stage ${args.stage}: ${LEGACY_TOKEN_WARNING}`, parent);
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
    { parent, provider, dependsOn: [serviceAccount] },
  );
  new IdentityDeletion(
    `${name}-token-deletion`,
    {
      ref: { kind: "Secret", namespace: args.namespace, name: token.metadata.name },
      context: args.adminContext,
    },
    { parent, dependsOn: [token] },
  );
  return {
    serviceAccountName: serviceAccount.metadata.name,
    grants,
    kubeconfig: pulumi.secret(
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
    ),
    credential: pulumi.output({
      kind: "legacy" as const,
      expiresAt: null,
      credentialId: null,
      expiryWarningSeconds: null,
    }),
  };
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
