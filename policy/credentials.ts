// The deployer's temporary credentials as pure data and decisions (no Pulumi, no I/O): when an
// expiring token is renewed, what a JWT says about itself, and the structured-authentication
// (AuthenticationConfiguration, apiserver.config.k8s.io/v1) JWT authenticator that maps a CI's
// OIDC ID token to a scoped identity.

/** The credential kinds a stage's deployer can hold. */
export const CREDENTIAL_KINDS = ["token", "oidc", "legacy", "external"] as const;
export type CredentialKind = (typeof CREDENTIAL_KINDS)[number];

// ---------------------------------------------------------------------------------------------
// External: an identity the cluster's own authenticator maps (EKS access entries, GKE, AKS Entra
// ID), bound by user and/or group name; the kubeconfig runs the operator's exec plugin.

/**
 * Name prefixes an external identity may not use: `system:` names are the cluster's own (a binding
 * to `system:authenticated` would grant every identity), `oidc:` names are the OIDC kind's.
 */
export const RESERVED_IDENTITY_PREFIXES = ["system:", "oidc:"] as const;

/** The identity an external stage binds (at least one of the two). */
export interface ExternalIdentity {
  readonly user?: string | null;
  readonly groups?: readonly string[];
}

/**
 * Why the identity the API server reports (SelfSubjectReview) is not the configured one, or
 * undefined when it is: the user must match, and every configured group must be among its groups.
 */
export function externalIdentityMismatch(
  expected: ExternalIdentity,
  actual: { readonly username?: string; readonly groups?: readonly string[] },
): string | undefined {
  const username = actual.username ?? "";
  if (expected.user && username !== expected.user) {
    return `the API server says user ${username || "nobody"}, not ${expected.user}`;
  }
  const missing = (expected.groups ?? []).filter((g) => !(actual.groups ?? []).includes(g));
  if (missing.length > 0) {
    return `${username || "the identity"} is not in group ${missing.join(", ")} (groups: ${(actual.groups ?? []).join(", ") || "none"})`;
  }
  return undefined;
}

/** The shortest lifetime the TokenRequest API accepts. */
export const MIN_TOKEN_LIFETIME_SECONDS = 600;

/** What the renewal decision needs to know of the current token (times in epoch seconds). */
export interface IssuedToken {
  readonly issuedAt: number;
  readonly expiresAt: number;
}

export type RenewalDecision =
  | { readonly renew: false; readonly renewAt: number }
  | { readonly renew: true; readonly reason: string };

/**
 * Whether an `up` at `now` must mint a new token: once `renewAfter` (a share in (0, 1)) of the
 * current token's lifetime has passed, when it has expired, or when the configured lifetime changed.
 */
export function renewalDecision(
  current: IssuedToken,
  wanted: { readonly lifetimeSeconds: number; readonly renewAfter: number },
  now: number,
): RenewalDecision {
  const lifetime = current.expiresAt - current.issuedAt;
  if (now >= current.expiresAt) return { renew: true, reason: "the token has expired" };
  if (lifetime !== wanted.lifetimeSeconds) {
    return {
      renew: true,
      reason: `the configured lifetime changed (${lifetime}s -> ${wanted.lifetimeSeconds}s)`,
    };
  }
  const renewAt = current.issuedAt + Math.floor(lifetime * wanted.renewAfter);
  if (now >= renewAt) {
    return {
      renew: true,
      reason: `${Math.round(wanted.renewAfter * 100)}% of the token's lifetime has passed`,
    };
  }
  return { renew: false, renewAt };
}

/** Seconds until expiry when that is within `marginSeconds`, else undefined (for `verify`). */
export function expiresWithin(
  expiresAt: string,
  marginSeconds: number,
  now: number,
): number | undefined {
  const left = Math.floor(Date.parse(expiresAt) / 1000) - now;
  return left <= marginSeconds ? left : undefined;
}

/** The claims of a JWT (the payload only; the signature is not checked). */
export function jwtClaims(jwt: string): Record<string, unknown> {
  const parts = jwt.split(".");
  if (parts.length !== 3) throw new Error("not a JWT (expected three dot-separated parts)");
  return JSON.parse(Buffer.from(parts[1], "base64url").toString("utf8")) as Record<string, unknown>;
}

