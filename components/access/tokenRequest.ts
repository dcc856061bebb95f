// An expiring deployer token minted through the TokenRequest API (`serviceaccounts/token`), which
// the Kubernetes provider does not offer as a resource: a Pulumi dynamic provider.
//
// Each token is bound (`boundObjectRef`) to an Opaque Secret that this provider creates next to
// it; deleting that Secret revokes the token at once (within the API server's ~10 s authentication
// cache). An `up` after `renewAfter` of the lifetime mints a new token and keeps the previous one
// (and its binding Secret) for the overlap; the one before it is revoked then. Replacing the
// resource (rotation: a new ServiceAccount) deletes every binding Secret of the old one.
//
// The admin credential is read at run time from KUBECONFIG (or ~/.kube/config) and the given
// context, exactly as the admin provider reads it: nothing of it is an input, so nothing of it is
// stored in the state, not even encrypted. The code below is serialized into the state and run by
// the engine's `pulumi-resource-pulumi-nodejs` plugin: it is self-contained (modules are required
// inside the functions) and never logs or throws anything that holds the token.
/* eslint-disable @typescript-eslint/no-explicit-any -- the API server's JSON and the kubeconfig are untyped here: this code is serialized into the state and may import no types */
import * as pulumi from "@pulumi/pulumi";
import { renewalDecision } from "../../policy/credentials";

export interface TokenRequestArgs {
  /** The namespace of the ServiceAccount. */
  readonly namespace: pulumi.Input<string>;
  /** The ServiceAccount the token authenticates as. */
  readonly serviceAccountName: pulumi.Input<string>;
  /** Requested lifetime in seconds (>= 600). */
  readonly lifetimeSeconds: pulumi.Input<number>;
  /** Share of the lifetime after which an `up` renews the token, in (0, 1). */
  readonly renewAfter: pulumi.Input<number>;
  /** The admin kubeconfig context (`cluster.context`); default: the current one. */
  readonly context?: pulumi.Input<string | undefined>;
  /** Labels of the binding Secrets. */
  readonly labels: pulumi.Input<Record<string, string>>;
}

/** What the provider stores (inputs plus these outputs). */
interface TokenState {
  namespace: string;
  serviceAccountName: string;
  lifetimeSeconds: number;
  renewAfter: number;
  context?: string;
  labels: Record<string, string>;
  token: string;
  caData: string;
  bindingName: string;
  previousBindingName?: string;
  issuedAt: number;
  expiresAtEpoch: number;
  expiresAt: string;
  credentialId: string;
}

type Inputs = Pick<
  TokenState,
  "namespace" | "serviceAccountName" | "lifetimeSeconds" | "renewAfter" | "context" | "labels"
>;

// Captured by value when the provider is serialized (a plain function, no closures).
const decideRenewal = renewalDecision;

