// The inventory of a stage namespace (policy/inventory.ts, cli/lib/inventory.ts): what no release
// and not the access layer manages, with no false positives for the shapes a stage really holds.
import * as assert from "node:assert/strict";
import * as zlib from "node:zlib";
import * as protobuf from "protobufjs";
import { parseConfig } from "../../config";
import {
  creatorOf,
  formatAge,
  InventoryContext,
  InventoryObject,
  undeclaredObjects,
} from "../../policy/inventory";
import {
  decodeHelmRelease,
  helmReleases,
  listableKinds,
  manifestObjects,
  tillerReleases,
} from "../../cli/lib/inventory";
import { driftExitCode, renderDriftReport } from "../../cli/lib/driftReport";
import { allModeConfig } from "./fixtures";

const NOW = Date.parse("2026-12-02T06:00:00Z");
let uid = 0;

function obj(
  kind: string,
  name: string,
  extra: {
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    owner?: InventoryObject;
    ownerController?: boolean;
    manager?: string;
    created?: string;
    type?: string;
    apiVersion?: string;
    spec?: InventoryObject["spec"];
    data?: Record<string, string>;
  } = {},
): InventoryObject {
  return {
    apiVersion: extra.apiVersion ?? "v1",
    kind,
    ...(extra.type ? { type: extra.type } : {}),
    ...(extra.spec ? { spec: extra.spec } : {}),
    ...(extra.data ? { data: extra.data } : {}),
    metadata: {
      name,
      uid: `uid-${++uid}`,
      creationTimestamp: extra.created ?? "2026-12-02T05:55:00Z",
      ...(extra.labels ? { labels: extra.labels } : {}),
      ...(extra.annotations ? { annotations: extra.annotations } : {}),
      ...(extra.owner
        ? {
            ownerReferences: [
              {
                uid: extra.owner.metadata.uid!,
                kind: extra.owner.kind,
                name: extra.owner.metadata.name,
                controller: extra.ownerController ?? true,
              },
            ],
          }
        : {}),
      managedFields: [
        {
          manager: extra.manager ?? "helm",
          operation: "Update",
          time: extra.created ?? "2026-12-02T05:55:00Z",
        },
      ],
    },
  } as InventoryObject;
}

const helm = (release: string) => ({
  labels: { "app.kubernetes.io/managed-by": "Helm" },
  annotations: {
    "meta.helm.sh/release-name": release,
    "meta.helm.sh/release-namespace": "shop-dev",
  },
});
const access = { labels: { "app.kubernetes.io/managed-by": "scoped-cd" } };

const HOOKS = ["Job/web-migrate"];
const MANIFEST = [
  ...HOOKS,
  "Deployment/web",
  "Service/web",
  "ConfigMap/web-config",
  "CronJob/web-report",
  "HorizontalPodAutoscaler/web",
  "PodDisruptionBudget/web",
];