// ---------------------------------------------------------------------------------------------
// Keyless OIDC

/** The configured trust in a CI's OIDC issuer for one stage. */
export interface OidcTrust {
  /** The issuer URL (`iss`), https. */
  readonly issuer: string;
  /** The audience the CI requests for its ID token (`aud`). */
  readonly audience: string;
  /** The `sub` claims accepted: for Jenkins, the job URLs. */
  readonly jobs: readonly string[];
  /** When set, the `branch` claim must be one of these. */
  readonly branches?: readonly string[];
  /** PEM of the CA that signs the issuer's serving certificate, when not a public one. */
  readonly certificateAuthority?: string;
  /** Revocations in force (scoped-cd revoke), as claim validation rules. */
  readonly revocations?: readonly ClaimRule[];
  /**
   * The longest an accepted ID token may live (exp - iat). Revocation entries expire after this
   * lifetime; a token living longer would outlast its entry and be accepted again.
   */
  readonly maxTokenLifetimeSeconds?: number;
}

/** Usernames of OIDC identities start with this; the guardrails' admission policy keys on it. */
export const OIDC_USERNAME_PREFIX = "oidc:";
/** Groups derived from the job, bound by the stage's RoleBinding. */
export const OIDC_JOB_GROUP_PREFIX = "oidc:job:";

/** The group an ID token for `job` is mapped to (what the stage's RoleBinding binds). */
export const oidcJobGroup = (job: string) => `${OIDC_JOB_GROUP_PREFIX}${job}`;

/** A CEL string literal (double-quoted, escaped). */
export const celString = (s: string) => JSON.stringify(s);
const celList = (items: readonly string[]) => `[${items.map(celString).join(", ")}]`;

/**
 * One `jwt` entry of an AuthenticationConfiguration (apiserver.config.k8s.io/v1). The username
 * names the job and the build (`oidc:<job URL>#<build_number>`), the only group is the job's, and
 * the claim validation rules accept only the configured jobs (and branches).
 */
export function jwtAuthenticator(trust: OidcTrust) {
  const claimValidationRules: ClaimRule[] = [
    {
      expression: `claims.sub in ${celList(trust.jobs)}`,
      message: "the ID token's job (sub) is not one scoped-cd trusts for this issuer",
    },
    {
      expression: "has(claims.build_number)",
      message: "the ID token carries no build_number (attribution needs it)",
    },
  ];
  if (trust.branches && trust.branches.length > 0) {
    claimValidationRules.push({
      expression: `has(claims.branch) && claims.branch in ${celList(trust.branches)}`,
      message: "the ID token's branch is not one scoped-cd trusts for this issuer",
    });
  }
  if (trust.maxTokenLifetimeSeconds !== undefined) {
    claimValidationRules.push({
      expression: `has(claims.iat) && int(claims.exp) - int(claims.iat) <= ${trust.maxTokenLifetimeSeconds}`,
      message: `the ID token lives longer than ${trust.maxTokenLifetimeSeconds}s (oidc.tokenLifetimeSeconds): a revocation would expire before it`,
    });
  }
  claimValidationRules.push(...(trust.revocations ?? []));
  return {
    issuer: {
      url: trust.issuer,
      audiences: [trust.audience],
      ...(trust.certificateAuthority ? { certificateAuthority: trust.certificateAuthority } : {}),
    },
    claimValidationRules,
    claimMappings: {
      username: {
        expression: `${celString(OIDC_USERNAME_PREFIX)} + claims.sub + "#" + string(int(claims.build_number))`,
      },
      groups: { expression: `[${celString(OIDC_JOB_GROUP_PREFIX)} + claims.sub]` },
      uid: { expression: "claims.sub" },
    },
    userValidationRules: [
      {
        expression: `!user.username.startsWith("system:")`,
        message: "username must not use the system: prefix",
      },
    ],
  };
}

