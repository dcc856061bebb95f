// What the access layer does so that a revocation (rotation, renewal, destroy) always completes,
// whatever a holder of the old credential did first: pure rules, used by the deletion guards
// (components/access/deletionGuard.ts) and documented in docs/security.md "Revocation cannot be
// stalled".

/**
 * How long the access layer waits for one identity object (a ServiceAccount, a token Secret) to
 * disappear after it deleted the object and removed its finalizers. Once deletion has started, the
 * API server admits no new finalizer, so only a control-plane finalizer could keep the object
 * longer: the `up` then fails naming the object, rather than hanging.
 */
export const IDENTITY_DELETE_SECONDS = 60;

/**
 * How long the teardown of a deletable stage lets finalizers of the cluster's own controllers (and
 * of operators outside the namespace) run before it removes the foreign ones, and how long it waits
 * for the namespace to be gone in all.
 */
export const TEARDOWN_GRACE_SECONDS = 20;
export const TEARDOWN_SECONDS = 120;

/** Finalizers the cluster's own controllers own and remove (left alone everywhere). */
export function isKubernetesFinalizer(f: string): boolean {
  return (
    f === "kubernetes" ||
    f === "foregroundDeletion" ||
    f === "orphan" ||
    /^([a-z0-9-]+\.)*(kubernetes\.io|k8s\.io)\//.test(f)
  );
}

/**
 * The finalizers of a chart's object that the teardown of a deletable stage removes: everything
 * that is not Kubernetes' own. Identity objects get no such exception (see `identityFinalizers`).
 */
export const foreignFinalizers = (finalizers: readonly string[] | undefined): string[] =>
  (finalizers ?? []).filter((f) => !isKubernetesFinalizer(f));

/**
 * The finalizers the access layer removes from an identity object it deletes: all of them. No
 * controller puts a finalizer on a ServiceAccount or a Secret (the guard deletes in the background,
 * so the garbage collector adds none either): any finalizer there only delays a revocation.
 */
export const identityFinalizers = (finalizers: readonly string[] | undefined): string[] => [
  ...(finalizers ?? []),
];