/** A clean stage: a chart with hooks, a CronJob, an HPA and a PDB; in-cluster Tiller. */
function cleanStage(): InventoryObject[] {
  const deploy = obj("Deployment", "web", { ...helm("web"), apiVersion: "apps/v1" });
  const rs = obj("ReplicaSet", "web-5d8f", { owner: deploy, manager: "kube-controller-manager" });
  const pod = obj("Pod", "web-5d8f-abcde", { owner: rs, manager: "kube-controller-manager" });
  const svc = obj("Service", "web", helm("web"));
  const cron = obj("CronJob", "web-report", { ...helm("web"), apiVersion: "batch/v1" });
  const cronJob = obj("Job", "web-report-29000000", {
    owner: cron,
    manager: "kube-controller-manager",
  });
  const cronPod = obj("Pod", "web-report-29000000-x1", { owner: cronJob });
  // Helm writes no ownership annotation on a hook: known by the release's stored hooks only.
  const hook = obj("Job", "web-migrate", { apiVersion: "batch/v1" });
  const hookPod = obj("Pod", "web-migrate-q2", { owner: hook });
  const tiller = obj("Deployment", "tiller-deploy", { ...access, apiVersion: "apps/v1" });
  const tillerRs = obj("ReplicaSet", "tiller-deploy-7c", { owner: tiller, labels: access.labels });
  return [
    obj("Event", "web.17a", {}),
    obj("ConfigMap", "kube-root-ca.crt", { manager: "kube-controller-manager" }),
    obj("ServiceAccount", "default", { manager: "kube-controller-manager" }),
    obj("ServiceAccount", "deployer-abc123", access),
    obj("ServiceAccount", "tiller-abc123", access),
    obj("Secret", "deployer-abc123-cred-mf3x1", { ...access, type: "Opaque" }),
    obj("Role", "scoped-deployer", access),
    obj("RoleBinding", "scoped-deployer", access),
    obj("ResourceQuota", "stage-quota", access),
    obj("Secret", "sh.helm.release.v1.web.v1", {
      type: "helm.sh/release.v1",
      labels: { owner: "helm", name: "web", status: "superseded" },
    }),
    obj("Secret", "sh.helm.release.v1.web.v2", {
      type: "helm.sh/release.v1",
      labels: { owner: "helm", name: "web", status: "deployed" },
    }),
    deploy,
    rs,
    pod,
    svc,
    obj("Endpoints", "web", { manager: "kube-controller-manager" }),
    obj("EndpointSlice", "web-x7k2p", { owner: svc, apiVersion: "discovery.k8s.io/v1" }),
    obj("ConfigMap", "web-config", helm("web")),
    cron,
    cronJob,
    cronPod,
    hook,
    hookPod,
    obj("HorizontalPodAutoscaler", "web", helm("web")),
    obj("PodDisruptionBudget", "web", helm("web")),
    tiller,
    tillerRs,
    obj("Pod", "tiller-deploy-7c-p0", { owner: tillerRs }),
    obj("Secret", "web2.v1", {
      labels: { OWNER: "TILLER", NAME: "legacy-web", STATUS: "DEPLOYED" },
    }),
    obj("ConfigMap", "legacy-web-cfg", { labels: { heritage: "Tiller", release: "legacy-web" } }),
  ];
}

const ctx = (over: Partial<InventoryContext> = {}): InventoryContext => ({
  releases: ["web"],
  helm: [{ name: "web", objects: new Set(MANIFEST), hooks: new Set(HOOKS) }],
  // A Helm v2 release whose manifest names its ConfigMap (Helm v2 labels nothing itself).
  tiller: [{ name: "legacy-web", objects: new Set(["ConfigMap/legacy-web-cfg"]) }],
  acknowledged: [],
  now: NOW,
  ...over,
});