/** One request to the API server with the admin credential of KUBECONFIG and `context`. */
async function adminRequest(
  context: string | undefined,
  method: string,
  apiPath: string,
  body?: unknown,
  contentType = "application/json",
): Promise<{ status: number; body: any }> {
  const fs = require("node:fs"); // eslint-disable-line @typescript-eslint/no-require-imports
  const os = require("node:os"); // eslint-disable-line @typescript-eslint/no-require-imports
  const path = require("node:path"); // eslint-disable-line @typescript-eslint/no-require-imports
  const https = require("node:https"); // eslint-disable-line @typescript-eslint/no-require-imports
  const yaml = require("js-yaml"); // eslint-disable-line @typescript-eslint/no-require-imports

  const files = (process.env.KUBECONFIG ?? "")
    .split(path.delimiter)
    .filter((f: string) => f.length > 0);
  if (files.length === 0) files.push(path.join(os.homedir(), ".kube", "config"));
  const named = { clusters: new Map(), users: new Map(), contexts: new Map() };
  let current: string | undefined;
  const base = new Map<unknown, string>();
  for (const file of files) {
    if (!fs.existsSync(file)) continue;
    const doc = yaml.load(fs.readFileSync(file, "utf8")) ?? {};
    current ??= doc["current-context"] || undefined;
    for (const kind of ["clusters", "users", "contexts"] as const) {
      for (const entry of doc[kind] ?? []) {
        if (!named[kind].has(entry.name)) {
          const value = entry[kind.slice(0, -1)] ?? {};
          named[kind].set(entry.name, value);
          base.set(value, path.dirname(path.resolve(file)));
        }
      }
    }
  }
  const ctxName = context ?? current;
  const ctx = named.contexts.get(ctxName);
  if (!ctx) {
    throw new Error(
      `the admin kubeconfig (${files.join(", ")}) has no context ${ctxName ?? "(none is current)"}: set KUBECONFIG to the operators' admin kubeconfig`,
    );
  }
  const cluster = named.clusters.get(ctx.cluster) ?? {};
  const user = named.users.get(ctx.user) ?? {};
  const read = (entry: object, file: string) =>
    fs.readFileSync(path.resolve(base.get(entry) ?? ".", file));
  if (user.exec || user["auth-provider"]) {
    throw new Error(
      "the admin kubeconfig's user uses an exec or auth-provider plugin, which the TokenRequest provider does not run; use a context with a client certificate or a token",
    );
  }
  const options: Record<string, unknown> = { method, headers: { Accept: "application/json" } };
  const headers = options.headers as Record<string, string>;
  if (cluster["certificate-authority-data"]) {
    options.ca = Buffer.from(cluster["certificate-authority-data"], "base64");
  } else if (cluster["certificate-authority"]) {
    options.ca = read(cluster, cluster["certificate-authority"]);
  }
  if (cluster["insecure-skip-tls-verify"]) options.rejectUnauthorized = false;
  if (cluster["tls-server-name"]) options.servername = cluster["tls-server-name"];
  if (user["client-certificate-data"]) {
    options.cert = Buffer.from(user["client-certificate-data"], "base64");
  } else if (user["client-certificate"]) {
    options.cert = read(user, user["client-certificate"]);
  }
  if (user["client-key-data"]) options.key = Buffer.from(user["client-key-data"], "base64");
  else if (user["client-key"]) options.key = read(user, user["client-key"]);
  const bearer =
    user.token ?? (user.tokenFile ? String(read(user, user.tokenFile)).trim() : undefined);
  if (bearer) headers.Authorization = `Bearer ${bearer}`;
  const payload = body === undefined ? undefined : JSON.stringify(body);
  if (payload !== undefined) {
    headers["Content-Type"] = contentType;
    headers["Content-Length"] = String(Buffer.byteLength(payload));
  }
  const url = new URL(String(cluster.server ?? "").replace(/\/+$/, "") + apiPath);
  return new Promise((resolve, reject) => {
    const req = https.request(url, { ...options, timeout: 30_000 }, (res: any) => {
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
        resolve({ status: res.statusCode, body: parsed });
      });
    });
    req.on("timeout", () => req.destroy(new Error(`${method} ${apiPath}: timed out`)));
    req.on("error", (err: Error) => reject(new Error(`${method} ${apiPath}: ${err.message}`)));
    if (payload !== undefined) req.write(payload);
    req.end();
  });
}

/** Fail with the API server's message (never the request body, which may hold a token). */
function check(res: { status: number; body: any }, what: string, ok: number[] = [200, 201]) {
  if (!ok.includes(res.status)) {
    const message =
      typeof res.body === "object" ? res.body?.message : String(res.body).slice(0, 200);
    throw new Error(`${what}: HTTP ${res.status}: ${message ?? ""}`);
  }
  return res.body;
}

async function deleteBinding(context: string | undefined, namespace: string, name?: string) {
  if (!name) return;
  const res = await adminRequest(
    context,
    "DELETE",
    `/api/v1/namespaces/${namespace}/secrets/${name}`,
    { apiVersion: "v1", kind: "DeleteOptions", propagationPolicy: "Background" },
  );
  check(res, `delete the token binding Secret ${namespace}/${name}`, [200, 202, 404]);
}

