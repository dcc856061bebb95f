// Makes `pulumi up` undo what the Kubernetes provider's refresh cannot see on the objects
// scoped-cd alone owns: entries appended to a declared list, selectors added where none is
// declared (policy/surplus.ts). Before registering such an object, the program reads it live with
// the admin kubeconfig; when it carries a surplus, a new reconcile token goes into an annotation,
// so the engine sees an input change and the forced server-side apply (`pulumi.com/patchForce`)
// writes the declared lists whole again (Kubernetes lists without a merge key are atomic under
// server-side apply). Without a surplus the live token is kept, so a clean stack shows no change.
import * as crypto from "node:crypto";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { surplus } from "../../policy/surplus";
import { AdminProvider } from "./adminProvider";
import { AUTHORITATIVE } from "./labels";
import { LiveObject, LiveRef } from "./liveCluster";

export const RECONCILE_ANNOTATION = "scoped-cd.io/reconcile";

export interface ObjectRef {
  readonly apiVersion: string;
  readonly kind: string;
  readonly name: pulumi.Input<string>;
  readonly namespace?: pulumi.Input<string>;
}

/** The reconcile token for an object whose declared content (top-level fields) is `declared`. */
export async function reconcileToken(
  ref: LiveRef,
  declared: Record<string, unknown>,
  readLive: (ref: LiveRef) => Promise<LiveObject | undefined>,
): Promise<string> {
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

/**
 * Annotations of an authoritative object: forced apply, and the reconcile token. `provider` is
 * the one the object is written with: only the admin provider knows how to read it live.
 */
export function authoritativeAnnotations(
  ref: ObjectRef,
  declared: Record<string, unknown>,
  provider: k8s.Provider,
): pulumi.Output<Record<string, string>> {
  if (!(provider instanceof AdminProvider)) {
    throw new Error(
      `${ref.kind} ${String(ref.name)}: authoritative objects are written with the admin provider`,
    );
  }
  return pulumi
    .all([ref.name, ref.namespace])
    .apply(([name, namespace]) =>
      reconcileToken(
        { apiVersion: ref.apiVersion, kind: ref.kind, name, namespace },
        declared,
        provider.readLive,
      ),
    )
    .apply((token): Record<string, string> => ({
      ...AUTHORITATIVE,
      [RECONCILE_ANNOTATION]: token,
    }));
}
