// The only admin credential the program ever touches: the operators' kubeconfig, read in `all`
// and `access` modes only, and checked before any resource is registered so that a missing or
// wrong one fails the preview with what to do rather than a serialization error mid-run.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { Mode, PROJECT } from "../../config";

export interface AdminAccess {
  /** The explicit admin provider; access-layer resources only. */
  readonly provider: k8s.Provider;
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
export async function adminAccess(args: AdminAccessArgs): Promise<AdminAccess> {
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
  const provider = new k8s.Provider("admin", {
    context: args.context,
    clusterIdentifier: args.clusterName,
  });
  return { provider, server: args.server ?? kubeconfigServer };
}
