// After an access `up`: remove the identities a lost earlier run left, which no state knows
// (policy/leftovers.ts says which). Read and deleted with the admin kubeconfig. The lists ask for
// metadata only (PartialObjectMetadataList), so no Secret's data is ever fetched.
/* eslint-disable @typescript-eslint/no-explicit-any -- the API server's JSON and Pulumi's exported deployment are untyped here */
import {
  deletionOrder,
  IDENTITY_SELECTOR,
  IdentityKind,
  ListedIdentityObject,
  leftoverIdentities,
  ObjectRef,
  refKey,
  StateIdentities,
  TOKEN_REQUEST_TYPE,
} from "../../policy/leftovers";
import { IDENTITY_DELETE_SECONDS } from "../../policy/revocation";
import { apiRequest } from "./apiRequest";

type ClientNode = typeof import("@kubernetes/client-node", {
  with: { "resolution-mode": "import" },
});
type KubeConfig = InstanceType<ClientNode["KubeConfig"]>;

const METADATA_ONLY = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1";

const PLURAL: Record<IdentityKind, string> = {
  ServiceAccount: "serviceaccounts",
  Secret: "secrets",
};

const objectPath = (o: ObjectRef) =>
  `/api/v1/namespaces/${encodeURIComponent(o.namespace)}/${PLURAL[o.kind]}/${encodeURIComponent(o.name)}`;

/**
 * What an exported access stack holds: its ServiceAccounts and Secrets (the legacy tokens), the
 * token binding Secrets its TokenRequests name (current and previous), and its namespaces, with
 * `configNamespaces` (the stages' namespaces as configured: an up that failed early may not have
 * recorded them).
 */
export function stateIdentities(
  exported: unknown,
  configNamespaces: readonly string[],
): StateIdentities {
  const known = new Set<string>();
  const namespaces = new Set<string>(configNamespaces);
  const resources: any[] = (exported as any)?.deployment?.resources ?? [];
  for (const r of resources) {
    const out = r.outputs ?? {};
    const meta = out.metadata ?? {};
    if (r.type === "kubernetes:core/v1:Namespace" && typeof meta.name === "string") {
      namespaces.add(meta.name);
    } else if (
      r.type === "kubernetes:core/v1:ServiceAccount" ||
      r.type === "kubernetes:core/v1:Secret"
    ) {
      const kind: IdentityKind = r.type.endsWith("ServiceAccount") ? "ServiceAccount" : "Secret";
      if (typeof meta.name === "string" && typeof meta.namespace === "string") {
        known.add(refKey({ kind, namespace: meta.namespace, name: meta.name }));
      }
    } else if (r.type === TOKEN_REQUEST_TYPE && typeof out.namespace === "string") {
      for (const name of [out.bindingName, out.previousBindingName]) {
        if (typeof name === "string") {
          known.add(refKey({ kind: "Secret", namespace: out.namespace, name }));
        }
      }
    }
  }
  return { known, namespaces };
}

/**
 * The API server's clock now: the `Date` of its reply to `/version`, whatever the status (a
 * refused credential still gets a dated 401 or 403; the `up` names that refusal better).
 */
export async function serverClock(kc: KubeConfig): Promise<Date> {
  const reply = await apiRequest(kc, "GET", "/version");
  if (!reply.date || Number.isNaN(reply.date.getTime())) {
    throw new Error(`read the API server's clock (GET /version): HTTP ${reply.status}, no Date`);
  }
  return reply.date;
}

/**
 * Every identity object of scoped-cd in the cluster (all stacks': the policy filters), or in one
 * namespace.
 */
export async function listIdentityObjects(
  kc: KubeConfig,
  namespace?: string,
): Promise<ListedIdentityObject[]> {
  const listed: ListedIdentityObject[] = [];
  const scope = namespace === undefined ? "" : `/namespaces/${encodeURIComponent(namespace)}`;
  for (const kind of ["ServiceAccount", "Secret"] as const) {
    const path = `/api/v1${scope}/${PLURAL[kind]}?labelSelector=${encodeURIComponent(IDENTITY_SELECTOR)}`;
    const reply = await apiRequest(kc, "GET", path, undefined, undefined, METADATA_ONLY);
    if (reply.status !== 200) {
      throw new Error(`list ${PLURAL[kind]} (${IDENTITY_SELECTOR}): HTTP ${reply.status}`);
    }
    for (const item of reply.body?.items ?? []) {
      const m = item.metadata ?? {};
      listed.push({
        kind,
        namespace: m.namespace,
        name: m.name,
        labels: m.labels ?? {},
        creationTimestamp: m.creationTimestamp,
      });
    }
  }
  return listed;
}

/** Delete one object whatever finalizers it carries, waiting for it to be gone (bounded). */
async function deleteObject(kc: KubeConfig, o: ObjectRef): Promise<void> {
  const path = objectPath(o);
  const started = Date.now();
  const del = await apiRequest(kc, "DELETE", path, {
    apiVersion: "v1",
    kind: "DeleteOptions",
    propagationPolicy: "Background",
  });
  if (del.status === 404) return;
  if (del.status !== 200 && del.status !== 202) {
    throw new Error(`delete ${refKey(o)}: HTTP ${del.status}: ${del.body?.message ?? ""}`);
  }
  for (;;) {
    const live = await apiRequest(kc, "GET", path);
    if (live.status === 404) return;
    if (live.status !== 200) throw new Error(`read ${refKey(o)}: HTTP ${live.status}`);
    if ((live.body.metadata?.finalizers ?? []).length > 0) {
      // Whoever put them there held the lost credential; the revocation does not wait for them.
      const patch = await apiRequest(
        kc,
        "PATCH",
        path,
        { metadata: { finalizers: null, resourceVersion: live.body.metadata.resourceVersion } },
        "application/merge-patch+json",
      );
      if (![200, 404, 409].includes(patch.status)) {
        throw new Error(`remove the finalizers of ${refKey(o)}: HTTP ${patch.status}`);
      }
    }
    if (Date.now() - started > IDENTITY_DELETE_SECONDS * 1000) {
      throw new Error(
        `${refKey(o)} still exists ${IDENTITY_DELETE_SECONDS}s after its deletion started; delete it with the admin credential`,
      );
    }
    await new Promise((r) => setTimeout(r, 500));
  }
}

/**
 * Remove what `leftoverIdentities` names, ServiceAccounts first; returns what was removed. Every
 * object is attempted; the first failure is thrown after the rest were tried.
 */
export async function removeLeftoverIdentities(
  kc: KubeConfig,
  state: StateIdentities,
  before: Date,
  say: (line: string) => void,
): Promise<ObjectRef[]> {
  const leftovers = deletionOrder(leftoverIdentities(await listIdentityObjects(kc), state, before));
  const removed: ObjectRef[] = [];
  let failure: unknown;
  for (const o of leftovers) {
    try {
      await deleteObject(kc, o);
      removed.push(o);
      say(`removed ${refKey(o)}: an identity an interrupted up created, which no state knows`);
    } catch (err) {
      failure ??= err;
    }
  }
  if (failure) throw failure;
  return removed;
}
