// What an access `up` that died without writing its state (a SIGKILL of the process tree, with the
// engine checkpointing only at the end) can leave in the cluster that no state knows, and which of
// it the next `up` removes: pure rules, used by cli/lib/accessLeftovers.ts and documented in
// docs/security.md "An interrupted access up leaves no credential behind".
//
// Every object an access stack declares has a fixed name (the rerun adopts it by server-side
// apply) except the identities: the deployer's and Tiller's ServiceAccounts carry a rotation
// suffix the lost run drew, and a token binding Secret carries its minting time. Those, and the
// Secrets holding or binding their tokens, are what a lost run leaves as live credentials.

/** The `app.kubernetes.io/component` values of the identities' objects (components/access). */
export const IDENTITY_COMPONENTS = ["deployer", "tiller"] as const;

export type IdentityComponent = (typeof IDENTITY_COMPONENTS)[number];

/** scoped-cd's label and a deployer or Tiller component: what IDENTITY_SELECTOR selects. */
function isIdentityObject(o: ListedIdentityObject): boolean {
  return (
    o.labels["app.kubernetes.io/managed-by"] === "scoped-cd" &&
    (IDENTITY_COMPONENTS as readonly string[]).includes(o.labels["app.kubernetes.io/component"])
  );
}

/** The label selector that lists them cluster-wide (every stack's; filtered below). */
export const IDENTITY_SELECTOR = `app.kubernetes.io/managed-by=scoped-cd,app.kubernetes.io/component in (${IDENTITY_COMPONENTS.join(",")})`;

/** The state type of components/access/tokenRequest.ts (a dynamic resource of type TokenRequest). */
export const TOKEN_REQUEST_TYPE = "pulumi-nodejs:dynamic/scoped-cd:TokenRequest";

export type IdentityKind = "ServiceAccount" | "Secret";

export interface ObjectRef {
  readonly kind: IdentityKind;
  readonly namespace: string;
  readonly name: string;
}

export interface ListedIdentityObject extends ObjectRef {
  readonly labels: Readonly<Record<string, string>>;
  /** RFC 3339, as the API server wrote it (whole seconds). */
  readonly creationTimestamp?: string;
}

export const refKey = (r: ObjectRef) => `${r.kind} ${r.namespace}/${r.name}`;

export interface StateIdentities {
  /** Every ServiceAccount and Secret the state holds, as refKey. */
  readonly known: ReadonlySet<string>;
  /** The stack's stage namespaces: only there is an unknown identity object the stack's. */
  readonly namespaces: ReadonlySet<string>;
}

/**
 * The objects to remove: an identity object (scoped-cd's label, a deployer or Tiller component)
 * in one of the stack's namespaces, not in its state, and created before `before` (the API
 * server's clock when this `up` started). The last rule spares what another `up` of the stack,
 * started after this one ended, is creating and has not yet recorded; what a lost run created
 * predates this one. An object without a creation time is left alone (never seen from the API).
 */
export function leftoverIdentities(
  listed: readonly ListedIdentityObject[],
  state: StateIdentities,
  before: Date,
): ListedIdentityObject[] {
  const cutoff = Math.floor(before.getTime() / 1000) * 1000;
  return listed.filter((o) => {
    if (!isIdentityObject(o)) return false;
    if (!state.namespaces.has(o.namespace) || state.known.has(refKey(o))) return false;
    const created = o.creationTimestamp ? Date.parse(o.creationTimestamp) : NaN;
    return Number.isFinite(created) && created < cutoff;
  });
}

/**
 * Deletion order: the ServiceAccounts first (every token minted for one dies with it, whatever it
 * is bound to), then the Secrets (a legacy token, a binding).
 */
export function deletionOrder(objects: readonly ListedIdentityObject[]): ListedIdentityObject[] {
  const rank = (o: ObjectRef) => (o.kind === "ServiceAccount" ? 0 : 1);
  return [...objects].sort((a, b) => rank(a) - rank(b) || refKey(a).localeCompare(refKey(b)));
}

/**
 * What `verify` reports in a stage namespace, knowing only the stage's current identities (its
 * `stages` output or the credential's own name, not the state): an identity object of scoped-cd
 * that belongs to none of them. A ServiceAccount is one of them by name; a Secret by its name's
 * prefix (`<account>-token`, `<account>-cred-<time>`). Objects of a component whose current
 * identity is unknown (undefined) are not judged.
 */
export function foreignIdentities(
  listed: readonly ListedIdentityObject[],
  current: Readonly<Partial<Record<IdentityComponent, string>>>,
): ListedIdentityObject[] {
  const known = Object.values(current).filter((n): n is string => typeof n === "string");
  return listed.filter((o) => {
    if (!isIdentityObject(o)) return false;
    const component = o.labels["app.kubernetes.io/component"] as IdentityComponent;
    if (current[component] === undefined) return false;
    return o.kind === "ServiceAccount"
      ? !known.includes(o.name)
      : !known.some((account) => o.name.startsWith(`${account}-`));
  });
}
