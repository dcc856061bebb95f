// Runs the real program (bin/index.js) under Pulumi mocks and records every registration,
// including the options the engine would see (parent, provider, retainOnDelete, dependencies).
import * as crypto from "node:crypto";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { LiveCluster } from "../../components/access/liveCluster";

export const PROJECT = "scoped-cd";
export const TOKEN = "eyJhbGciOiJSUzI1NiJ9.fake-token-for-tests";
export const CA_DATA = Buffer.from(
  "-----BEGIN CERTIFICATE-----\nfake\n-----END CERTIFICATE-----\n",
).toString("base64");

export interface Registration {
  type: string;
  name: string;
  urn: string;
  inputs: Record<string, any>;
  custom: boolean;
  parent: string;
  provider: string;
  retainOnDelete?: boolean;
  dependencies: string[];
}

export interface RunResult {
  /** What the program threw, if anything (registrations made before it are still listed). */
  error?: unknown;
  registrations: Registration[];
  outputs: Record<string, pulumi.Output<unknown> | undefined>;
  byType(type: string): Registration[];
  one(type: string, nameSuffix: string): Registration;
}

/** Upstream stacks' outputs, by stack name, for StackReference mocks. */
export type StackOutputs = Record<string, Record<string, unknown>>;

export function promiseOf<T>(output: pulumi.Output<T>): Promise<T> {
  return new Promise((resolve) => output.apply(resolve));
}

/** Deterministic stand-in for RandomString: same keepers, same result. */
function randomResult(inputs: Record<string, unknown>): string {
  const hash = crypto
    .createHash("sha256")
    .update(JSON.stringify(inputs.keepers ?? {}))
    .digest("hex");
  return hash.replace(/[^a-z0-9]/g, "").slice(0, Number(inputs.length ?? 6));
}

function mockState(type: string, name: string, inputs: any, stacks: StackOutputs): any {
  switch (type) {
    case "random:index/randomString:RandomString":
      return { ...inputs, result: randomResult(inputs) };
    case "kubernetes:core/v1:Secret":
      if (inputs.type === "kubernetes.io/service-account-token") {
        return {
          ...inputs,
          data: { token: Buffer.from(TOKEN).toString("base64"), "ca.crt": CA_DATA },
        };
      }
      return inputs;
    case "kubernetes:core/v1:ConfigMap":
      // A read of kube-system's kube-root-ca.crt (the OIDC kubeconfig's CA).
      return name.endsWith("-root-ca")
        ? { ...inputs, data: { "ca.crt": Buffer.from(CA_DATA, "base64").toString("utf8") } }
        : inputs;
    case "kubernetes:discovery.k8s.io/v1:EndpointSlice":
      // A read of default/kubernetes (the API server as pods reach it; Tiller's egress).
      return {
        ...inputs,
        endpoints: [{ addresses: ["10.0.0.1"] }],
        ports: [{ name: "https", port: 6443, protocol: "TCP" }],
      };
    case "pulumi-nodejs:dynamic/scoped-cd:TokenRequest":
      return {
        ...inputs,
        token: TOKEN,
        caData: CA_DATA,
        expiresAt: "2026-11-26T00:00:00.000Z",
        credentialId: "JTI=00000000-0000-4000-8000-000000000000",
        bindingName: `${inputs.serviceAccountName}-cred-test`,
      };
    case "kubernetes:helm.sh/v3:Release":
      return {
        ...inputs,
        status: {
          name: inputs.name,
          namespace: inputs.namespace,
          status: "deployed",
          revision: 1,
          version: inputs.version ?? "1.4.2",
          chart: "storefront",
        },
      };
    case "pulumi:pulumi:StackReference": {
      const outputs = stacks[inputs.name];
      if (!outputs) throw new Error(`no such stack: ${inputs.name}`);
      return { ...inputs, outputs, secretOutputNames: ["kubeconfigs"] };
    }
    default:
      if (type.startsWith("kubernetes:") && inputs.metadata && !inputs.metadata.name) {
        return { ...inputs, metadata: { ...inputs.metadata, name: `${name}-generated` } };
      }
      return inputs;
  }
}

/** Settle pending registrations: wait until no new one arrives for 20 turns of 5 ms. */
export async function settle(registrations: Registration[]) {
  let last = -1;
  let stable = 0;
  while (stable < 20) {
    await new Promise((r) => setTimeout(r, 5));
    stable = registrations.length === last ? stable + 1 : 0;
    last = registrations.length;
  }
}

/**
 * Install the mocks (a preview when `preview`) and return the list that every registration the
 * engine would receive is recorded into, for programs run in-process (the program, a library user).
 */
export async function mockRegistrations(
  stack: string,
  opts: { stacks?: StackOutputs; preview?: boolean } = {},
): Promise<Registration[]> {
  const registrations: Registration[] = [];
  const stacks = opts.stacks ?? {};
  await pulumi.runtime.setMocks(
    {
      newResource: (args) => ({
        id: args.custom ? `${args.name}-id` : undefined,
        state: mockState(args.type, args.name, args.inputs, stacks),
      }),
      call: (args) => args.inputs,
    },
    PROJECT,
    stack,
    opts.preview ?? false,
  );
  spyOnRegistrations(registrations);
  return registrations;
}

