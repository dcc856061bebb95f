// The only admin credential the program ever touches: the operators' kubeconfig, read in `all`
// and `access` modes only, and checked before any resource is registered so that a missing or
// wrong one fails the preview with what to do rather than a serialization error mid-run.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { Mode, PROJECT } from "../../config";
import {
  AdminCredentialCheck,
  KubeConfig,
  LiveCluster,
  LiveObject,
  LiveRef,
  getLiveObject,
  readsByKind,
} from "./liveCluster";

/**
 * The admin provider, with the live reads of the same credential and context (the validated
 * `cluster.context`) that authoritative objects are checked against before they are registered.
 */
export class AdminProvider extends k8s.Provider {
  /** Read an object live with the admin kubeconfig; undefined when it does not exist. */
  public readonly readLive: (ref: LiveRef) => Promise<LiveObject | undefined>;

  /**
   * `readLive` defaults to reading through the kubeconfig kubectl would use (KUBECONFIG or
   * ~/.kube/config), at `args.context` when given: the provider's own credential.
   */
  constructor(
    name: string,
    args: k8s.ProviderArgs & { context?: string },
    readLive?: (ref: LiveRef) => Promise<LiveObject | undefined>,
    opts?: pulumi.CustomResourceOptions,
  ) {
    super(name, args, opts);
    let kc: Promise<KubeConfig> | undefined;
    this.readLive =
      readLive ??
      (async (ref) => {
        kc ??= import("@kubernetes/client-node").then(({ KubeConfig }) => {
          const config = new KubeConfig();
          config.loadFromDefault();
          if (args.context) config.setCurrentContext(args.context);
          return config;
        });
        return getLiveObject(await kc, ref);
      });
  }
}

export interface AdminAccess {
  /** The explicit admin provider; access-layer resources only. */
  readonly provider: AdminProvider;
  /** The API server URL written into scoped kubeconfigs. */
  readonly server: string;
}

export interface AdminAccessArgs {
  readonly mode: Mode;
  /** Stable cluster identity (`cluster.name`): the provider's clusterIdentifier. */
  readonly clusterName: string;
  /** `cluster.server`; default: the admin kubeconfig's server. */
  readonly server?: string;
  /** `cluster.context`; default: the admin kubeconfig's current context. */
  readonly context?: string;
}

/** The admin kubeconfig files kubectl would read: $KUBECONFIG's list, else ~/.kube/config. */
export function adminKubeconfigFiles(env: NodeJS.ProcessEnv = process.env): string[] {
  const list = env.KUBECONFIG?.split(path.delimiter).filter((f) => f.length > 0) ?? [];
  return list.length > 0 ? list : [path.join(os.homedir(), ".kube", "config")];
}

/**
 * Find the admin kubeconfig and its cluster, then create the admin provider from it. Throws a
 * RunError naming the credential and how to provide it when there is none.
 */
export async function adminAccess(
  args: AdminAccessArgs,
  cluster: LiveCluster = API_SERVER,
): Promise<AdminAccess> {
  const files = adminKubeconfigFiles();
  const found = files.filter((f) => fs.existsSync(f));
  const remedy =
    "set KUBECONFIG to the cluster operators' admin kubeconfig (or cluster.context to one of its contexts); " +
    "CI deploys through a delivery stack, which needs no admin credential";
  if (found.length === 0) {
    throw new pulumi.RunError(
      `${PROJECT}:mode: mode ${args.mode} declares the access layer and needs the cluster's admin kubeconfig, ` +
        `but none was found (looked for ${files.join(", ")}): ${remedy}`,
    );
  }
  // client-node is an ES module; this CommonJS program loads it on demand.
  const { KubeConfig } = await import("@kubernetes/client-node");
  const kc = new KubeConfig();
  kc.loadFromDefault();
  if (args.context) {
    if (!kc.getContextObject(args.context)) {
      const known = kc.getContexts().map((c) => c.name);
      throw new pulumi.RunError(
        `${PROJECT}:cluster.context: the admin kubeconfig (${found.join(", ")}) has no context ${args.context}` +
          ` (it has ${known.join(", ") || "none"})`,
      );
    }
    kc.setCurrentContext(args.context);
  }
  const kubeconfigServer = kc.getCurrentCluster()?.server;
  if (!kubeconfigServer) {
    throw new pulumi.RunError(
      `${PROJECT}:cluster: the admin kubeconfig (${found.join(", ")}) has no current context with a cluster: ${remedy}`,
    );
  }
  await cluster.checkAdminCredential(kc, { files: found, mode: args.mode });
  // kubeconfig "" (not the SDK's default, the KUBECONFIG path): the provider process then loads
  // the same ambient kubeconfig, and the provider's inputs stay the same for every operator, so a
  // second admin with the credential at another path previews no change.
  const provider = new AdminProvider(
    "admin",
    { kubeconfig: "", context: args.context, clusterIdentifier: args.clusterName },
    (ref) => cluster.read(kc, ref),
  );
  return { provider, server: args.server ?? kubeconfigServer };
}

