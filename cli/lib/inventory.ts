// The inventory of a stage namespace, read as the stage's scoped identity (what a leaked copy of
// its credential could have created, it can list: every kind of the deployer's profile is
// "manage", which includes list). Discovery finds every namespaced kind the API server serves;
// each is listed in the namespace, and a kind the identity may not list (403) is one it cannot
// have created either. Helm 3's release Secrets are decoded here (base64, gzip, JSON) to learn
// which objects each release's manifest names; nothing of a Secret's data is printed or kept.
// The classification itself is pure (policy/inventory.ts).
/* eslint-disable @typescript-eslint/no-explicit-any -- the API's discovery and list JSON, and Helm's release JSON, are untyped here */
import * as zlib from "node:zlib";
import * as yaml from "js-yaml";
import * as protobuf from "protobufjs";
import type { StageSummary } from "../../components/outputs";
import {
  describeUndeclared,
  HelmReleaseContents,
  InventoryObject,
  InventoryResult,
  UndeclaredObject,
  undeclaredObjects,
} from "../../policy/inventory";
import { apiRequest } from "./apiRequest";
import type { CheckRow, StageCheck } from "./verify/types";

type ClientNode = typeof import("@kubernetes/client-node", {
  with: { "resolution-mode": "import" },
});
type KubeConfig = InstanceType<ClientNode["KubeConfig"]>;

/** Which discovery entries are listed: namespaced, listable, not a subresource, not an Event. */
export function listableKinds(
  groupVersion: string,
  resources: readonly { name: string; kind: string; namespaced: boolean; verbs?: string[] }[],
): { resource: string; kind: string; apiVersion: string }[] {
  return resources
    .filter(
      (r) =>
        r.namespaced &&
        !r.name.includes("/") &&
        (r.verbs ?? []).includes("list") &&
        r.kind !== "Event",
    )
    .map((r) => ({ resource: r.name, kind: r.kind, apiVersion: groupVersion }));
}

export interface NamespaceListing {
  readonly objects: InventoryObject[];
  /** Kinds the identity may not list (it cannot create them either). */
  readonly unlisted: string[];
}

/** Every object of the namespace the identity can list (one kind per group: preferred versions). */
export async function listNamespace(kc: KubeConfig, namespace: string): Promise<NamespaceListing> {
  const versions = ["v1"];
  const groups = await apiRequest(kc, "GET", "/apis");
  if (groups.status !== 200) throw new Error(`API discovery failed: HTTP ${groups.status}`);
  for (const g of groups.body?.groups ?? []) {
    if (g.preferredVersion?.groupVersion) versions.push(g.preferredVersion.groupVersion);
  }
  const objects: InventoryObject[] = [];
  const unlisted: string[] = [];
  const seenKinds = new Set<string>();
  for (const gv of versions) {
    const base = gv === "v1" ? "/api/v1" : `/apis/${gv}`;
    const discovery = await apiRequest(kc, "GET", base);
    if (discovery.status !== 200) continue; // an aggregated API that is down
    for (const k of listableKinds(gv, discovery.body?.resources ?? [])) {
      // The same kind served by two groups (events.k8s.io Events are filtered already).
      const id = `${k.kind}.${gv.split("/")[0]}`;
      if (seenKinds.has(id)) continue;
      seenKinds.add(id);
      let next: string | undefined = "";
      while (next !== undefined) {
        const path = `${base}/namespaces/${namespace}/${k.resource}?limit=500${next ? `&continue=${encodeURIComponent(next)}` : ""}`;
        const list = await apiRequest(kc, "GET", path);
        if (list.status === 403 || list.status === 404 || list.status === 405) {
          unlisted.push(k.kind);
          break;
        }
        if (list.status === 401) {
          const err = new Error(`listing ${k.resource} in ${namespace}: HTTP 401 Unauthorized`);
          (err as { code?: number }).code = 401;
          throw err;
        }
        if (list.status !== 200)
          throw new Error(`listing ${k.resource} in ${namespace}: HTTP ${list.status}`);
        for (const item of list.body?.items ?? []) {
          objects.push({ ...item, apiVersion: gv, kind: k.kind });
        }
        next = list.body?.metadata?.continue || undefined;
      }
    }
  }
  return { objects, unlisted };
}

