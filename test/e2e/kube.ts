// Talking to the local API server from tests with @kubernetes/client-node (an ES module, loaded
// on demand from this CommonJS code).
import * as fs from "node:fs";
import * as https from "node:https";

type ClientNode = typeof import("@kubernetes/client-node", {
  with: { "resolution-mode": "import" },
});
let clientNode: Promise<ClientNode> | undefined;
export const loadClientNode = () => (clientNode ??= import("@kubernetes/client-node"));

export interface Clients {
  readonly kc: InstanceType<ClientNode["KubeConfig"]>;
  readonly core: InstanceType<ClientNode["CoreV1Api"]>;
  readonly apps: InstanceType<ClientNode["AppsV1Api"]>;
  readonly rbac: InstanceType<ClientNode["RbacAuthorizationV1Api"]>;
  readonly authz: InstanceType<ClientNode["AuthorizationV1Api"]>;
  readonly objects: InstanceType<ClientNode["KubernetesObjectApi"]>;
}

/** API clients for a kubeconfig given as YAML text. */
export async function clientsFor(kubeconfigYaml: string): Promise<Clients> {
  const k = await loadClientNode();
  const kc = new k.KubeConfig();
  kc.loadFromString(kubeconfigYaml);
  return {
    kc,
    core: kc.makeApiClient(k.CoreV1Api),
    apps: kc.makeApiClient(k.AppsV1Api),
    rbac: kc.makeApiClient(k.RbacAuthorizationV1Api),
    authz: kc.makeApiClient(k.AuthorizationV1Api),
    objects: k.KubernetesObjectApi.makeApiClient(kc),
  };
}

/** API clients for the admin kubeconfig file (KUBECONFIG). */
export async function adminClients(): Promise<Clients> {
  const file = process.env.KUBECONFIG;
  if (!file) throw new Error("KUBECONFIG is not set: run through hack/e2e.sh");
  return clientsFor(fs.readFileSync(file, "utf8"));
}

/** The HTTP status of a failed request, or 0 if it succeeded. */
export async function statusOf(request: Promise<unknown>): Promise<number> {
  try {
    await request;
    return 0;
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (typeof code === "number") return code;
    throw err;
  }
}

/** The message of a failed request (the API server's Status message), or "" on success. */
export async function messageOf(request: Promise<unknown>): Promise<string> {
  try {
    await request;
    return "";
  } catch (err) {
    const body = (err as { body?: unknown }).body;
    const parsed = typeof body === "string" ? safeJson(body) : body;
    const message = (parsed as { message?: string } | undefined)?.message;
    return message ?? String(err);
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return { message: text };
  }
}

/** Ask the API server whether the kubeconfig's identity may do something (SelfSubjectAccessReview). */
export async function canI(
  clients: Clients,
  attrs: {
    verb: string;
    resource: string;
    group?: string;
    subresource?: string;
    namespace?: string;
    name?: string;
  },
): Promise<boolean> {
  const review = await clients.authz.createSelfSubjectAccessReview({
    body: {
      apiVersion: "authorization.k8s.io/v1",
      kind: "SelfSubjectAccessReview",
      spec: { resourceAttributes: { ...attrs, group: attrs.group ?? "" } },
    },
  });
  return review.status?.allowed === true;
}

/** The bearer token of a kubeconfig's current user (client-node parses it, no regex). */
export async function tokenOf(kubeconfigYaml: string): Promise<string> {
  const k = await loadClientNode();
  const kc = new k.KubeConfig();
  kc.loadFromString(kubeconfigYaml);
  const token = kc.getCurrentUser()?.token;
  if (!token) throw new Error("the kubeconfig's current user has no token");
  return token;
}

/** Where a raw request goes: the API server and the CA it is trusted with. */
export interface ApiEndpoint {
  readonly server: string;
  readonly ca: Buffer;
}

/**
 * One request with a bearer token, on a fresh connection (no agent): client-node reuses
 * connections and caches, which could hide a revocation. Resolves with the status and the body
 * (parsed when it is JSON).
 */
export function bearerRequest(
  api: ApiEndpoint,
  token: string,
  method: string,
  path: string,
  body?: unknown,
  /** Extra or overriding headers (a patch type's Content-Type, a User-Agent). */
  headers: Record<string, string> = {},
): Promise<{ status: number; body: any }> {
  const payload = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = https.request(
      new URL(api.server + path),
      {
        method,
        ca: api.ca,
        agent: false,
        timeout: 15_000,
        headers: {
          Authorization: `Bearer ${token}`,
          "Content-Type": "application/json",
          Accept: "application/json",
          ...headers,
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          let parsed: unknown = text;
          try {
            parsed = JSON.parse(text);
          } catch {
            // not JSON: keep the text
          }
          resolve({ status: res.statusCode ?? 0, body: parsed });
        });
      },
    );
    req.on("timeout", () => req.destroy(new Error("timed out")));
    req.on("error", reject);
    if (payload) req.write(payload);
    req.end();
  });
}

/** SelfSubjectReview with a bearer token on a fresh connection: 201 while the token is valid. */
export function whoAmI(api: ApiEndpoint, token: string): Promise<{ status: number; body: any }> {
  return bearerRequest(api, token, "POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews", {
    apiVersion: "authentication.k8s.io/v1",
    kind: "SelfSubjectReview",
  });
}