const INDEX = path.resolve(__dirname, "../../index.js");

/** Live objects the offline cluster returns to the program's authoritative reads, by kind/ns/name. */
export type LiveObjects = Record<string, Record<string, unknown>>;

/**
 * The API server as the unit tests stand it in: the admin credential passes its check, and a live
 * read finds only what the test put in `live` ("Kind/namespace/name", or "Kind/name").
 */
export function offlineCluster(live: LiveObjects = {}): LiveCluster {
  return {
    checkAdminCredential: async () => {},
    read: async (_kc, ref) =>
      live[[ref.kind, ref.namespace, ref.name].filter((p) => p !== undefined).join("/")],
  };
}
/** An admin kubeconfig for all/access modes (never contacted under mocks). */
export const ADMIN_KUBECONFIG = path.resolve(__dirname, "../../../test/unit/admin.kubeconfig");

/**
 * Run bin/index.js with the given `scoped-cd:` config (values: objects or strings) under mocks.
 * `preview` runs the program as a preview would.
 */
export async function runProgram(
  config: Record<string, unknown>,
  opts: {
    stack?: string;
    stacks?: StackOutputs;
    secretKeys?: string[];
    preview?: boolean;
    /** The admin kubeconfig file(s) the program finds (KUBECONFIG); default: a fixture. */
    adminKubeconfig?: string;
    /** The API server the program checks and reads (default: offlineCluster(), finding nothing). */
    cluster?: LiveCluster;
  } = {},
): Promise<RunResult> {
  const registrations = await mockRegistrations(opts.stack ?? "unit", opts);

  const all: Record<string, string> = {
    "pulumi:disable-default-providers": JSON.stringify(["kubernetes"]),
  };
  for (const [key, value] of Object.entries(config)) {
    all[`${PROJECT}:${key}`] = typeof value === "string" ? value : JSON.stringify(value);
  }
  pulumi.runtime.setAllConfig(
    all,
    (opts.secretKeys ?? []).map((k) => `${PROJECT}:${k}`),
  );

  delete require.cache[INDEX];
  let outputs: RunResult["outputs"] = {};
  let error: unknown;
  const env = process.env.KUBECONFIG;
  process.env.KUBECONFIG = opts.adminKubeconfig ?? ADMIN_KUBECONFIG;
  try {
    // The program exports a function, as the engine sees it: call it and await the outputs.
    const program = require(INDEX) as (c: LiveCluster) => Promise<RunResult["outputs"]>; // eslint-disable-line @typescript-eslint/no-require-imports
    outputs = await program(opts.cluster ?? offlineCluster());
  } catch (err) {
    error = err;
  } finally {
    if (env === undefined) delete process.env.KUBECONFIG;
    else process.env.KUBECONFIG = env;
  }
  await settle(registrations);
  return {
    error,
    registrations,
    outputs,
    byType: (type) => registrations.filter((r) => r.type === type),
    one: (type, suffix) => {
      const found = registrations.filter((r) => r.type === type && r.name.endsWith(suffix));
      if (found.length !== 1) {
        throw new Error(`expected one ${type} named *${suffix}, found ${found.length}`);
      }
      return found[0];
    },
  };
}

/**
 * Wrap the mock monitor to record the requests the engine would receive: registrations, and
 * reads (StackReference is a read).
 */
function spyOnRegistrations(registrations: Registration[]) {
  const monitor = pulumi.runtime.getMonitor() as any;
  const register = monitor.registerResource.bind(monitor);
  monitor.registerResource = (req: any, callback: any) =>
    register(req, (err: unknown, res: any) => {
      if (!err) {
        registrations.push({
          type: req.getType(),
          name: req.getName(),
          urn: res.getUrn(),
          inputs: pulumi.runtime.deserializeProperties(req.getObject()),
          custom: req.getCustom(),
          parent: req.getParent(),
          provider: req.getProvider(),
          retainOnDelete: req.hasRetainondelete() ? req.getRetainondelete() : undefined,
          dependencies: req.getDependenciesList(),
        });
      }
      callback(err, res);
    });
  const read = monitor.readResource.bind(monitor);
  monitor.readResource = (req: any, callback: any) =>
    read(req, (err: unknown, res: any) => {
      if (!err) {
        registrations.push({
          type: req.getType(),
          name: req.getName(),
          urn: res.getUrn(),
          inputs: pulumi.runtime.deserializeProperties(req.getProperties()),
          custom: true,
          parent: req.getParent(),
          provider: req.getProvider(),
          dependencies: req.getDependenciesList(),
        });
      }
      callback(err, res);
    });
}

/** The plain value of an input the program sent as a secret; throws when it was not secret. */
export function secretInput(value: any): unknown {
  if (value?.[pulumi.runtime.specialSigKey] !== pulumi.runtime.specialSecretSig) {
    throw new Error(`expected a secret input, got ${JSON.stringify(value)}`);
  }
  return value.value;
}
