// Revocation that cannot be stalled, second line (the first is the `access` admission policy,
// policy/admission.ts, which refuses CI every finalizer and every write to the access layer's
// objects). Two Pulumi dynamic providers, both acting only when the engine deletes them:
//
// - IdentityDeletion: one per identity object (the deployer's and Tiller's ServiceAccounts, the
//   legacy token Secret). It depends on its object, so the engine deletes it first, on a rotation
//   (it is replaced with its object) and on a destroy. Its delete deletes the object in the
//   background, removes every finalizer on it (once deletion has started the API server admits no
//   new finalizer, so what is removed stays removed) and waits, at most IDENTITY_DELETE_SECONDS,
//   for the object to be gone. The Kubernetes provider's own delete then finds nothing to wait for.
// - StageTeardown: one per deletable stage. Its delete removes the finalizers that are not
//   Kubernetes' own from every object of the namespace (after a short grace for the cluster's
//   controllers), then, in an access stack, deletes the namespace and repeats until it is gone.
//
// Both say what they removed on stderr, which the engine shows in the `up`/`destroy` output under
// the resource. The admin credential is read at run time from KUBECONFIG and the context, as the
// TokenRequest provider reads it: nothing of it is an input or in the state. The code is
// serialized into the state: self-contained, modules required inside the functions.
/* eslint-disable @typescript-eslint/no-explicit-any -- untyped API JSON in serialized code */
import type * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import {
  foreignFinalizers,
  IDENTITY_DELETE_SECONDS,
  identityFinalizers,
  TEARDOWN_GRACE_SECONDS,
  TEARDOWN_SECONDS,
} from "../../policy/revocation";

// Captured by value when the providers are serialized.
const foreign = foreignFinalizers;
const identity = identityFinalizers;

interface Response {
  status: number;
  body: any;
}

/**
 * One request with the admin credential (KUBECONFIG, `context`), raw JSON in and out: client-node's
 * typed clients cannot list arbitrary kinds. Never logs a body.
 */
async function adminRequest(
  context: string | undefined,
  method: string,
  path: string,
  body?: unknown,
  contentType = "application/json",
): Promise<Response> {
  const k8s = require("@kubernetes/client-node"); // eslint-disable-line @typescript-eslint/no-require-imports
  const https = require("node:https"); // eslint-disable-line @typescript-eslint/no-require-imports
  const kc = new k8s.KubeConfig();
  kc.loadFromDefault();
  if (context) kc.setCurrentContext(context);
  const options: any = {
    method,
    headers: { Accept: "application/json", "Content-Type": contentType },
  };
  await kc.applyToHTTPSOptions(options);
  const url = new URL(path, kc.getCurrentCluster().server);
  const payload = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = https.request(url, { ...options, timeout: 15_000 }, (res: any) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (text += c));
      res.on("end", () => {
        let parsed: unknown = text;
        try {
          parsed = JSON.parse(text);
        } catch {
          // not JSON
        }
        resolve({ status: res.statusCode ?? 0, body: parsed });
      });
    });
    req.on("timeout", () => req.destroy(new Error(`${method} ${path}: timed out`)));
    req.on("error", reject);
    if (payload) req.write(payload);
    req.end();
  });
}

function failed(what: string, res: Response): Error {
  const message = typeof res.body === "object" && res.body ? res.body.message : "";
  return new Error(`${what}: HTTP ${res.status}${message ? `: ${message}` : ""}`);
}

/** A line in the engine's output (the engine shows a provider's stderr under the resource). */
function say(line: string): void {
  process.stderr.write(`scoped-cd: ${line}\n`);
}

/**
 * Replace the object's finalizers by `keep`, guarded by its resourceVersion (a concurrent change
 * makes the patch fail with 409 and the caller read again).
 */
async function setFinalizers(
  context: string | undefined,
  path: string,
  live: any,
  keep: string[],
): Promise<number> {
  const res = await adminRequest(
    context,
    "PATCH",
    path,
    { metadata: { finalizers: keep, resourceVersion: live.metadata.resourceVersion } },
    "application/merge-patch+json",
  );
  return res.status;
}

export interface IdentityDeletionInputs {
  /** API path of the object, e.g. /api/v1/namespaces/<ns>/serviceaccounts/<name>. */
  readonly path: string;
  /** `ServiceAccount ns/name`, for messages. */
  readonly description: string;
  readonly context?: string;
  readonly waitSeconds: number;
}