/** The objects a Helm 3 manifest (multi-document YAML) names, as `Kind/name`. */
export function manifestObjects(manifest: string | undefined): string[] {
  const out: string[] = [];
  if (!manifest) return out;
  for (const doc of yaml.loadAll(manifest)) {
    const d = doc as { kind?: unknown; metadata?: { name?: unknown } } | null;
    if (d && typeof d.kind === "string" && typeof d.metadata?.name === "string")
      out.push(`${d.kind}/${d.metadata.name}`);
  }
  return out;
}

/** Helm 3's storage format: the Secret's `release` is base64(gzip(JSON)), base64'd again by the API. */
export function decodeHelmRelease(data: string): any {
  const inner = Buffer.from(Buffer.from(data, "base64").toString("utf8"), "base64");
  const json = inner[0] === 0x1f && inner[1] === 0x8b ? zlib.gunzipSync(inner) : inner;
  return JSON.parse(json.toString("utf8"));
}

/**
 * Helm v2's stored release (`hapi.release.Release`, protobuf): only the fields the inventory reads;
 * protobufjs skips the others (info, chart, config).
 */
const TillerHook = new protobuf.Type("Hook")
  .add(new protobuf.Field("name", 1, "string"))
  .add(new protobuf.Field("kind", 2, "string"))
  .add(new protobuf.Field("manifest", 4, "string"));
const TillerRelease = new protobuf.Type("Release")
  .add(new protobuf.Field("name", 1, "string"))
  .add(new protobuf.Field("manifest", 5, "string"))
  .add(new protobuf.Field("hooks", 6, "Hook", "repeated"))
  .add(TillerHook);

/**
 * Helm v2's storage (Tiller `--storage=secret`): the Secret's `release` is base64(gzip(protobuf)),
 * base64'd again by the API.
 */
export function decodeTillerRelease(data: string): {
  name: string;
  manifest: string;
  hooks: { name: string; kind: string; manifest: string }[];
} {
  const inner = Buffer.from(Buffer.from(data, "base64").toString("utf8"), "base64");
  const bytes = inner[0] === 0x1f && inner[1] === 0x8b ? zlib.gunzipSync(inner) : inner;
  return TillerRelease.toObject(TillerRelease.decode(bytes), { defaults: true }) as never;
}

/**
 * Each Helm v2 release Tiller stored in the namespace: the objects of every stored revision's
 * manifest and hooks (Helm v2 marks the objects it creates with nothing, so kind and name it is).
 */
export function tillerReleases(objects: readonly InventoryObject[]): HelmReleaseContents[] {
  const byName = new Map<string, Set<string>>();
  for (const o of objects) {
    const s = o as InventoryObject & { data?: Record<string, string> };
    if (s.kind !== "Secret" || s.metadata.labels?.OWNER !== "TILLER" || !s.data?.release) continue;
    let release;
    try {
      release = decodeTillerRelease(s.data.release);
    } catch {
      continue; // unreadable: its objects are listed as not in any manifest
    }
    const name = release.name || s.metadata.labels.NAME;
    const found = byName.get(name) ?? new Set<string>();
    for (const k of manifestObjects(release.manifest)) found.add(k);
    for (const h of release.hooks) {
      if (h.kind && h.name) found.add(`${h.kind}/${h.name}`);
      for (const k of manifestObjects(h.manifest)) found.add(k);
    }
    byName.set(name, found);
  }
  return [...byName].map(([name, objects]) => ({ name, objects }));
}

/**
 * The contents of each Helm 3 release stored in the namespace: the manifest of its latest deployed
 * revision and of any later (pending) one, and the hooks of every stored revision (a hook's objects
 * outlive its revision unless its delete policy removes them).
 */
