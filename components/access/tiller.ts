import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { API_EGRESS_LABEL } from "../../policy/admission";
import { tillerRules } from "../../policy/deployerProfile";
import { BACKGROUND_DELETION, stageLabels } from "./labels";
import { guardServiceAccount } from "./deletionGuard";
import { grantRoleToServiceAccount } from "./roleGrant";

export const TILLER_PORT = 44134;
/**
 * The pod label the `tiller-api-egress` NetworkPolicy selects: Tiller talks to the API server,
 * which the stage's egress policy keeps every other pod from reaching. CI may not set it
 * (the identities guardrail refuses it on any pod template).
 */
export const TILLER_API_EGRESS_LABEL = { [API_EGRESS_LABEL]: "tiller" } as const;
export const TILLER_PROBE_PORT = 44135;

export const HELM_V2_WARNING =
  "Helm v2 and Tiller are unsupported since 2020-11-13 and receive no security fixes; " +
  "migrate this stage's jobs to Helm 3 and disable tiller.";

export interface TillerArgs {
  /** The stage this Tiller serves. */
  readonly stage: string;
  /** The stage namespace: Tiller's storage and its only target. */
  readonly namespace: pulumi.Input<string>;
  /** Pinned Tiller image (tag or digest). */
  readonly image: string;
  /** Release revisions kept per release. */
  readonly historyMax: number;
  /**
   * The deployer's rotation suffix: Tiller's ServiceAccount is `tiller-<suffix>`, so a rotation
   * replaces it and every token ever minted for the old one (a leaked Tiller token) dies with it.
   */
  readonly suffix: pulumi.Input<string>;
  /** Same as the deployer's, so Tiller is never wider. */
  readonly allowRbac: boolean;
  /** The admin kubeconfig context (`cluster.context`), for the deletion guard. */
  readonly adminContext?: string;
  /**
   * The stage isolates egress: Tiller's pod then gets its own allowance to the API server's
   * endpoints (the `kubernetes` Service's EndpointSlice, read with the admin provider), and no
   * other address beyond the stage's.
   */
  readonly egressIsolated: boolean;
  /** The admin provider; access-layer resources only. */
  readonly provider: k8s.Provider;
}

/**
 * A hardened per-namespace Tiller (Helm v2): its own ServiceAccount with a Role no wider than the
 * deployer's, Secret storage, gRPC on localhost only (reachable through port-forward, i.e. only by
 * holders of the scoped kubeconfig), non-root, read-only root filesystem, no capabilities, limits.
 * No Service exposes it.
 */
export class Tiller extends pulumi.ComponentResource {
  public readonly serviceAccountName: pulumi.Output<string>;
  public readonly deployment: k8s.apps.v1.Deployment;