describe("the inventory of a stage namespace", () => {
  it("lists nothing for a clean stage: chart with hooks, CronJob, HPA, PDB; Tiller in the cluster", () => {
    assert.deepEqual(undeclaredObjects(cleanStage(), ctx()), { undeclared: [], acknowledged: [] });
  });

  it("lists nothing for a clean stage with a local Tiller (storage Secrets only) and none at all", () => {
    const local = cleanStage().filter((o) => !o.metadata.name.startsWith("tiller"));
    assert.deepEqual(undeclaredObjects(local, ctx()).undeclared, []);
    const noTiller = local.filter((o) => !o.metadata.labels?.OWNER && !o.metadata.labels?.heritage);
    assert.deepEqual(undeclaredObjects(noTiller, ctx({ tiller: undefined })).undeclared, []);
  });

  it("lists what the old credential created, with kind, age and creator, its controlled objects counted", () => {
    const deploy = obj("Deployment", "persist", {
      apiVersion: "apps/v1",
      manager: "kubectl-create",
      created: "2026-12-02T05:48:00Z",
    });
    const rs = obj("ReplicaSet", "persist-1", { owner: deploy });
    const leftovers = [
      obj("ConfigMap", "leak", { manager: "kubectl-create", created: "2026-12-02T05:59:15Z" }),
      obj("Service", "leak", { manager: "curl" }),
      obj("Endpoints", "leak", { manager: "kube-controller-manager" }),
      obj("CronJob", "leak", { apiVersion: "batch/v1", created: "2026-11-29T06:00:00Z" }),
      deploy,
      rs,
      obj("Pod", "persist-1-a", { owner: rs }),
    ];
    const { undeclared } = undeclaredObjects([...cleanStage(), ...leftovers], ctx());
    assert.deepEqual(
      undeclared.map((u) => [u.kind, u.name, u.age, u.creator, u.children]),
      [
        ["ConfigMap", "leak", "45s", "kubectl-create", 0],
        ["CronJob", "leak", "3d", "helm", 0],
        ["Deployment", "persist", "12m", "kubectl-create", 2],
        ["Service", "leak", "5m", "curl", 1],
      ],
    );
  });

  it("does not believe a forged Helm annotation: the object must be in the release's manifest", () => {
    const forged = obj("ConfigMap", "hidden", helm("web"));
    const other = obj("Secret", "x", helm("not-ours"));
    const { undeclared } = undeclaredObjects([...cleanStage(), forged, other], ctx());
    assert.deepEqual(
      undeclared.map((u) => [u.name, u.note]),
      [
        ["hidden", "claims Helm release web but is not in its manifest"],
        ["x", "claims Helm release not-ours, not a release of this stack"],
      ],
    );
  });

  it("lists the storage of a Helm release the stack does not declare", () => {
    const stray = obj("Secret", "sh.helm.release.v1.side.v1", {
      type: "helm.sh/release.v1",
      labels: { owner: "helm", name: "side" },
    });
    const { undeclared } = undeclaredObjects([...cleanStage(), stray], ctx());
    assert.deepEqual(
      undeclared.map((u) => u.note),
      ["storage of Helm release side, not a release of this stack"],
    );
    // An access stack declares no releases: every stored one is the delivery stack's.
    assert.deepEqual(
      undeclaredObjects([...cleanStage(), stray], ctx({ releases: "any" })).undeclared,
      [],
    );
  });

  it("does not trust an owner reference that is no controller's, nor one to an undeclared owner", () => {
    const leak = obj("ConfigMap", "leak", { manager: "kubectl" });
    const hiding = obj("ConfigMap", "hiding", {
      owner: cleanStage().find((o) => o.kind === "Deployment")!,
      ownerController: false,
    });
    const child = obj("ConfigMap", "child", { owner: leak });
    const { undeclared } = undeclaredObjects([...cleanStage(), leak, hiding, child], ctx());
    assert.deepEqual(
      undeclared.map((u) => [u.name, u.children]),
      [
        ["hiding", 0],
        ["leak", 1],
      ],
    );
  });

  it("counts claims made from a managed StatefulSet's templates as its own", () => {
    const sts = obj("StatefulSet", "db", {
      ...helm("web"),
      apiVersion: "apps/v1",
      spec: { volumeClaimTemplates: [{ metadata: { name: "data" } }] },
    });
    const claims = [
      obj("PersistentVolumeClaim", "data-db-0"),
      obj("PersistentVolumeClaim", "data-db-1"),
    ];
    const stranger = obj("PersistentVolumeClaim", "data-other-0");
    const c = ctx({
      helm: [
        { name: "web", objects: new Set([...MANIFEST, "StatefulSet/db"]), hooks: new Set(HOOKS) },
      ],
    });
    assert.deepEqual(
      undeclaredObjects([...cleanStage(), sts, ...claims, stranger], c).undeclared.map(
        (u) => u.name,
      ),
      ["data-other-0"],
    );
  });

  it("silences exactly the acknowledged object (same kind and name)", () => {
    const leftovers = [obj("ConfigMap", "feature-flags"), obj("Secret", "feature-flags")];
    const result = undeclaredObjects(
      [...cleanStage(), ...leftovers],
      ctx({ acknowledged: [{ kind: "ConfigMap", name: "feature-flags" }] }),
    );
    assert.deepEqual(
      result.undeclared.map((u) => `${u.kind}/${u.name}`),
      ["Secret/feature-flags"],
    );
    assert.deepEqual(
      result.acknowledged.map((u) => `${u.kind}/${u.name}`),
      ["ConfigMap/feature-flags"],
    );
  });

  it("formats ages as kubectl does, and finds the creating manager", () => {
    assert.equal(formatAge(NOW - 59_000, NOW), "59s");
    assert.equal(formatAge(NOW - 3 * 60_000, NOW), "3m");
    assert.equal(formatAge(NOW - 5 * 3600_000, NOW), "5h");
    assert.equal(formatAge(NOW - 3 * 86400_000, NOW), "3d");
    assert.equal(formatAge(undefined, NOW), "?");
    const o = obj("ConfigMap", "x");
    const later = {
      ...o,
      metadata: {
        ...o.metadata,
        managedFields: [
          { manager: "helm", time: "2026-12-02T05:58:00Z" },
          {
            manager: "kube-controller-manager",
            time: "2026-12-02T05:49:00Z",
            subresource: "status",
          },
          { manager: "kubectl-create", time: "2026-12-02T05:50:00Z" },
        ],
      },
    };
    assert.equal(creatorOf(later), "kubectl-create");
    const anonymous = {
      ...o,
      metadata: { ...o.metadata, managedFields: [{ time: "2026-12-02T05:50:00Z" }] },
    };
    assert.equal(creatorOf(anonymous), null);
  });
});

