// What the program asks the live API server with the admin credential, outside the engine: the
// credential check before anything is registered (adminProvider.ts) and the live reads that keep
// scoped-cd's own objects authoritative (authoritative.ts). One interface, so the program is
// handed the real API server by its entry point and an offline stand-in by the unit tests,
// instead of each call site guessing whether it runs under mocks.
import * as https from "node:https";
import * as pulumi from "@pulumi/pulumi";

type ClientNode = typeof import("@kubernetes/client-node", {
  with: { "resolution-mode": "import" },
});
export type KubeConfig = InstanceType<ClientNode["KubeConfig"]>;

export interface LiveObject {
  readonly metadata?: {
    readonly name?: string;
    readonly namespace?: string;
    readonly annotations?: Record<string, string>;
  };
  readonly [field: string]: unknown;
}

export interface LiveRef {
  readonly apiVersion: string;
  readonly kind: string;
  readonly name: string;
  readonly namespace?: string;
}

/** What the admin credential must be allowed to do, and whom to name when it is not. */
export interface AdminCredentialCheck {
  readonly files: readonly string[];
  readonly mode: string;
}

export interface LiveCluster {
  /** Fail (RunError) unless the admin kubeconfig authenticates and may write the access layer. */
  checkAdminCredential(kc: KubeConfig, check: AdminCredentialCheck): Promise<void>;
  /** The object as raw JSON, read with the admin kubeconfig; undefined when it does not exist. */
  read(kc: KubeConfig, ref: LiveRef): Promise<LiveObject | undefined>;
}

/** The REST resource of each kind the live reads ask for. */
const RESOURCES: Record<string, string> = {
  ResourceQuota: "resourcequotas",
  LimitRange: "limitranges",
  NetworkPolicy: "networkpolicies",
  Role: "roles",
  RoleBinding: "rolebindings",
  ValidatingAdmissionPolicy: "validatingadmissionpolicies",
  ValidatingAdmissionPolicyBinding: "validatingadmissionpolicybindings",
};

/**
 * One pool of kept-alive connections for every live read of a run: a fresh TLS handshake
 * (client certificate, on both ends) for each read was a visible share of an access stack's `up`
 * when each object was a GET of its own (bench/, docs/performance.md). The pool is
 * keyed by the TLS options the request carries (CA, client certificate), so a connection is only
 * ever reused with the same ones; headers (a token, an exec plugin's) are still applied per read.
 * A kubeconfig with a proxy keeps client-node's own agent. Idle sockets do not keep the program
 * alive (Node unrefs them in the pool), and a few sockets at a time are plenty for these reads.
 */
const liveReadAgent = new https.Agent({ keepAlive: true, maxSockets: 4, timeout: 15_000 });

/** GET a path of the API server as raw JSON with the admin kubeconfig, over the shared pool. */
async function getJson(
  kc: KubeConfig,
  pathAndQuery: string,
  what: string,
): Promise<{ status: number; body: string }> {
  const url = new URL(pathAndQuery, kc.getCurrentCluster()?.server);
  const options: https.RequestOptions = { method: "GET", headers: { Accept: "application/json" } };
  await kc.applyToHTTPSOptions(options);
  // client-node made a one-off agent for these options; without a proxy, pool the connection.
  if (!kc.getCurrentCluster()?.proxyUrl) options.agent = liveReadAgent;
  return new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = https.request(url, { ...options, timeout: 15_000 }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => (text += chunk));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    req.on("timeout", () => req.destroy(new Error("timed out")));
    req.on("error", reject);
    req.end();
  }).catch((err: Error) => {
    throw new pulumi.RunError(
      `cannot read ${what} with the admin kubeconfig to check it for drift: ${err.message}`,
    );
  });
}

function collectionPath(apiVersion: string, kind: string, namespace?: string): string {
  const resource = RESOURCES[kind];
  if (!resource) throw new Error(`live read of kind ${kind}: no REST resource known for it`);
  return (
    (apiVersion === "v1" ? "/api/v1" : `/apis/${apiVersion}`) +
    (namespace ? `/namespaces/${namespace}` : "") +
    `/${resource}`
  );
}

