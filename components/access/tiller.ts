import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { tillerRules } from "../../policy/deployerProfile";
import { BACKGROUND_DELETION, stageLabels } from "./labels";
import { IdentityDeletion } from "./deletionGuard";
import { grantRoleToServiceAccount } from "./roleGrant";

export const TILLER_PORT = 44134;
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
    new IdentityDeletion(
      `${name}-sa-deletion`,
      {
        ref: {
          kind: "ServiceAccount",
          namespace: args.namespace,
          name: serviceAccount.metadata.name,
        },
        context: args.adminContext,
      },
      { parent: this, dependsOn: [serviceAccount] },
    );

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
            metadata: { labels: { ...labels, ...selector } },
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

    this.registerOutputs({ serviceAccountName: this.serviceAccountName });
  }
}