describe("reading Helm's storage and the API's discovery", () => {
  const encode = (release: object) =>
    Buffer.from(zlib.gzipSync(Buffer.from(JSON.stringify(release))).toString("base64")).toString(
      "base64",
    );
  const storage = (version: number, status: string, manifest: string, hooks: object[] = []) =>
    obj("Secret", `sh.helm.release.v1.web.v${version}`, {
      type: "helm.sh/release.v1",
      labels: { owner: "helm", name: "web", status },
      data: { release: encode({ name: "web", version, info: { status }, manifest, hooks }) },
    });

  it("decodes a release Secret (base64 of base64 of gzip of JSON)", () => {
    const s = storage(1, "deployed", "") as unknown as { data: { release: string } };
    assert.equal(decodeHelmRelease(s.data.release).name, "web");
  });

  it("takes the latest deployed manifest, later pending ones, and the hooks of every revision", () => {
    const cm = (name: string) =>
      `---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\n`;
    const [release] = helmReleases([
      storage(1, "superseded", cm("old"), [{ kind: "Job", name: "migrate-1" }]),
      storage(2, "deployed", cm("current") + cm("current-2")),
      storage(3, "pending-upgrade", cm("next"), [
        { kind: "Pod", name: "test", manifest: cm("hook-config") },
      ]),
    ]);
    assert.deepEqual([...release.hooks!].sort(), [
      "ConfigMap/hook-config",
      "Job/migrate-1",
      "Pod/test",
    ]);
    assert.deepEqual([...release.objects].sort(), [
      "ConfigMap/current",
      "ConfigMap/current-2",
      "ConfigMap/hook-config",
      "ConfigMap/next",
      "Job/migrate-1",
      "Pod/test",
    ]);
    assert.deepEqual(manifestObjects("---\n# empty\n"), []);
  });

  it("lists namespaced, listable kinds only, no subresources and no Events", () => {
    assert.deepEqual(
      listableKinds("v1", [
        { name: "configmaps", kind: "ConfigMap", namespaced: true, verbs: ["list", "get"] },
        { name: "pods/log", kind: "Pod", namespaced: true, verbs: ["get"] },
        { name: "events", kind: "Event", namespaced: true, verbs: ["list"] },
        { name: "nodes", kind: "Node", namespaced: false, verbs: ["list"] },
        { name: "bindings", kind: "Binding", namespaced: true, verbs: ["create"] },
      ]),
      [{ resource: "configmaps", kind: "ConfigMap", apiVersion: "v1" }],
    );
  });
});

describe("undeclared objects in the drift report", () => {
  const undeclared = [
    {
      stage: "dev",
      namespace: "shop-dev",
      kind: "ConfigMap",
      apiVersion: "v1",
      name: "leak",
      age: "3m",
      creator: "kubectl-create",
      children: 0,
    },
  ];
  it("exits 1 for a clean preview with undeclared objects, and shows each in a table", () => {
    const clean = { stack: "dev", events: [] };
    assert.equal(driftExitCode([clean]), 0);
    assert.equal(driftExitCode([{ ...clean, undeclared }]), 1);
    const report = renderDriftReport([{ ...clean, undeclared }]);
    assert.ok(report.includes("**undeclared objects:** dev"), report);
    assert.ok(report.includes("### Objects nothing declares (1)"), report);
    assert.ok(report.includes("| dev | ConfigMap | `leak` | 3m | `kubectl-create` | — |"), report);
  });
});

