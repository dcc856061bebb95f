// The scoped kubeconfig: built as a plain object, rendered with js-yaml at the edge.
import * as yaml from "js-yaml";

export interface ScopedKubeconfigParts {
  /** Stable cluster identity (config `cluster.name`). */
  readonly clusterName: string;
  /** The stage; names the user and context. */
  readonly stage: string;
  /** API server URL. */
  readonly server: string;
  /** Base64 PEM of the cluster CA (kube-system's kube-root-ca.crt, or a legacy token Secret's ca.crt). */
  readonly caData: string;
  /**
   * The credential: a bearer token (plain text; the caller wraps the result in `pulumi.secret`),
   * or `oidc`, where the kubeconfig holds no secret and reads the build's OIDC ID token from the
   * environment variable SCOPED_CD_ID_TOKEN through an exec credential plugin.
   */
  readonly credential:
    { readonly token: string } | { readonly oidc: true } | { readonly exec: ExternalExec };
  /** The context's default namespace: the stage's. */
  readonly namespace: string;
}

/** The operator's exec credential plugin (credential kind external): no secret in it. */
export interface ExternalExec {
  readonly command: string;
  readonly args: readonly string[];
  /** Variables the plugin reads from the agent's environment: named in the hint, never valued. */
  readonly env: readonly string[];
  readonly apiVersion: string;
}

/** The external kind's user: the operator's plugin, env inherited from the agent (no values here). */
export function externalExecUser(exec: ExternalExec) {
  return {
    exec: {
      apiVersion: exec.apiVersion,
      command: exec.command,
      args: [...exec.args],
      env: null,
      interactiveMode: "Never",
      provideClusterInfo: false,
      installHint:
        `scoped-cd: the stage's credential comes from ${exec.command}` +
        (exec.env.length ? `, which reads ${exec.env.join(", ")} from the environment` : ""),
    },
  };
}

/** Where the OIDC kubeconfig finds the build's ID token (Jenkins binds the credential to it). */
export const ID_TOKEN_ENV = "SCOPED_CD_ID_TOKEN";

/**
 * An exec credential plugin that hands the API server the build's own ID token from the
 * environment: the kubeconfig holds no secret, and the token never appears in an argv.
 */
export function oidcExecUser() {
  const script =
    `[ -n "$${ID_TOKEN_ENV}" ] || { echo "${ID_TOKEN_ENV} is not set: bind the Jenkins OpenID Connect id token credential to it" >&2; exit 1; }; ` +
    `printf '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"%s"}}' "$${ID_TOKEN_ENV}"`;
  return {
    exec: {
      apiVersion: "client.authentication.k8s.io/v1",
      command: "sh",
      args: ["-c", script],
      interactiveMode: "Never",
      provideClusterInfo: false,
    },
  };
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
    users: [
      {
        name: user,
        user:
          "token" in parts.credential
            ? { token: parts.credential.token }
            : "exec" in parts.credential
              ? externalExecUser(parts.credential.exec)
              : oidcExecUser(),
      },
    ],
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