  constructor(name: string, args: TillerArgs, opts?: pulumi.ComponentResourceOptions) {
    super("scoped-cd:access:Tiller", name, {}, opts);
    pulumi.log.warn(`stage ${args.stage}: ${HELM_V2_WARNING}`, this);
    const provider = args.provider;
    const labels = stageLabels(args.stage, "tiller");
    const selector = { app: "helm", name: "tiller" };

    const serviceAccount = new k8s.core.v1.ServiceAccount(
      `${name}-sa`,
      {
        metadata: {
          name: pulumi.interpolate`tiller-${args.suffix}`,
          namespace: args.namespace,
          labels,
          annotations: BACKGROUND_DELETION,
        },
      },
      // A rotation deletes the old identity first, early in the `up`: a leaked Tiller token dies then.
      { parent: this, provider, deleteBeforeReplace: true },
    );
    this.serviceAccountName = serviceAccount.metadata.name;
    guardServiceAccount(name, serviceAccount, args, this);

    const [, binding] = grantRoleToServiceAccount(name, {
      objectName: "tiller",
      namespace: args.namespace,
      serviceAccountName: this.serviceAccountName,
      rules: tillerRules({ allowRbac: args.allowRbac }),
      labels,
      provider,
      parent: this,
    });

    this.deployment = new k8s.apps.v1.Deployment(
      `${name}-deploy`,
      {
        metadata: { name: "tiller-deploy", namespace: args.namespace, labels },
        spec: {
          replicas: 1,
          selector: { matchLabels: selector },
          template: {
            metadata: { labels: { ...labels, ...selector, ...TILLER_API_EGRESS_LABEL } },
            spec: {
              serviceAccountName: this.serviceAccountName,
              automountServiceAccountToken: true, // Tiller talks to the API as its own SA
              securityContext: {
                runAsNonRoot: true,
                runAsUser: 65534,
                runAsGroup: 65534,
                seccompProfile: { type: "RuntimeDefault" },
              },
              containers: [
                {
                  name: "tiller",
                  image: args.image,
                  imagePullPolicy: "IfNotPresent",
                  command: ["/tiller"],
                  args: [
                    "--storage=secret",
                    `--listen=localhost:${TILLER_PORT}`,
                    // Health endpoints only, for the kubelet's probes; no gRPC on this port.
                    `--probe-listen=:${TILLER_PROBE_PORT}`,
                    `--history-max=${args.historyMax}`,
                  ],
                  env: [{ name: "TILLER_NAMESPACE", value: args.namespace }],
                  ports: [{ name: "http", containerPort: TILLER_PROBE_PORT }],
                  livenessProbe: { httpGet: { path: "/liveness", port: TILLER_PROBE_PORT } },
                  readinessProbe: { httpGet: { path: "/readiness", port: TILLER_PROBE_PORT } },
                  resources: {
                    requests: { cpu: "50m", memory: "64Mi" },
                    limits: { cpu: "200m", memory: "256Mi" },
                  },
                  securityContext: {
                    allowPrivilegeEscalation: false,
                    readOnlyRootFilesystem: true,
                    runAsNonRoot: true,
                    capabilities: { drop: ["ALL"] },
                  },
                },
              ],
            },
          },
        },
      },
      { parent: this, provider, dependsOn: [binding] },
    );

    if (args.egressIsolated) {
      // Pods reach the API server at the `kubernetes` Service's endpoints (NetworkPolicy engines
      // see the address after the Service's translation), so those addresses and ports it is.
      const api = k8s.discovery.v1.EndpointSlice.get(
        `${name}-api-endpoints`,
        "default/kubernetes",
        {
          parent: this,
          provider,
        },
      );
      new k8s.networking.v1.NetworkPolicy(
        `${name}-api-egress`,
        {
          metadata: { name: "tiller-api-egress", namespace: args.namespace, labels },
          spec: {
            podSelector: { matchLabels: TILLER_API_EGRESS_LABEL },
            policyTypes: ["Egress"],
            egress: pulumi
              .all([api.endpoints, api.ports])
              .apply(([endpoints, ports]) => [apiServerEgressRule(endpoints ?? [], ports ?? [])]),
          },
        },
        { parent: this, provider },
      );
    }

    this.registerOutputs({ serviceAccountName: this.serviceAccountName });
  }
}

/** One egress rule to the API server's endpoint addresses (each a /32 or /128) and ports. */
export function apiServerEgressRule(
  endpoints: readonly { addresses?: readonly string[] }[],
  ports: readonly { port?: number; protocol?: string }[],
) {
  const addresses = [...new Set(endpoints.flatMap((e) => e.addresses ?? []))].sort();
  if (addresses.length === 0 || ports.length === 0) {
    throw new Error(
      "the kubernetes Service in namespace default has no endpoints: Tiller could not reach the API server",
    );
  }
  return {
    to: addresses.map((a) => ({ ipBlock: { cidr: a.includes(":") ? `${a}/128` : `${a}/32` } })),
    ports: ports.map((p) => ({ protocol: p.protocol ?? "TCP", port: p.port })),
  };
}