/** Delete an identity object whatever finalizers it carries; bounded by `waitSeconds`. */
async function deleteIdentity(inputs: IdentityDeletionInputs): Promise<void> {
  const { path, description, context } = inputs;
  const started = Date.now();
  const first = await adminRequest(context, "GET", path);
  if (first.status === 404) return;
  if (first.status !== 200) throw failed(`read ${description}`, first);
  if (!first.body.metadata?.deletionTimestamp) {
    const del = await adminRequest(context, "DELETE", path, {
      apiVersion: "v1",
      kind: "DeleteOptions",
      propagationPolicy: "Background",
    });
    if (del.status === 404) return;
    if (del.status !== 200 && del.status !== 202) throw failed(`delete ${description}`, del);
  }
  for (;;) {
    const live = await adminRequest(context, "GET", path);
    if (live.status === 404) return;
    if (live.status !== 200) throw failed(`read ${description}`, live);
    const remove = identity(live.body.metadata?.finalizers);
    if (remove.length > 0) {
      const status = await setFinalizers(context, path, live.body, []);
      if (status === 200) {
        say(
          `removed foreign finalizer(s) ${remove.join(", ")} from ${description} so that its deletion (the revocation) completes`,
        );
      } else if (status !== 409 && status !== 404) {
        throw new Error(`remove the finalizers of ${description}: HTTP ${status}`);
      }
    }
    if (Date.now() - started > inputs.waitSeconds * 1000) {
      throw new Error(
        `${description} still exists ${inputs.waitSeconds}s after its deletion started (finalizers: ${(live.body.metadata?.finalizers ?? []).join(", ") || "none"}); delete it with the admin credential and rerun`,
      );
    }
    await new Promise((r) => setTimeout(r, 500));
  }
}

const identityDeletionProvider: pulumi.dynamic.ResourceProvider = {
  async create(inputs: IdentityDeletionInputs) {
    return { id: inputs.path, outs: inputs };
  },
  async diff(_id: string, olds: IdentityDeletionInputs, news: IdentityDeletionInputs) {
    // Replaced exactly when the guarded object is (its path changes): the old guard goes first.
    const replaces = olds.path !== news.path ? ["path"] : [];
    const changes =
      replaces.length > 0 ||
      olds.context !== news.context ||
      olds.waitSeconds !== news.waitSeconds ||
      olds.description !== news.description;
    return { changes, replaces, deleteBeforeReplace: true };
  },
  async update(_id: string, _olds: IdentityDeletionInputs, news: IdentityDeletionInputs) {
    return { outs: news };
  },
  async delete(_id: string, props: IdentityDeletionInputs) {
    await deleteIdentity(props);
  },
};

/** Which object an IdentityDeletion guards. */
export interface IdentityRef {
  readonly kind: "ServiceAccount" | "Secret";
  readonly namespace: pulumi.Input<string>;
  readonly name: pulumi.Input<string>;
}

const RESOURCE_OF: Record<IdentityRef["kind"], string> = {
  ServiceAccount: "serviceaccounts",
  Secret: "secrets",
};

/**
 * Guards one identity object: depends on it (the engine deletes the guard first), and on deletion
 * deletes the object itself, removing every finalizer, within IDENTITY_DELETE_SECONDS.
 */
export class IdentityDeletion extends pulumi.dynamic.Resource {
  constructor(
    name: string,
    args: { ref: IdentityRef; context?: string },
    opts: pulumi.CustomResourceOptions,
  ) {
    const { kind, namespace, name: objectName } = args.ref;
    super(
      identityDeletionProvider,
      name,
      {
        path: pulumi.interpolate`/api/v1/namespaces/${namespace}/${RESOURCE_OF[kind]}/${objectName}`,
        description: pulumi.interpolate`${kind} ${namespace}/${objectName}`,
        context: args.context,
        waitSeconds: IDENTITY_DELETE_SECONDS,
      },
      opts,
      "scoped-cd",
      "IdentityDeletion",
    );
  }
}

/**
 * The guard of a ServiceAccount the access layer owns (the deployer's, Tiller's), named
 * `<name>-sa-deletion` and parented like it: deleted, finalizers stripped, before the account.
 */
export function guardServiceAccount(
  name: string,
  serviceAccount: k8s.core.v1.ServiceAccount,
  args: { namespace: pulumi.Input<string>; adminContext?: string },
  parent: pulumi.Resource,
): IdentityDeletion {
  return new IdentityDeletion(
    `${name}-sa-deletion`,
    {
      ref: {
        kind: "ServiceAccount",
        namespace: args.namespace,
        name: serviceAccount.metadata.name,
      },
      context: args.adminContext,
    },
    { parent, dependsOn: [serviceAccount] },
  );
}

export interface StageTeardownInputs {
  readonly namespace: string;
  readonly context?: string;
  /** Access stacks: delete the namespace too and wait for it (all mode: the Namespace resource does). */
  readonly deleteNamespace: boolean;
  readonly graceSeconds: number;
  readonly waitSeconds: number;
}

