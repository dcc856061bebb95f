// Makes `pulumi up` undo what the Kubernetes provider's refresh cannot see on the objects
// scoped-cd alone owns: entries appended to a declared list, selectors added where none is
// declared (policy/surplus.ts). Before registering such an object, the program reads it live with
// the admin kubeconfig; when it carries a surplus, a new reconcile token goes into an annotation,
// so the engine sees an input change and the forced server-side apply (`pulumi.com/patchForce`)
// writes the declared lists whole again (Kubernetes lists without a merge key are atomic under
// server-side apply). Without a surplus the live token is kept, so a clean stack shows no change.
import * as crypto from "node:crypto";
import * as pulumi from "@pulumi/pulumi";
import { surplus } from "../../policy/surplus";
import { AUTHORITATIVE } from "./labels";

export const RECONCILE_ANNOTATION = "scoped-cd.io/reconcile";

export interface ObjectRef {
  readonly apiVersion: string;
  readonly kind: string;
  readonly name: pulumi.Input<string>;
  readonly namespace?: pulumi.Input<string>;
}

interface LiveObject {
  readonly metadata?: { readonly annotations?: Record<string, string> };
  readonly [field: string]: unknown;
}

type ObjectApi = { read(spec: unknown): Promise<unknown> };
let objectApi: Promise<ObjectApi> | undefined;

/** One client for the admin kubeconfig (the admin provider's: KUBECONFIG, `cluster.context`). */
function adminObjectApi(): Promise<ObjectApi> {
  objectApi ??= (async () => {
    const k = await import("@kubernetes/client-node");
    const kc = new k.KubeConfig();
    kc.loadFromDefault();
    const context = new pulumi.Config("scoped-cd").getObject<{ context?: string }>(
      "cluster",
    )?.context;
    if (context) kc.setCurrentContext(context);
    return k.KubernetesObjectApi.makeApiClient(kc) as unknown as ObjectApi;
  })();
  return objectApi;
}

async function readLive(ref: {
  apiVersion: string;
  kind: string;
  name: string;
  namespace?: string;
}) {
  const api = await adminObjectApi();
  try {
    return (await api.read({
      apiVersion: ref.apiVersion,
      kind: ref.kind,
      metadata: { name: ref.name, ...(ref.namespace ? { namespace: ref.namespace } : {}) },
    })) as LiveObject;
  } catch (err) {
    if ((err as { code?: number }).code === 404) return undefined;
    throw new pulumi.RunError(
      `cannot read ${ref.kind} ${ref.namespace ? `${ref.namespace}/` : ""}${ref.name} with the admin kubeconfig to check it for drift: ${String((err as Error).message ?? err)}`,
    );
  }
}

/** The reconcile token for an object whose declared content (top-level fields) is `declared`. */
export async function reconcileToken(
  ref: { apiVersion: string; kind: string; name: string; namespace?: string },
  declared: Record<string, unknown>,
): Promise<string> {
  // Under unit-test mocks there is no engine and no cluster.
  if (!pulumi.runtime.hasEngine()) return "0";
  const live = await readLive(ref);
  if (!live) return "0";
  const previous = live.metadata?.annotations?.[RECONCILE_ANNOTATION] ?? "0";
  const projected = Object.fromEntries(Object.keys(declared).map((k) => [k, live[k]]));
  const found = surplus(declared, projected);
  if (found.length === 0) return previous;
  return crypto
    .createHash("sha256")
    .update(previous + JSON.stringify(found) + JSON.stringify(projected))
    .digest("hex")
    .slice(0, 12);
}

/** Annotations of an authoritative object: forced apply, and the reconcile token. */
export function authoritativeAnnotations(
  ref: ObjectRef,
  declared: Record<string, unknown>,
): pulumi.Output<Record<string, string>> {
  return pulumi
    .all([ref.name, ref.namespace])
    .apply(([name, namespace]) =>
      reconcileToken({ apiVersion: ref.apiVersion, kind: ref.kind, name, namespace }, declared),
    )
    .apply((token): Record<string, string> => ({
      ...AUTHORITATIVE,
      [RECONCILE_ANNOTATION]: token,
    }));
}
