// Hand-built engine event sequences, shaped as `stack.preview({ refresh: true, diff: true })`
// delivers them (checked against a real CLI run): a refresh phase (op "refresh", the diff on the
// resOutputsEvent), then the preview phase. Shared by the unit tests and docs/jenkins.md's example.
import type { EngineEvent, StepEventMetadata } from "@pulumi/pulumi/automation";
import type { StackPreview } from "../../cli/lib/driftReport";

/** A preview that ran (StackPreview's first form). */
export type PreviewWithEvents = Extract<StackPreview, { events: unknown }>;

const SECRET = {
  "4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270",
  ciphertext: "[secret]",
};

const STAGE = "scoped-cd:stage:Stage";
const RELEASES = "scoped-cd:delivery:StageReleases";

function urn(stack: string, type: string, name: string, parents: string[] = []): string {
  return `urn:pulumi:${stack}::scoped-cd::${[...parents, type].join("$")}::${name}`;
}

function state(u: string, type: string, inputs: object, outputs: object = inputs) {
  return { type, urn: u, id: "id", parent: "", provider: "", inputs, outputs } as const;
}

let sequence = 0;
function event(
  kind: "resourcePreEvent" | "resOutputsEvent",
  metadata: Partial<StepEventMetadata>,
): EngineEvent {
  return {
    sequence: sequence++,
    timestamp: 1760000000,
    [kind]: { metadata: { provider: "", ...metadata }, planning: true },
  } as EngineEvent;
}

/** A resource that refresh finds unchanged and the preview leaves alone. */
function unchanged(u: string, type: string, props: object): EngineEvent[] {
  const s = state(u, type, props);
  return [
    event("resourcePreEvent", { op: "refresh", urn: u, type, old: s, new: s }),
    event("resOutputsEvent", { op: "refresh", urn: u, type, old: s, new: s }),
    event("resourcePreEvent", { op: "same", urn: u, type, old: s, new: s }),
    event("resOutputsEvent", { op: "same", urn: u, type, old: s, new: s }),
  ];
}

function stackResource(stack: string): EngineEvent[] {
  return unchanged(
    urn(stack, "pulumi:pulumi:Stack", `scoped-cd-${stack}`),
    "pulumi:pulumi:Stack",
    {},
  );
}

/** test: nothing drifted, nothing to do. */
export function cleanStack(): PreviewWithEvents {
  const stack = "test";
  return {
    stack,
    events: [
      { sequence: sequence++, timestamp: 1760000000, preludeEvent: { config: {} } },
      ...stackResource(stack),
      ...unchanged(urn(stack, STAGE, "test"), STAGE, {}),
      ...unchanged(
        urn(stack, "pulumi:providers:kubernetes", "test-scoped"),
        "pulumi:providers:kubernetes",
        {
          kubeconfig: SECRET,
        },
      ),
      ...unchanged(
        urn(stack, "kubernetes:helm.sh/v3:Release", "test-storefront", [STAGE, RELEASES]),
        "kubernetes:helm.sh/v3:Release",
        { name: "storefront", values: { replicaCount: 1 } },
      ),
    ],
  };
}

/** preprod: a release edited by hand (a secret value among its values), a Secret changed, a
 * ConfigMap deleted outside Pulumi, a Deployment whose only change is bookkeeping, and the plan
 * that puts it all back plus a replacement. */