/** Every namespaced kind the admin may list: [list path of the namespace, kind]. */
async function namespacedKinds(context: string | undefined, namespace: string) {
  const out: { path: string; kind: string }[] = [];
  const versions: string[] = ["/api/v1"];
  const groups = await adminRequest(context, "GET", "/apis");
  if (groups.status !== 200) throw failed("discover the API groups", groups);
  for (const g of groups.body.groups ?? []) {
    if (g.preferredVersion?.groupVersion) versions.push(`/apis/${g.preferredVersion.groupVersion}`);
  }
  for (const base of versions) {
    const res = await adminRequest(context, "GET", base);
    if (res.status !== 200) continue; // an aggregated API that is down: nothing of it to wait for
    for (const r of res.body.resources ?? []) {
      if (!r.namespaced || r.name.includes("/") || !(r.verbs ?? []).includes("list")) continue;
      if (r.kind === "Event") continue;
      out.push({ path: `${base}/namespaces/${namespace}/${r.name}`, kind: r.kind });
    }
  }
  return out;
}

/** One pass: remove foreign finalizers from every object of the namespace; how many remain. */
async function stripNamespace(inputs: StageTeardownInputs, strip: boolean): Promise<number> {
  let waiting = 0;
  for (const { path, kind } of await namespacedKinds(inputs.context, inputs.namespace)) {
    const list = await adminRequest(inputs.context, "GET", path);
    if (list.status !== 200) continue;
    for (const item of list.body.items ?? []) {
      const finalizers: string[] = item.metadata?.finalizers ?? [];
      const remove = foreign(finalizers);
      if (remove.length === 0) continue;
      if (!strip) {
        waiting++;
        continue;
      }
      const keep = finalizers.filter((f) => !remove.includes(f));
      const status = await setFinalizers(
        inputs.context,
        `${path}/${item.metadata.name}`,
        { metadata: { resourceVersion: item.metadata.resourceVersion } },
        keep,
      );
      if (status === 200) {
        say(
          `teardown of namespace ${inputs.namespace}: removed foreign finalizer(s) ${remove.join(", ")} from ${kind} ${item.metadata.name}`,
        );
      } else if (status !== 404) waiting++;
    }
  }
  return waiting;
}

async function teardown(inputs: StageTeardownInputs): Promise<void> {
  const started = Date.now();
  const nsPath = `/api/v1/namespaces/${inputs.namespace}`;
  const ns = await adminRequest(inputs.context, "GET", nsPath);
  if (ns.status === 404) return;
  if (inputs.deleteNamespace && !ns.body?.metadata?.deletionTimestamp) {
    const del = await adminRequest(inputs.context, "DELETE", nsPath);
    if (![200, 202, 404].includes(del.status))
      throw failed(`delete namespace ${inputs.namespace}`, del);
  }
  // The cluster's controllers (and operators outside the namespace) get a grace to remove their
  // own finalizers; after it, what is still foreign is removed.
  for (;;) {
    const elapsed = (Date.now() - started) / 1000;
    const waiting = await stripNamespace(inputs, elapsed >= inputs.graceSeconds);
    if (!inputs.deleteNamespace) {
      if (waiting === 0) return;
    } else if ((await adminRequest(inputs.context, "GET", nsPath)).status === 404) return;
    if (elapsed > inputs.waitSeconds) {
      throw new Error(
        `namespace ${inputs.namespace} is not torn down ${inputs.waitSeconds}s after the teardown started; see kubectl get namespace ${inputs.namespace} -o yaml (status.conditions)`,
      );
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
}

const stageTeardownProvider: pulumi.dynamic.ResourceProvider = {
  async create(inputs: StageTeardownInputs) {
    return { id: inputs.namespace, outs: inputs };
  },
  async diff(_id: string, olds: StageTeardownInputs, news: StageTeardownInputs) {
    const replaces = olds.namespace !== news.namespace ? ["namespace"] : [];
    const changes = replaces.length > 0 || JSON.stringify(olds) !== JSON.stringify(news);
    return { changes, replaces, deleteBeforeReplace: true };
  },
  async update(_id: string, _olds: StageTeardownInputs, news: StageTeardownInputs) {
    return { outs: news };
  },
  async delete(_id: string, props: StageTeardownInputs) {
    await teardown(props);
  },
};

/**
 * The teardown of a deletable stage: deleted by the engine before the namespace (and, in `all`
 * mode, before the releases, whose atomic uninstall waits for every object to be gone).
 */
export class StageTeardown extends pulumi.dynamic.Resource {
  constructor(
    name: string,
    args: { namespace: pulumi.Input<string>; context?: string; deleteNamespace: boolean },
    opts: pulumi.CustomResourceOptions,
  ) {
    super(
      stageTeardownProvider,
      name,
      {
        namespace: args.namespace,
        context: args.context,
        deleteNamespace: args.deleteNamespace,
        // Before the releases (all mode) nothing is being deleted yet: no controller to wait for.
        graceSeconds: args.deleteNamespace ? TEARDOWN_GRACE_SECONDS : 0,
        waitSeconds: TEARDOWN_SECONDS,
      },
      opts,
      "scoped-cd",
      "StageTeardown",
    );
  }
}