/** Create a binding Secret and a token bound to it; return the new state's outputs. */
async function mint(inputs: Inputs): Promise<Omit<TokenState, keyof Inputs>> {
  const ns = inputs.namespace;
  const sa = inputs.serviceAccountName;
  const ca = check(
    await adminRequest(
      inputs.context,
      "GET",
      `/api/v1/namespaces/${ns}/configmaps/kube-root-ca.crt`,
    ),
    `read the cluster CA (configmap ${ns}/kube-root-ca.crt)`,
  );
  const bindingName = `${sa}-cred-${Date.now().toString(36)}`;
  const secret = check(
    await adminRequest(inputs.context, "POST", `/api/v1/namespaces/${ns}/secrets`, {
      apiVersion: "v1",
      kind: "Secret",
      type: "Opaque",
      metadata: {
        name: bindingName,
        labels: inputs.labels,
        annotations: {
          "scoped-cd.io/service-account": sa,
          "scoped-cd.io/purpose":
            "binds the deployer's expiring token: deleting it revokes the token",
        },
      },
    }),
    `create the token binding Secret ${ns}/${bindingName}`,
  );
  let minted: any;
  try {
    minted = check(
      await adminRequest(
        inputs.context,
        "POST",
        `/api/v1/namespaces/${ns}/serviceaccounts/${sa}/token`,
        {
          apiVersion: "authentication.k8s.io/v1",
          kind: "TokenRequest",
          spec: {
            expirationSeconds: inputs.lifetimeSeconds,
            boundObjectRef: {
              apiVersion: "v1",
              kind: "Secret",
              name: bindingName,
              uid: secret.metadata.uid,
            },
          },
        },
      ),
      `request a token for ServiceAccount ${ns}/${sa}`,
    );
  } catch (err) {
    await deleteBinding(inputs.context, ns, bindingName).catch(() => undefined);
    throw err;
  }
  const token: string = minted.status.token;
  const claims = JSON.parse(Buffer.from(token.split(".")[1], "base64url").toString("utf8"));
  const expiresAt = new Date(claims.exp * 1000).toISOString();
  // The credential ID is not a secret: an operator finds it on the binding Secret and in audit.
  check(
    await adminRequest(
      inputs.context,
      "PATCH",
      `/api/v1/namespaces/${ns}/secrets/${bindingName}`,
      {
        metadata: {
          annotations: {
            "scoped-cd.io/credential-id": `JTI=${claims.jti}`,
            "scoped-cd.io/expires-at": expiresAt,
          },
        },
      },
      "application/merge-patch+json",
    ),
    `annotate the token binding Secret ${ns}/${bindingName}`,
  );
  return {
    token,
    caData: Buffer.from(ca.data["ca.crt"], "utf8").toString("base64"),
    bindingName,
    issuedAt: claims.iat,
    expiresAtEpoch: claims.exp,
    expiresAt,
    credentialId: `JTI=${claims.jti}`,
  };
}

const tokenRequestProvider: pulumi.dynamic.ResourceProvider = {
  async create(inputs: Inputs) {
    const outs = await mint(inputs);
    return { id: `${inputs.namespace}/${inputs.serviceAccountName}`, outs: { ...inputs, ...outs } };
  },

  async diff(_id: string, olds: TokenState, news: Inputs) {
    const replaces = (["namespace", "serviceAccountName"] as const).filter(
      (k) => olds[k] !== news[k],
    );
    const decision = decideRenewal(
      { issuedAt: olds.issuedAt, expiresAt: olds.expiresAtEpoch },
      news,
      Math.floor(Date.now() / 1000),
    );
    const changed = replaces.length > 0 || decision.renew || olds.renewAfter !== news.renewAfter;
    return {
      changes: changed,
      replaces,
      // A rotation revokes at once: the old token's binding Secrets go before anything else.
      deleteBeforeReplace: true,
      stables: [],
    };
  },

  async update(_id: string, olds: TokenState, news: Inputs) {
    const decision = decideRenewal(
      { issuedAt: olds.issuedAt, expiresAt: olds.expiresAtEpoch },
      news,
      Math.floor(Date.now() / 1000),
    );
    if (!decision.renew) return { outs: { ...olds, ...news } };
    const outs = await mint(news);
    // The token before the previous one is revoked now; the previous one stays for the overlap.
    await deleteBinding(news.context, news.namespace, olds.previousBindingName);
    return { outs: { ...news, ...outs, previousBindingName: olds.bindingName } };
  },

  async delete(_id: string, props: TokenState) {
    await deleteBinding(props.context, props.namespace, props.bindingName);
    await deleteBinding(props.context, props.namespace, props.previousBindingName);
  },
};

/**
 * An expiring ServiceAccount token from the TokenRequest API, bound to a Secret it owns. `token`
 * is a secret output; `expiresAt` and `credentialId` (the JWT's `jti`) are plain.
 */
export class TokenRequest extends pulumi.dynamic.Resource {
  declare public readonly token: pulumi.Output<string>;
  /** Base64 PEM of the cluster CA (the namespace's kube-root-ca.crt). */
  declare public readonly caData: pulumi.Output<string>;
  /** RFC 3339 expiry of the current token. */
  declare public readonly expiresAt: pulumi.Output<string>;
  /** `JTI=<jti>`, as the API server reports it in `authentication.kubernetes.io/credential-id`. */
  declare public readonly credentialId: pulumi.Output<string>;
  /** The Secret whose deletion revokes the current token. */
  declare public readonly bindingName: pulumi.Output<string>;

  constructor(name: string, args: TokenRequestArgs, opts?: pulumi.CustomResourceOptions) {
    super(
      tokenRequestProvider,
      name,
      {
        ...args,
        token: undefined,
        caData: undefined,
        expiresAt: undefined,
        credentialId: undefined,
        bindingName: undefined,
      },
      { ...opts, additionalSecretOutputs: ["token"] },
      "scoped-cd",
      "TokenRequest",
    );
  }
}