export function helmReleases(objects: readonly InventoryObject[]): HelmReleaseContents[] {
  const byName = new Map<string, { version: number; status: string; release: any }[]>();
  for (const o of objects) {
    const s = o as InventoryObject & { data?: Record<string, string> };
    if (s.kind !== "Secret" || s.type !== "helm.sh/release.v1" || !s.data?.release) continue;
    let release;
    try {
      release = decodeHelmRelease(s.data.release);
    } catch {
      continue; // unreadable: its objects are listed as not in any manifest
    }
    const name = release?.name ?? o.metadata.labels?.name;
    if (!name) continue;
    const list = byName.get(name) ?? [];
    list.push({
      version: Number(release.version ?? 0),
      status: String(release.info?.status ?? ""),
      release,
    });
    byName.set(name, list);
  }
  return [...byName].map(([name, revisions]) => {
    revisions.sort((a, b) => a.version - b.version);
    const deployed = [...revisions].reverse().find((r) => r.status === "deployed");
    const current = revisions.filter((r) => !deployed || r.version >= deployed.version);
    const objects = new Set<string>();
    const hooks = new Set<string>();
    for (const r of current) for (const k of manifestObjects(r.release.manifest)) objects.add(k);
    for (const r of revisions)
      for (const h of r.release.hooks ?? []) {
        if (h.kind && h.name) hooks.add(`${h.kind}/${h.name}`);
        for (const k of manifestObjects(h.manifest)) hooks.add(k);
      }
    for (const k of hooks) objects.add(k);
    return { name, objects, hooks };
  });
}

export interface StageInventory extends InventoryResult {
  readonly namespace: string;
  readonly unlisted: readonly string[];
}

/**
 * The inventory of one stage, as its scoped identity. `accessOnly`: the stack declares no releases
 * of its own (an access stack), so every Helm release stored in the namespace counts as the stage's.
 */
export async function stageInventory(
  kubeconfig: string,
  summary: StageSummary,
  accessOnly: boolean,
  now = Date.now(),
): Promise<StageInventory> {
  const { KubeConfig } = await import("@kubernetes/client-node");
  const kc = new KubeConfig();
  kc.loadFromString(kubeconfig);
  const { objects, unlisted } = await listNamespace(kc, summary.namespace);
  const result = undeclaredObjects(objects, {
    releases: accessOnly ? "any" : Object.keys(summary.releases ?? {}),
    helm: helmReleases(objects),
    tiller: summary.tiller?.enabled ? tillerReleases(objects) : undefined,
    acknowledged: summary.inventory?.acknowledge ?? [],
    now,
  });
  return { ...result, namespace: summary.namespace, unlisted };
}

/** `verify`: one surprise per undeclared object (the acknowledged ones as expected rows). */
export const inventoryCheck: StageCheck = {
  name: "inventory",
  async run(target) {
    const accessOnly = target.mode === "access";
    const inv = await stageInventory(target.kubeconfig, target.summary, accessOnly);
    const row = (
      description: string,
      ok: boolean,
      note: string,
      object?: UndeclaredObject,
    ): CheckRow => ({
      check: "inventory",
      description,
      expected: "forbidden",
      actual: ok ? "forbidden" : "allowed",
      ok,
      ...(note ? { note } : {}),
      ...(object ? { object } : {}),
    });
    const rows = [
      ...inv.undeclared.map((u) =>
        row(
          `undeclared ${describeUndeclared(u)}`,
          false,
          `no release of the stack and not the access layer: delete it, or acknowledge it in scoped-cd:stages.${target.stage}.inventory.acknowledge`,
          u,
        ),
      ),
      ...inv.acknowledged.map((u) =>
        row(`undeclared ${describeUndeclared(u)}`, true, "acknowledged (inventory.acknowledge)", u),
      ),
    ];
    if (rows.length === 0)
      rows.push(
        row(
          `every object in ${inv.namespace} belongs to a release of the stack or to the access layer`,
          true,
          accessOnly ? "an access stack: every stored Helm release counts as the stage's" : "",
        ),
      );
    return rows;
  },
};
