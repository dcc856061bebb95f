// The inventory of a stage namespace (issue 18): every object that neither a release of the stack
// (by Helm's ownership, checked against the release's own manifest) nor the access layer manages,
// and that is not a controller's child of one of them. Pure: the objects, the releases' manifests
// and the clock come in; `scoped-cd verify` and `drift` list what comes out (cli/lib/inventory.ts).
//
// What is trusted, and why it can be:
// - the access layer's label (`app.kubernetes.io/managed-by=scoped-cd`): the `access` admission
//   policy refuses CI requesters every object carrying it (policy/admission.ts);
// - controller owner references: the same policy refuses CI requesters `controller: true`, so a
//   controller child was made by the control plane for its owner;
// - Helm's ownership annotation only together with the release's manifest: CI is Helm, so it can
//   write the annotation on anything; an annotated object missing from the manifest is listed.
import { ACCESS_LAYER_LABEL } from "./admission";

/** What the inventory reads of an object (the API's JSON, only these fields). */
export interface InventoryObject {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: {
    readonly name: string;
    readonly uid?: string;
    readonly creationTimestamp?: string;
    readonly deletionTimestamp?: string;
    readonly labels?: Readonly<Record<string, string>>;
    readonly annotations?: Readonly<Record<string, string>>;
    readonly ownerReferences?: readonly {
      readonly uid: string;
      readonly kind: string;
      readonly name: string;
      readonly controller?: boolean;
    }[];
    readonly managedFields?: readonly {
      readonly manager?: string;
      readonly operation?: string;
      readonly time?: string;
      readonly subresource?: string;
    }[];
  };
  /** Secrets: their type (Helm's storage is `helm.sh/release.v1`). */
  readonly type?: string;
  /** StatefulSets: their volume claim templates' names (claims made from them are children). */
  readonly spec?: { readonly volumeClaimTemplates?: readonly { metadata?: { name?: string } }[] };
}

/** One Helm 3 release found in the namespace's storage: the objects its manifests name. */
export interface HelmReleaseContents {
  readonly name: string;
  /** `Kind/name` of every object in the current manifest and in every stored revision's hooks. */
  readonly objects: ReadonlySet<string>;
  /**
   * `Kind/name` of the hooks of every stored revision: Helm writes no ownership annotation on a
   * hook, so a hook's object is recognised by kind and name alone.
   */
  readonly hooks?: ReadonlySet<string>;
}

/** An expected extra the stage acknowledges (`stages.<stage>.inventory.acknowledge`). */
export interface Acknowledgement {
  readonly kind: string;
  readonly name: string;
}

export interface InventoryContext {
  /** The stack's releases of this stage; "any" in an access stack (the delivery stack's are unknown). */
  readonly releases: readonly string[] | "any";
  /** Helm 3 releases stored in the namespace, decoded. */
  readonly helm: readonly HelmReleaseContents[];
  /** Helm v2 (Tiller) releases stored in the namespace, decoded, when the stage runs Tiller. */
  readonly tiller?: readonly HelmReleaseContents[];
  readonly acknowledged: readonly Acknowledgement[];
  /** Milliseconds since the epoch. */
  readonly now: number;
}

/** One undeclared object, as `verify` and `drift` show it. */
export interface UndeclaredObject {
  readonly kind: string;
  readonly apiVersion: string;
  readonly name: string;
  /** `45s`, `12m`, `3h`, `5d` (kubectl's style); "?" without a creation time. */
  readonly age: string;
  /** The field manager that created it (managedFields' first entry), when the object shows one. */
  readonly creator: string | null;
  /** Why it is not counted as managed, when it claims to be. */
  readonly note?: string;
  /** Objects a controller made for it (its pods, ReplicaSets, Jobs), not listed on their own. */
  readonly children: number;
}

export interface InventoryResult {
  readonly undeclared: readonly UndeclaredObject[];
  /** Undeclared, but acknowledged by the stage's config. */
  readonly acknowledged: readonly UndeclaredObject[];
}