/**
 * The AuthenticationConfiguration operators give the API server (`--authentication-config`): one
 * authenticator per issuer and audience, merging the jobs and branches of every stage that trusts
 * it (the API server allows one entry per issuer URL).
 */
export function authenticationConfiguration(trusts: readonly OidcTrust[]) {
  const byIssuer = new Map<string, OidcTrust>();
  for (const t of trusts) {
    const key = t.issuer;
    const seen = byIssuer.get(key);
    if (!seen) {
      byIssuer.set(key, { ...t, jobs: [...t.jobs], branches: t.branches && [...t.branches] });
      continue;
    }
    if (seen.audience !== t.audience) {
      throw new Error(
        `issuer ${t.issuer} is trusted with two audiences (${seen.audience}, ${t.audience}); use one audience per issuer`,
      );
    }
    byIssuer.set(key, {
      ...seen,
      jobs: [...new Set([...seen.jobs, ...t.jobs])].sort(),
      revocations: [...(seen.revocations ?? []), ...(t.revocations ?? [])],
      // The shortest: every stage's revocations must outlive the tokens they cover.
      maxTokenLifetimeSeconds:
        seen.maxTokenLifetimeSeconds === undefined || t.maxTokenLifetimeSeconds === undefined
          ? (seen.maxTokenLifetimeSeconds ?? t.maxTokenLifetimeSeconds)
          : Math.min(seen.maxTokenLifetimeSeconds, t.maxTokenLifetimeSeconds),
      branches:
        seen.branches && t.branches
          ? [...new Set([...seen.branches, ...t.branches])].sort()
          : undefined,
    });
  }
  return {
    apiVersion: "apiserver.config.k8s.io/v1",
    kind: "AuthenticationConfiguration",
    jwt: [...byIssuer.values()].map(jwtAuthenticator),
  };
}

// ---------------------------------------------------------------------------------------------
// What a rotation cannot take back by itself

/** The parts of a RoleBinding that matter here. */
export interface BindingLike {
  readonly metadata?: { readonly name?: string };
  readonly roleRef: { readonly kind: string; readonly name: string };
  readonly subjects?: readonly {
    readonly kind: string;
    readonly name: string;
    readonly namespace?: string;
  }[];
}

/** The Roles scoped-cd grants to its identities in a stage namespace. */
export const STAGE_ROLES = ["scoped-deployer", "tiller"] as const;

/** Who a stage's scoped-cd Roles may be bound to: the identities the access layer made. */
export interface StageIdentities {
  /** `deployer-<suffix>` (token and legacy kinds); null for OIDC. */
  readonly serviceAccount: string | null;
  /** `tiller-<suffix>` of an in-cluster Tiller; derived from the deployer's suffix when absent. */
  readonly tillerServiceAccount?: string | null;
  /** OIDC groups the access layer binds (`oidc:job:<job>`), and the external kind's groups. */
  readonly groups?: readonly string[];
  /** The external kind's user. */
  readonly users?: readonly string[];
  /**
   * Any group under this prefix counts as the stage's own: only the stage's JWT authenticator
   * issues `oidc:job:` groups, and only for the jobs its claim rules accept.
   */
  readonly groupPrefix?: string;
}

/**
 * RoleBindings that grant a stage Role to anyone but the stage's current identities (the deployer
 * `deployer-<suffix>`, Tiller `tiller-<suffix>`, the OIDC job groups). With `allowRbac` a holder
 * of an old credential can create one for an identity of its own, and a rotation does not remove
 * it: `verify` and `drift` report each.
 */