describe("the inventory configuration", () => {
  const withInventory = (inventory: unknown) => {
    const c = allModeConfig();
    c.stages.dev.inventory = inventory;
    return parseConfig(c);
  };
  it("accepts acknowledgements by kind and name, and defaults to none", () => {
    assert.deepEqual(withInventory(undefined).config!.stages[0].inventory, { acknowledge: [] });
    assert.deepEqual(
      withInventory({ acknowledge: [{ kind: "ConfigMap", name: "feature-flags" }] }).config!
        .stages[0].inventory.acknowledge,
      [{ kind: "ConfigMap", name: "feature-flags" }],
    );
  });
  it("refuses a lower-case kind, a bad name, a repeated entry and unknown keys, with key paths", () => {
    assert.deepEqual(
      withInventory({
        acknowledge: [
          { kind: "configmap", name: "x" },
          { kind: "Secret", name: "Bad_Name" },
        ],
        extra: true,
      }).problems,
      [
        "scoped-cd:stages.dev.inventory.acknowledge[0].kind: must be a Kubernetes kind such as ConfigMap",
        "scoped-cd:stages.dev.inventory.acknowledge[1].name: must be an object name (lowercase letters, digits, '-' and '.')",
        "scoped-cd:stages.dev.inventory.extra: unknown key",
      ],
    );
    assert.deepEqual(
      withInventory({
        acknowledge: [
          { kind: "Secret", name: "x" },
          { kind: "Secret", name: "x" },
        ],
      }).problems,
      ["scoped-cd:stages.dev.inventory.acknowledge: must not repeat an entry"],
    );
  });
});

describe("Helm v2 storage (Tiller --storage=secret)", () => {
  // hapi.release.Release as Tiller writes it: name 1, info 2, manifest 5, hooks 6 (Hook: name 1,
  // kind 2, path 3, manifest 4), version 7; encoded by hand here, field by field.
  function tillerSecret(name: string, manifest: string, hook: { name: string; kind: string }) {
    const w = protobuf.Writer.create();
    w.uint32((1 << 3) | 2).string(name);
    w.uint32((2 << 3) | 2).bytes(Buffer.from([0x0a, 0x00])); // info: an empty nested message
    w.uint32((5 << 3) | 2).string(manifest);
    const h = protobuf.Writer.create();
    h.uint32((1 << 3) | 2).string(hook.name);
    h.uint32((2 << 3) | 2).string(hook.kind);
    h.uint32((3 << 3) | 2).string("templates/hook.yaml");
    w.uint32((6 << 3) | 2).bytes(h.finish());
    w.uint32(7 << 3).int32(2);
    const stored = zlib.gzipSync(Buffer.from(w.finish())).toString("base64");
    return {
      ...obj("Secret", `${name}.v2`, { labels: { OWNER: "TILLER", NAME: name } }),
      data: { release: Buffer.from(stored).toString("base64") },
    };
  }

  it("reads each release's manifest and hooks, skipping the fields it does not need", () => {
    const secret = tillerSecret(
      "web",
      "---\nkind: Service\nmetadata: {name: web}\n---\nkind: Deployment\nmetadata: {name: web}\n",
      { name: "web-migrate", kind: "Job" },
    );
    assert.deepEqual(
      tillerReleases([secret as never]).map((r) => ({
        name: r.name,
        objects: [...r.objects].sort(),
      })),
      [{ name: "web", objects: ["Deployment/web", "Job/web-migrate", "Service/web"] }],
    );
  });

  it("counts a Helm v2 release's objects as managed by kind and name, nothing else", () => {
    const secret = tillerSecret("web", "kind: ConfigMap\nmetadata: {name: web-config}\n", {
      name: "x",
      kind: "Job",
    });
    const objects = [secret, obj("ConfigMap", "web-config"), obj("ConfigMap", "not-web")];
    const found = undeclaredObjects(objects as never, {
      ...ctx(),
      tiller: tillerReleases(objects as never),
    });
    assert.deepEqual(
      found.undeclared.map((u) => `${u.kind}/${u.name}`),
      ["ConfigMap/not-web"],
    );
  });
});
