// Makes `pulumi up` undo what the Kubernetes provider's refresh cannot see on the objects
// scoped-cd alone owns: entries appended to a declared list, selectors added where none is
// declared (policy/surplus.ts). Before registering such an object, the program reads it live with
// the admin kubeconfig; when it carries a surplus, a new reconcile token goes into an annotation,
// so the engine sees an input change and the forced server-side apply (`pulumi.com/patchForce`)
// writes the declared lists whole again (Kubernetes lists without a merge key are atomic under
// server-side apply). Without a surplus the live token is kept, so a clean stack shows no change.
import * as crypto from "node:crypto";
import * as https from "node:https";
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

/** The REST resource of each kind this module reads. */
const RESOURCES: Record<string, string> = {
  ResourceQuota: "resourcequotas",
  LimitRange: "limitranges",
  NetworkPolicy: "networkpolicies",
  Role: "roles",
  RoleBinding: "rolebindings",
  ValidatingAdmissionPolicy: "validatingadmissionpolicies",
  ValidatingAdmissionPolicyBinding: "validatingadmissionpolicybindings",
};

type ClientNode = typeof import("@kubernetes/client-node", {
  with: { "resolution-mode": "import" },
});
type KubeConfig = InstanceType<ClientNode["KubeConfig"]>;
let adminConfig: Promise<KubeConfig> | undefined;

/**
 * One pool of kept-alive connections for every live read of a run: a stage has a dozen
 * authoritative objects, and a fresh TLS handshake (client certificate, on both ends) for each
 * read was a visible share of an access stack's `up` (bench/, docs/performance.md). The pool is
 * keyed by the TLS options the request carries (CA, client certificate), so a connection is only
 * ever reused with the same ones; headers (a token, an exec plugin's) are still applied per read.
 * A kubeconfig with a proxy keeps client-node's own agent. Idle sockets do not keep the program
 * alive (Node unrefs them in the pool), and a few sockets at a time are plenty for short GETs.
 */
const liveReadAgent = new https.Agent({ keepAlive: true, maxSockets: 4, timeout: 15_000 });

/** The admin kubeconfig, as the admin provider reads it (KUBECONFIG, `cluster.context`). */
function adminKubeConfig(): Promise<KubeConfig> {
  adminConfig ??= (async () => {
    const k = await import("@kubernetes/client-node");
    const kc = new k.KubeConfig();
    kc.loadFromDefault();
    const context = new pulumi.Config("scoped-cd").getObject<{ context?: string }>(
      "cluster",
    )?.context;
    if (context) kc.setCurrentContext(context);
    return kc;
  })();
  return adminConfig;
}

/**
 * GET the object as raw JSON (client-node's typed models rename fields such as `default` and
 * `from`, which would read as surplus). Undefined when it does not exist.
 */
async function readLive(ref: {
  apiVersion: string;
  kind: string;
  name: string;
  namespace?: string;
}): Promise<LiveObject | undefined> {
  const kc = await adminKubeConfig();
  const server = kc.getCurrentCluster()?.server;
  const url = new URL(
    (ref.apiVersion === "v1" ? "/api/v1" : `/apis/${ref.apiVersion}`) +
      (ref.namespace ? `/namespaces/${ref.namespace}` : "") +
      `/${RESOURCES[ref.kind]}/${ref.name}`,
    server,
  );
  const options: https.RequestOptions = { method: "GET", headers: { Accept: "application/json" } };
  await kc.applyToHTTPSOptions(options);
  // client-node made a one-off agent for these options; without a proxy, pool the connection.
  if (!kc.getCurrentCluster()?.proxyUrl) options.agent = liveReadAgent;
  const what = `${ref.kind} ${ref.namespace ? `${ref.namespace}/` : ""}${ref.name}`;
  const { status, body } = await new Promise<{ status: number; body: string }>(
    (resolve, reject) => {
      const req = https.request(url, { ...options, timeout: 15_000 }, (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => (text += chunk));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text }));
      });
      req.on("timeout", () => req.destroy(new Error("timed out")));
      req.on("error", reject);
      req.end();
    },
  ).catch((err: Error) => {
    throw new pulumi.RunError(
      `cannot read ${what} with the admin kubeconfig to check it for drift: ${err.message}`,
    );
  });
  if (status === 404) return undefined;
  if (status !== 200) {
    throw new pulumi.RunError(
      `cannot read ${what} with the admin kubeconfig to check it for drift: HTTP ${status}`,
    );
  }
  return JSON.parse(body) as LiveObject;
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