/**
 * GET the object as raw JSON (client-node's typed models rename fields such as `default` and
 * `from`, which would read as surplus). Undefined when it does not exist.
 */
export async function getLiveObject(kc: KubeConfig, ref: LiveRef): Promise<LiveObject | undefined> {
  const what = `${ref.kind} ${ref.namespace ? `${ref.namespace}/` : ""}${ref.name}`;
  const { status, body } = await getJson(
    kc,
    `${collectionPath(ref.apiVersion, ref.kind, ref.namespace)}/${ref.name}`,
    what,
  );
  if (status === 404) return undefined;
  if (status !== 200) {
    throw new pulumi.RunError(
      `cannot read ${what} with the admin kubeconfig to check it for drift: HTTP ${status}`,
    );
  }
  return JSON.parse(body) as LiveObject;
}

/** Objects of one kind, listed cluster-wide; `undefined` when the credential may not list them. */
export type KindLister = (
  kc: KubeConfig,
  apiVersion: string,
  kind: string,
) => Promise<readonly LiveObject[] | undefined>;

/** Pages of a list: a bounded response each, however many objects the cluster holds. */
const LIST_PAGE = 500;

/** Every object of a kind in the cluster, as raw JSON (paged); undefined on 403. */
export const listLiveObjects: KindLister = async (kc, apiVersion, kind) => {
  const what = `every ${kind}`;
  const items: LiveObject[] = [];
  let next = "";
  do {
    const query = `?limit=${LIST_PAGE}${next ? `&continue=${encodeURIComponent(next)}` : ""}`;
    const { status, body } = await getJson(kc, collectionPath(apiVersion, kind) + query, what);
    if (status === 403) return undefined;
    if (status !== 200) {
      throw new pulumi.RunError(
        `cannot list ${what} with the admin kubeconfig to check them for drift: HTTP ${status}`,
      );
    }
    const page = JSON.parse(body) as {
      items?: LiveObject[];
      metadata?: { continue?: string };
    };
    // A list's items carry no kind and apiVersion; the object a GET returns does.
    for (const item of page.items ?? []) items.push({ apiVersion, kind, ...item });
    next = page.metadata?.continue ?? "";
  } while (next);
  return items;
};

/**
 * Live reads answered from one list per kind: a stage has nine authoritative objects, so a
 * 100-stage access layer made 900 GETs (each a quorum read in etcd) where seven lists do
 * (issue 20, docs/performance.md). A kind is listed on its first read, cluster-wide and without
 * a label selector (a label someone removed must not hide an object), once per kubeconfig and
 * run; all reads of a program run are made while it registers, before anything is written.
 * Where the credential may not list a kind (403), its reads fall back to one GET each.
 */
export function readsByKind(
  list: KindLister = listLiveObjects,
  get: (kc: KubeConfig, ref: LiveRef) => Promise<LiveObject | undefined> = getLiveObject,
): (kc: KubeConfig, ref: LiveRef) => Promise<LiveObject | undefined> {
  const listed = new WeakMap<
    KubeConfig,
    Map<string, Promise<Map<string, LiveObject> | undefined>>
  >();
  const keyOf = (namespace: string | undefined, name: string) => `${namespace ?? ""}/${name}`;
  return async (kc, ref) => {
    let byKind = listed.get(kc);
    if (!byKind) listed.set(kc, (byKind = new Map()));
    const kindKey = `${ref.apiVersion}/${ref.kind}`;
    let objects = byKind.get(kindKey);
    if (!objects) {
      objects = list(kc, ref.apiVersion, ref.kind).then((items) => {
        if (!items) return undefined;
        return new Map(items.map((o) => [keyOf(o.metadata?.namespace, o.metadata?.name ?? ""), o]));
      });
      byKind.set(kindKey, objects);
    }
    const found = await objects;
    if (!found) return get(kc, ref);
    return found.get(keyOf(ref.namespace, ref.name));
  };
}
