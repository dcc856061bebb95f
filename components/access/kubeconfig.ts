// The scoped kubeconfig: built as a plain object, rendered with js-yaml at the edge.
import * as yaml from "js-yaml";

export interface ScopedKubeconfigParts {
  /** Stable cluster identity (config `cluster.name`). */
  readonly clusterName: string;
  /** The stage; names the user and context. */
  readonly stage: string;
  /** API server URL. */
  readonly server: string;
  /** Base64 PEM of the cluster CA, as found in the token Secret's `ca.crt`. */
  readonly caData: string;
  /** The ServiceAccount's bearer token (plain text). */
  readonly token: string;
  /** The context's default namespace: the stage's. */
  readonly namespace: string;
}

/** A kubeconfig object with one cluster, one token user and one current context. */
export function scopedKubeconfigObject(parts: ScopedKubeconfigParts) {
  const user = `${parts.stage}-deployer`;
  const context = `${parts.clusterName}-${parts.stage}`;
  return {
    apiVersion: "v1",
    kind: "Config",
    clusters: [
      {
        name: parts.clusterName,
        cluster: { server: parts.server, "certificate-authority-data": parts.caData },
      },
    ],
    users: [{ name: user, user: { token: parts.token } }],
    contexts: [
      {
        name: context,
        context: { cluster: parts.clusterName, user, namespace: parts.namespace },
      },
    ],
    "current-context": context,
    preferences: {},
  };
}

/** Render the scoped kubeconfig as YAML text. The caller wraps it in `pulumi.secret`. */
export function renderScopedKubeconfig(parts: ScopedKubeconfigParts): string {
  return yaml.dump(scopedKubeconfigObject(parts), { lineWidth: -1, noRefs: true });
}
