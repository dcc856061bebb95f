// Raw requests to the API server as a kubeconfig's identity, for what client-node's typed clients
// do not send as written (JSON patch, server-side apply bodies, discovery and list paths), and the
// API server's message out of a client-node error.
import * as https from "node:https";

type ClientNode = typeof import("@kubernetes/client-node", {
  with: { "resolution-mode": "import" },
});
type KubeConfig = InstanceType<ClientNode["KubeConfig"]>;

/** Status and parsed JSON body (a body that is not JSON becomes `{ message: <text> }`). */
export interface ApiReply {
  readonly status: number;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the API server's JSON (discovery, Status, review) is untyped here
  readonly body: any;
  /** The API server's clock (its `Date` header), when it sent one. */
  readonly date?: Date;
}

export async function apiRequest(
  kc: KubeConfig,
  method: string,
  path: string,
  body?: unknown,
  contentType = "application/json",
  accept = "application/json",
): Promise<ApiReply> {
  const options: https.RequestOptions = {
    method,
    headers: { Accept: accept, ...(body ? { "Content-Type": contentType } : {}) },
  };
  await kc.applyToHTTPSOptions(options);
  const server = kc.getCurrentCluster()?.server;
  if (!server) throw new Error("the kubeconfig names no server");
  const payload = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = https.request(new URL(path, server), { ...options, timeout: 30_000 }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (text += c));
      res.on("end", () => {
        let parsed: unknown = { message: text };
        try {
          parsed = JSON.parse(text);
        } catch {
          // not JSON: keep the text as the message
        }
        const date = res.headers.date ? new Date(res.headers.date) : undefined;
        resolve({ status: res.statusCode ?? 0, body: parsed, date });
      });
    });
    req.on("timeout", () => req.destroy(new Error(`${method} ${path}: timed out after 30s`)));
    req.on("error", reject);
    if (payload) req.write(payload);
    req.end();
  });
}

/** The API server's message for a failed client-node request. */
export function apiMessage(err: unknown): string {
  const body = (err as { body?: unknown }).body;
  let parsed: unknown = body;
  if (typeof body === "string") {
    try {
      parsed = JSON.parse(body);
    } catch {
      parsed = { message: body };
    }
  }
  return (parsed as { message?: string } | undefined)?.message ?? String(err);
}