export function strayStageGrants(
  bindings: readonly BindingLike[],
  current: StageIdentities,
): string[] {
  const suffix = current.serviceAccount?.replace(/^deployer-/, "");
  const allowed = new Set<string>();
  if (current.serviceAccount) allowed.add(`ServiceAccount/${current.serviceAccount}`);
  const tiller = current.tillerServiceAccount ?? (suffix ? `tiller-${suffix}` : undefined);
  if (tiller) allowed.add(`ServiceAccount/${tiller}`);
  for (const g of current.groups ?? []) allowed.add(`Group/${g}`);
  for (const u of current.users ?? []) allowed.add(`User/${u}`);
  const stray: string[] = [];
  for (const b of bindings) {
    if (b.roleRef.kind !== "Role" || !(STAGE_ROLES as readonly string[]).includes(b.roleRef.name))
      continue;
    for (const s of b.subjects ?? []) {
      const own =
        allowed.has(`${s.kind}/${s.name}`) ||
        (s.kind === "Group" && !!current.groupPrefix && s.name.startsWith(current.groupPrefix));
      if (!own) {
        stray.push(
          `RoleBinding ${b.metadata?.name ?? "?"} grants Role ${b.roleRef.name} to ${s.kind} ${s.name}`,
        );
      }
    }
  }
  return stray.sort();
}

// ---------------------------------------------------------------------------------------------
// Per-build revocation (OIDC): claim validation rules that refuse one build's ID tokens, or every
// token issued before a time, for one stage's jobs. Jenkins' ID tokens carry no `jti`; a build is
// named by its job (`sub`) and `build_number`.

/** Jenkins' OpenID Connect Provider plugin issues ID tokens valid for one hour by default. */
export const DEFAULT_ID_TOKEN_LIFETIME_SECONDS = 3600;

/** One recorded revocation: a build's tokens (revoked at `at`), or every token issued before a time. */
export type RevocationEntry =
  { readonly build: string; readonly at: string } | { readonly issuedBefore: string };

/** `<job URL>#<build number>` split; undefined when it is not that shape. */
export function parseBuild(build: string): { job: string; number: string } | undefined {
  const m = /^(.+)#([0-9]+)$/.exec(build);
  return m ? { job: m[1], number: m[2] } : undefined;
}

/**
 * When an entry stops mattering: every token it covers was issued by then (the revocation time
 * of a build; the `issuedBefore` time) and lives at most `lifetimeSeconds` after.
 */
export function revocationExpiresAt(entry: RevocationEntry, lifetimeSeconds: number): number {
  const from = "build" in entry ? entry.at : entry.issuedBefore;
  return Math.floor(Date.parse(from) / 1000) + lifetimeSeconds;
}

/** The entries still in force at `now` (epoch seconds). */
export function activeRevocations(
  entries: readonly RevocationEntry[],
  lifetimeSeconds: number,
  now: number,
): RevocationEntry[] {
  return entries.filter((e) => revocationExpiresAt(e, lifetimeSeconds) > now);
}

export interface ClaimRule {
  readonly expression: string;
  readonly message: string;
}

/** The claim validation rule of one entry, for a stage trusting `jobs`. */
export function revocationRule(entry: RevocationEntry, jobs: readonly string[]): ClaimRule {
  if ("build" in entry) {
    const b = parseBuild(entry.build);
    if (!b) throw new Error(`revocation ${entry.build}: expected <job URL>#<build number>`);
    return {
      expression: `!(claims.sub == ${celString(b.job)} && has(claims.build_number) && string(int(claims.build_number)) == ${celString(b.number)})`,
      message: `build ${entry.build} was revoked (scoped-cd revoke)`,
    };
  }
  const t = Math.floor(Date.parse(entry.issuedBefore) / 1000);
  return {
    expression: `!(claims.sub in ${celList(jobs)}) || (has(claims.iat) && int(claims.iat) >= ${t})`,
    message: `ID tokens of this stage's jobs issued before ${entry.issuedBefore} were revoked (scoped-cd revoke)`,
  };
}

/** A stage's trust with its revocations in force at `now` (epoch seconds) compiled to rules. */
export function trustInForce(
  o: OidcTrust & {
    readonly tokenLifetimeSeconds: number;
    readonly revoked: readonly RevocationEntry[];
  },
  now: number,
): OidcTrust {
  const { tokenLifetimeSeconds, revoked, ...trust } = o;
  return {
    ...trust,
    maxTokenLifetimeSeconds: tokenLifetimeSeconds,
    revocations: activeRevocations(revoked, tokenLifetimeSeconds, now).map((e) =>
      revocationRule(e, trust.jobs),
    ),
  };
}