/** What the access layer writes; the admin credential must be allowed each (SelfSubjectAccessReview). */
const ADMIN_NEEDS = [
  { verb: "create", group: "", resource: "namespaces" },
  { verb: "create", group: "rbac.authorization.k8s.io", resource: "roles" },
  { verb: "create", group: "rbac.authorization.k8s.io", resource: "rolebindings" },
  {
    verb: "create",
    group: "admissionregistration.k8s.io",
    resource: "validatingadmissionpolicies",
  },
  { verb: "create", group: "", resource: "serviceaccounts/token" },
] as const;

/**
 * Ask the API server, with the admin credential, who it is (SelfSubjectReview) and whether it may
 * write what the access layer declares (SelfSubjectAccessReview), before anything is registered:
 * a revoked, expired or unauthorized credential fails here, naming the kubeconfig, its context and
 * user, and what to do, instead of failing some resource midway.
 */
export async function checkAdminCredential(
  kc: KubeConfig,
  { files, mode }: AdminCredentialCheck,
): Promise<void> {
  const { AuthenticationV1Api, AuthorizationV1Api } = await import("@kubernetes/client-node");
  const server = kc.getCurrentCluster()?.server ?? "?";
  const context = kc.getCurrentContext();
  const user = kc.getCurrentUser()?.name ?? "?";
  const which = `the admin kubeconfig (${files.join(", ")}; context ${context}, user ${user})`;
  const fix =
    `nothing was changed. Get a current admin credential for ${server} (renew the certificate or token, ` +
    `or re-run your cluster's credential login), point KUBECONFIG at it (or cluster.context at a working context), then rerun`;
  const refused = (err: unknown, step: string): pulumi.RunError => {
    const code = (err as { code?: unknown }).code;
    const message = (err instanceof Error ? err.message : String(err)).split("\n")[0];
    if (code === 401) {
      return new pulumi.RunError(
        `${PROJECT}:cluster: the API server ${server} refused ${which}: 401 Unauthorized (${step}). ` +
          `Its credential is revoked, expired or not trusted by this cluster; ${fix}`,
      );
    }
    if (code === 403) {
      return new pulumi.RunError(
        `${PROJECT}:cluster: the API server ${server} authenticated ${which} but refused it: 403 Forbidden (${step}). ` +
          `Its identity lost its cluster-admin binding; ${fix}`,
      );
    }
    return new pulumi.RunError(
      `${PROJECT}:cluster: could not reach the API server ${server} with ${which} (${step}: ${message}); ` +
        `nothing was changed. Check that the cluster is up and reachable, then rerun`,
    );
  };
  const username = await kc
    .makeApiClient(AuthenticationV1Api)
    .createSelfSubjectReview({
      body: { apiVersion: "authentication.k8s.io/v1", kind: "SelfSubjectReview" },
    })
    .then(
      (review) => review.status?.userInfo?.username ?? "?",
      (err: unknown) => {
        throw refused(err, "SelfSubjectReview");
      },
    );
  const authz = kc.makeApiClient(AuthorizationV1Api);
  const denied: string[] = [];
  for (const need of ADMIN_NEEDS) {
    const [resource, subresource] = need.resource.split("/");
    const allowed = await authz
      .createSelfSubjectAccessReview({
        body: {
          apiVersion: "authorization.k8s.io/v1",
          kind: "SelfSubjectAccessReview",
          spec: {
            resourceAttributes: { verb: need.verb, group: need.group, resource, subresource },
          },
        },
      })
      .then(
        (review) => review.status?.allowed === true,
        (err: unknown) => {
          throw refused(err, "SelfSubjectAccessReview");
        },
      );
    if (!allowed) denied.push(`${need.verb} ${need.group ? `${need.group}/` : ""}${need.resource}`);
  }
  if (denied.length > 0) {
    throw new pulumi.RunError(
      `${PROJECT}:cluster: ${which} authenticates as ${username}, which may not ${denied.join(", ")} ` +
        `(403 Forbidden for mode ${mode}): it is not (or no longer) a cluster admin; ${fix}`,
    );
  }
}

/** The live API server, as the program's entry point hands it over. */
export const API_SERVER: LiveCluster = { checkAdminCredential, read: readsByKind() };
