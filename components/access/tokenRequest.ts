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

/**
 * The Core API with the admin credential of KUBECONFIG and `context`, loaded as kubectl loads it
 * (exec and auth-provider plugins included). client-node is an ES module: Node (>= 20.19) loads it
 * with require(), which the serialized provider can use where it could not use import().
 */
function adminCoreApi(context: string | undefined): any {
  const k8s = require("@kubernetes/client-node"); // eslint-disable-line @typescript-eslint/no-require-imports
  const kc = new k8s.KubeConfig();
  kc.loadFromDefault();
  if (context) kc.setCurrentContext(context);
  return kc.makeApiClient(k8s.CoreV1Api);
}

/**
 * Run one API call; on failure, throw what was attempted with the API server's status and
 * message only (never a request or response body: a TokenRequest's response holds the token).
 */
async function call(
  what: string,
  request: () => Promise<any>,
  tolerate: number[] = [],
): Promise<any> {
  try {
    return await request();
  } catch (err: any) {
    const code: unknown = err?.code;
    if (typeof code === "number" && tolerate.includes(code)) return undefined;
    let message: string | undefined;
    try {
      message = JSON.parse(String(err?.body)).message;
    } catch {
      message = typeof code === "number" ? undefined : String(err?.message ?? err).split("\n")[0];
    }
    throw new Error(
      `${what}: ${typeof code === "number" ? `HTTP ${code}: ` : ""}${message ?? ""}`,
      {
        cause: err,
      },
    );
  }
}

async function deleteBinding(context: string | undefined, namespace: string, name?: string) {
  if (!name) return;
  const api = adminCoreApi(context);
  await call(
    `delete the token binding Secret ${namespace}/${name}`,
    () => api.deleteNamespacedSecret({ name, namespace, propagationPolicy: "Background" }),
    [404],
  );
  // The token stops working once deletion has started (plus the validator's 60 s leeway), and
  // nothing here waits for the Secret: but a finalizer would keep it for ever. Deletion has
  // started, so none can be added again after this.
  const live = await call(
    `read the token binding Secret ${namespace}/${name}`,
    () => api.readNamespacedSecret({ name, namespace }),
    [404],
  );
  const finalizers: string[] = live?.metadata?.finalizers ?? [];
  if (finalizers.length === 0) return;
  const k8s = require("@kubernetes/client-node"); // eslint-disable-line @typescript-eslint/no-require-imports
  await call(
    `remove the finalizers of the token binding Secret ${namespace}/${name}`,
    () =>
      api.patchNamespacedSecret(
        {
          name,
          namespace,
          body: { metadata: { finalizers: [], resourceVersion: live.metadata.resourceVersion } },
        },
        k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.MergePatch),
      ),
    [404, 409],
  );
  process.stderr.write(
    `scoped-cd: removed foreign finalizer(s) ${finalizers.join(", ")} from Secret ${namespace}/${name} (token binding) so that its deletion completes\n`,
  );
}

/** Create a binding Secret and a token bound to it; return the new state's outputs. */
async function mint(inputs: Inputs): Promise<Omit<TokenState, keyof Inputs>> {
  const k8s = require("@kubernetes/client-node"); // eslint-disable-line @typescript-eslint/no-require-imports
  const api = adminCoreApi(inputs.context);
  const ns = inputs.namespace;
  const sa = inputs.serviceAccountName;
  // kube-system's copy: the stage's own copy is in a namespace the deployer writes to.
  const ca = await call("read the cluster CA (configmap kube-system/kube-root-ca.crt)", () =>
    api.readNamespacedConfigMap({ name: "kube-root-ca.crt", namespace: "kube-system" }),
  );
  const bindingName = `${sa}-cred-${Date.now().toString(36)}`;
  const secret = await call(`create the token binding Secret ${ns}/${bindingName}`, () =>
    api.createNamespacedSecret({
      namespace: ns,
      body: {
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
      },
    }),
  );
  let minted: any;
  try {
    minted = await call(`request a token for ServiceAccount ${ns}/${sa}`, () =>
      api.createNamespacedServiceAccountToken({
        name: sa,
        namespace: ns,
        body: {
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
      }),
    );
  } catch (err) {
    await deleteBinding(inputs.context, ns, bindingName).catch(() => undefined);
    throw err;
  }
  const token: string = minted.status.token;
  const claims = JSON.parse(Buffer.from(token.split(".")[1], "base64url").toString("utf8"));
  const expiresAt = new Date(claims.exp * 1000).toISOString();
  // The credential ID is not a secret: an operator finds it on the binding Secret and in audit.
  await call(`annotate the token binding Secret ${ns}/${bindingName}`, () =>
    api.patchNamespacedSecret(
      {
        name: bindingName,
        namespace: ns,
        body: {
          metadata: {
            annotations: {
              "scoped-cd.io/credential-id": `JTI=${claims.jti}`,
              "scoped-cd.io/expires-at": expiresAt,
            },
          },
        },
      },
      k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.MergePatch),
    ),
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
  /** Base64 PEM of the cluster CA (kube-system's kube-root-ca.crt). */
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