const HELM_RELEASE_NAME = "meta.helm.sh/release-name";
const HELM_STORAGE_TYPE = "helm.sh/release.v1";

/** What the namespace always holds whatever is deployed. */
function isNamespaceFixture(o: InventoryObject): boolean {
  if (o.kind === "Event") return true;
  if (o.kind === "ConfigMap" && o.metadata.name === "kube-root-ca.crt") return true;
  if (o.kind === "ServiceAccount" && o.metadata.name === "default") return true;
  return false;
}

/** kubectl's age: the largest unit that fits, whole. */
export function formatAge(createdMs: number | undefined, now: number): string {
  if (createdMs === undefined || Number.isNaN(createdMs)) return "?";
  const s = Math.max(0, Math.floor((now - createdMs) / 1000));
  if (s < 120) return `${s}s`;
  if (s < 2 * 3600) return `${Math.floor(s / 60)}m`;
  if (s < 2 * 86400) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86400)}d`;
}

/**
 * The manager that created the object: the earliest entry of its managedFields, not counting a
 * controller's status writes (their own entries, `subresource: status`). Null when the creating
 * request named no manager (no user agent) or the object keeps no managedFields.
 */
export function creatorOf(o: InventoryObject): string | null {
  const entries = (o.metadata.managedFields ?? []).filter((e) => !e.subresource);
  if (entries.length === 0) return null;
  const first = [...entries].sort((a, b) => (a.time ?? "").localeCompare(b.time ?? ""))[0];
  return first.manager || null;
}

const key = (kind: string, name: string) => `${kind}/${name}`;

/**
 * Why an object is managed ("access layer", "release <r>", …), or undefined when it is not,
 * ignoring owner references (resolved by the caller). `note` says why a claim was not believed.
 */
function directOwner(
  o: InventoryObject,
  ctx: InventoryContext,
  services: ReadonlySet<string>,
): { managed: boolean; note?: string } {
  const labels = o.metadata.labels ?? {};
  if (labels[ACCESS_LAYER_LABEL.key] === ACCESS_LAYER_LABEL.value) return { managed: true };
  const inStack = (r: string) => ctx.releases === "any" || ctx.releases.includes(r);
  // Helm 3's storage of a release of the stack.
  if (o.kind === "Secret" && o.type === HELM_STORAGE_TYPE && labels.owner === "helm") {
    return inStack(labels.name ?? "")
      ? { managed: true }
      : {
          managed: false,
          note: `storage of Helm release ${labels.name}, not a release of this stack`,
        };
  }
  // Helm v2's storage (Tiller, --storage=secret), and what a stored Helm v2 release's manifests
  // and hooks name (Helm v2 marks its objects with nothing: kind and name it is).
  if (ctx.tiller) {
    if ((o.kind === "Secret" || o.kind === "ConfigMap") && labels.OWNER === "TILLER")
      return { managed: true };
    const key = `${o.kind}/${o.metadata.name}`;
    if (ctx.tiller.some((r) => r.objects.has(key))) return { managed: true };
  }
  const claimed = o.metadata.annotations?.[HELM_RELEASE_NAME];
  if (claimed !== undefined) {
    if (!inStack(claimed))
      return {
        managed: false,
        note: `claims Helm release ${claimed}, not a release of this stack`,
      };
    const release = ctx.helm.find((r) => r.name === claimed);
    if (!release)
      return { managed: false, note: `claims Helm release ${claimed}, which is not stored here` };
    if (release.objects.has(key(o.kind, o.metadata.name))) return { managed: true };
    return { managed: false, note: `claims Helm release ${claimed} but is not in its manifest` };
  }
  // A Service's Endpoints carry its name and no owner reference.
  if (o.kind === "Endpoints" && services.has(o.metadata.name)) return { managed: true };
  // A hook of a release of the stack (Helm annotates no hook).
  if (ctx.helm.some((r) => inStack(r.name) && r.hooks?.has(key(o.kind, o.metadata.name))))
    return { managed: true };
  return { managed: false };
}

/** The inventory: undeclared objects (roots only; their controllers' children are counted). */
export function undeclaredObjects(
  objects: readonly InventoryObject[],
  ctx: InventoryContext,
): InventoryResult {
  const live = objects.filter((o) => !isNamespaceFixture(o));
  const byUid = new Map(live.filter((o) => o.metadata.uid).map((o) => [o.metadata.uid!, o]));
  const direct = new Map<InventoryObject, { managed: boolean; note?: string }>();
  // Services first: their Endpoints are managed when they are.
  const managedServices = new Set<string>();
  for (const o of live.filter((x) => x.kind === "Service")) {
    const d = directOwner(o, ctx, managedServices);
    direct.set(o, d);
    if (d.managed) managedServices.add(o.metadata.name);
  }
  for (const o of live) if (!direct.has(o)) direct.set(o, directOwner(o, ctx, managedServices));

  /** The root of an object's controller chain (itself when it has no live controller). */
  const rootOf = (o: InventoryObject): InventoryObject => {
    const seen = new Set<InventoryObject>();
    let current = o;
    for (;;) {
      seen.add(current);
      const ref = current.metadata.ownerReferences?.find((r) => r.controller === true);
      const owner = ref ? byUid.get(ref.uid) : undefined;
      if (!owner || seen.has(owner)) return current;
      current = owner;
    }
  };
  // Claims made from a StatefulSet's volumeClaimTemplates: <template>-<statefulset>-<ordinal>.
  const claimOwner = (o: InventoryObject): InventoryObject | undefined =>
    o.kind !== "PersistentVolumeClaim"
      ? undefined
      : live.find(
          (s) =>
            s.kind === "StatefulSet" &&
            (s.spec?.volumeClaimTemplates ?? []).some((t) =>
              new RegExp(
                `^${escape(t.metadata?.name ?? "")}-${escape(s.metadata.name)}-[0-9]+$`,
              ).test(o.metadata.name),
            ),
        );

  // A Service's Endpoints (same name, no owner reference) belong to it, declared or not.
  const endpointsOwner = (o: InventoryObject): InventoryObject | undefined =>
    o.kind === "Endpoints"
      ? live.find((s) => s.kind === "Service" && s.metadata.name === o.metadata.name)
      : undefined;

  const roots = new Map<InventoryObject, number>();
  for (const o of live) {
    const root = claimOwner(o) ?? endpointsOwner(o) ?? rootOf(o);
    if (direct.get(root)?.managed) continue;
    roots.set(root, (roots.get(root) ?? 0) + (root === o ? 0 : 1));
  }
  const undeclared: UndeclaredObject[] = [];
  const acknowledged: UndeclaredObject[] = [];
  for (const [o, children] of roots) {
    const note = direct.get(o)?.note;
    const entry: UndeclaredObject = {
      kind: o.kind,
      apiVersion: o.apiVersion,
      name: o.metadata.name,
      age: formatAge(
        o.metadata.creationTimestamp ? Date.parse(o.metadata.creationTimestamp) : undefined,
        ctx.now,
      ),
      creator: creatorOf(o),
      ...(note ? { note } : {}),
      children,
    };
    const ack = ctx.acknowledged.some((a) => a.kind === o.kind && a.name === o.metadata.name);
    (ack ? acknowledged : undeclared).push(entry);
  }
  const order = (a: UndeclaredObject, b: UndeclaredObject) =>
    a.kind.localeCompare(b.kind) || a.name.localeCompare(b.name);
  return { undeclared: undeclared.sort(order), acknowledged: acknowledged.sort(order) };
}

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** One line per undeclared object, for reports. */
export function describeUndeclared(u: UndeclaredObject): string {
  const parts = [`age ${u.age}`, `created by ${u.creator ?? "unknown"}`];
  if (u.children > 0) parts.push(`${u.children} controlled object${u.children === 1 ? "" : "s"}`);
  if (u.note) parts.push(u.note);
  return `${u.kind} ${u.name} (${parts.join(", ")})`;
}