export function driftedStack(): PreviewWithEvents {
  const stack = "preprod";
  const parents = [STAGE, RELEASES];
  const release = urn(stack, "kubernetes:helm.sh/v3:Release", "preprod-storefront", parents);
  const releaseType = "kubernetes:helm.sh/v3:Release";
  const declared = { name: "storefront", values: { replicaCount: 2, db: { password: "hunter2" } } };
  const live = {
    name: "storefront",
    values: { replicaCount: 5, db: { password: "changed-by-hand" }, debug: "a|b" },
  };
  const secretType = "kubernetes:core/v1:Secret";
  const secret = urn(stack, secretType, "storefront-db", parents);
  const configMapType = "kubernetes:core/v1:ConfigMap";
  const configMap = urn(stack, configMapType, "storefront-flags", parents);
  const deploymentType = "kubernetes:apps/v1:Deployment";
  const deployment = urn(stack, deploymentType, "storefront-worker", parents);
  const deploymentOld = {
    metadata: { name: "worker", resourceVersion: "41" },
    status: { readyReplicas: 1 },
  };
  const deploymentNew = {
    metadata: { name: "worker", resourceVersion: "97" },
    status: { readyReplicas: 2 },
  };

  const releaseOld = state(release, releaseType, declared);
  const releaseLive = state(release, releaseType, live);
  const secretOld = state(secret, secretType, { data: SECRET, type: "Opaque" });
  const secretLive = state(secret, secretType, { data: SECRET, type: "Opaque" });
  const configMapOld = state(configMap, configMapType, { data: { mode: "fast" } });
  const deplOld = state(deployment, deploymentType, deploymentOld);
  const deplLive = state(deployment, deploymentType, deploymentNew);
  const replaced = urn(stack, "kubernetes:core/v1:Service", "storefront", parents);
  const replacedOld = state(replaced, "kubernetes:core/v1:Service", {
    spec: { clusterIP: "10.0.0.7" },
  });
  const replacedNew = state(replaced, "kubernetes:core/v1:Service", {
    spec: { clusterIP: "None" },
  });

  return {
    stack,
    events: [
      ...stackResource(stack),
      // refresh phase
      event("resourcePreEvent", {
        op: "refresh",
        urn: release,
        type: releaseType,
        old: releaseOld,
        new: releaseOld,
      }),
      event("resOutputsEvent", {
        op: "refresh",
        urn: release,
        type: releaseType,
        old: releaseOld,
        new: releaseLive,
        diffs: ["values"],
        detailedDiff: {
          "values.replicaCount": { diffKind: "update", inputDiff: true },
          "values.db.password": { diffKind: "update", inputDiff: true },
          "values.debug": { diffKind: "add", inputDiff: true },
        } as StepEventMetadata["detailedDiff"],
      }),
      event("resourcePreEvent", {
        op: "refresh",
        urn: secret,
        type: secretType,
        old: secretOld,
        new: secretOld,
      }),
      event("resOutputsEvent", {
        op: "refresh",
        urn: secret,
        type: secretType,
        old: secretOld,
        new: secretLive,
        diffs: ["data"],
        detailedDiff: {
          'data["token"]': { diffKind: "update", inputDiff: false },
        } as StepEventMetadata["detailedDiff"],
      }),
      event("resourcePreEvent", {
        op: "refresh",
        urn: configMap,
        type: configMapType,
        old: configMapOld,
        new: configMapOld,
      }),
      event("resOutputsEvent", {
        op: "refresh",
        urn: configMap,
        type: configMapType,
        old: configMapOld,
      }),
      event("resourcePreEvent", {
        op: "refresh",
        urn: deployment,
        type: deploymentType,
        old: deplOld,
        new: deplOld,
      }),
      event("resOutputsEvent", {
        op: "refresh",
        urn: deployment,
        type: deploymentType,
        old: deplOld,
        new: deplLive,
      }),
      event("resourcePreEvent", {
        op: "refresh",
        urn: replaced,
        type: replacedOld.type,
        old: replacedOld,
        new: replacedOld,
      }),
      event("resOutputsEvent", {
        op: "refresh",
        urn: replaced,
        type: replacedOld.type,
        old: replacedOld,
        new: replacedOld,
      }),
      // preview phase
      event("resourcePreEvent", {
        op: "update",
        urn: release,
        type: releaseType,
        old: releaseLive,
        new: releaseOld,
        diffs: ["values"],
      }),
      event("resOutputsEvent", {
        op: "update",
        urn: release,
        type: releaseType,
        old: releaseLive,
        new: releaseOld,
        diffs: ["values"],
      }),
      event("resourcePreEvent", {
        op: "same",
        urn: secret,
        type: secretType,
        old: secretLive,
        new: secretOld,
      }),
      event("resourcePreEvent", {
        op: "create",
        urn: configMap,
        type: configMapType,
        new: configMapOld,
      }),
      event("resourcePreEvent", {
        op: "same",
        urn: deployment,
        type: deploymentType,
        old: deplLive,
        new: deplLive,
      }),
      event("resourcePreEvent", {
        op: "create-replacement",
        urn: replaced,
        type: replacedOld.type,
        old: replacedOld,
        new: replacedNew,
        keys: ["spec"],
      }),
      event("resourcePreEvent", {
        op: "replace",
        urn: replaced,
        type: replacedOld.type,
        old: replacedOld,
        new: replacedNew,
        keys: ["spec"],
      }),
      event("resourcePreEvent", {
        op: "delete-replaced",
        urn: replaced,
        type: replacedOld.type,
        old: replacedOld,
      }),
    ],
  };
}

/** prod: the preview never got going. */
export function failedStack(): StackPreview {
  return {
    stack: "prod",
    error:
      "error: preview failed: scoped-cd:stages.prod.releases.storefront: upstream stack preprod has release storefront in status failed, not deployed",
  };
}
