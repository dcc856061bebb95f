import * as pulumi from "@pulumi/pulumi";
import { Mode, StageConfig } from "../config";
import { TILLER_NAMESPACE_RULE } from "../policy/deployerProfile";
import { AdminProvider } from "./access/adminProvider";
import { DeployerAccess } from "./access/deployerAccess";
import { Promotion } from "./delivery/promotion";
import { ScopedNamespace } from "./access/scopedNamespace";
import { StageSummary } from "./outputs";
import { StageReleases } from "./delivery/stageReleases";
import { HELM_V2_WARNING, Tiller } from "./access/tiller";
import { StageTeardown } from "./access/deletionGuard";

/** Where a stage's access layer lives, by mode. */
export type StageAccess =
  | {
      /** `all` / `access`: this stack declares the access layer with the admin provider. */
      readonly kind: "declare";
      readonly adminProvider: AdminProvider;
      readonly clusterName: string;
      readonly server: pulumi.Input<string>;
      /** The admin kubeconfig context (`cluster.context`); default: the current one. */
      readonly adminContext?: string;
    }
  | {
      /** `delivery`: the scoped kubeconfig comes from elsewhere; no admin provider exists. */
      readonly kind: "consume";
      readonly kubeconfig: pulumi.Output<string>;
      /** The access stack's summary of this stage, when known. */
      readonly accessSummary?: pulumi.Output<Partial<StageSummary> | undefined>;
    };

export interface StageArgs {
  readonly mode: Mode;
  readonly config: StageConfig;
  /** Stable cluster identity; part of the scoped provider's clusterIdentifier. */
  readonly clusterName: string;
  readonly access: StageAccess;
  readonly promotion?: Promotion;
}

/** One stage: namespace, deployer, Tiller and releases, as the mode asks. */
export class Stage extends pulumi.ComponentResource {
  /** The scoped kubeconfig (secret); only where this stack declares the access layer. */
  public readonly kubeconfig?: pulumi.Output<string>;
  public readonly summary: pulumi.Output<StageSummary>;
  public readonly namespace?: ScopedNamespace;
  public readonly deployer?: DeployerAccess;
  public readonly tiller?: Tiller;
  public readonly releases?: StageReleases;

  constructor(name: string, args: StageArgs, opts?: pulumi.ComponentResourceOptions) {
    super("scoped-cd:stage:Stage", name, {}, opts);
    const cfg = args.config;
    const access = args.access;
    let namespace: pulumi.Input<string> = cfg.namespace;
    let kubeconfig: pulumi.Output<string>;
    let releaseDependsOn: pulumi.Resource[] = [];
    const inClusterTiller = cfg.tiller.enabled && cfg.tiller.mode === "cluster";

    if (access.kind === "declare") {
      const provider = access.adminProvider;
      this.namespace = new ScopedNamespace(
        `${name}-ns`,
        {
          stage: cfg.name,
          namespace: cfg.namespace,
          deletable: cfg.deletable,
          teardownNamespace: args.mode === "access",
          adminContext: access.adminContext,
          provider,
          ...cfg.guardrails,
          ciIdentities: externalCiIdentities(cfg.deployer.credential),
        },
        { parent: this },
      );
      namespace = this.namespace.name;
      this.deployer = new DeployerAccess(
        `${name}-deployer`,
        {
          stage: cfg.name,
          namespace,
          clusterName: access.clusterName,
          server: access.server,
          rotation: cfg.deployer.rotation,
          allowRbac: cfg.deployer.allowRbac,
          // Port-forward only reaches an in-cluster Tiller; a local one needs none.
          tiller: inClusterTiller,
          // A local Tiller runs as the deployer and reads the stage's Namespace like any Tiller
          // (DeployerAccess's `tiller` flag means port-forward, i.e. an in-cluster Tiller).
          extraRules:
            cfg.tiller.enabled && !inClusterTiller
              ? [...cfg.deployer.extraRules, TILLER_NAMESPACE_RULE]
              : cfg.deployer.extraRules,
          credential: cfg.deployer.credential,
          adminContext: access.adminContext,
          provider,
        },
        { parent: this, dependsOn: this.namespace.guardrails },
      );
      if (cfg.tiller.enabled && !inClusterTiller) {
        // Local mode declares nothing (no Tiller identity exists), but Helm v2 is still unsupported.
        pulumi.log.warn(`stage ${cfg.name}: ${HELM_V2_WARNING}`, this);
      }
      if (inClusterTiller) {
        this.tiller = new Tiller(
          `${name}-tiller`,
          {
            stage: cfg.name,
            namespace,
            image: cfg.tiller.image,
            historyMax: cfg.tiller.historyMax,
            suffix: this.deployer.suffix,
            allowRbac: cfg.deployer.allowRbac,
            adminContext: access.adminContext,
            egressIsolated: cfg.guardrails.egress.isolate,
            provider,
          },
          { parent: this, dependsOn: this.namespace.guardrails },
        );
      }
      kubeconfig = this.deployer.kubeconfig;
      this.kubeconfig = kubeconfig;
      releaseDependsOn = [...this.deployer.grants, ...this.namespace.guardrails];
    } else {
      kubeconfig = access.kubeconfig;
    }

    if (args.mode !== "access") {
      this.releases = new StageReleases(
        `${name}-releases`,
        {
          stage: cfg.name,
          namespace,
          kubeconfig,
          clusterIdentifier: `${args.clusterName}/${cfg.namespace}`,
          releases: cfg.releases,
          promotion: args.promotion,
          dependsOn: releaseDependsOn,
        },
        { parent: this },
      );
      if (access.kind === "declare" && cfg.deletable) {
        // `all` mode: deleted before the releases, whose atomic uninstall waits for every object
        // of the chart to be gone, so a foreign finalizer is removed before anything waits on it.
        new StageTeardown(
          `${name}-teardown`,
          { namespace, context: access.adminContext, deleteNamespace: false },
          { parent: this, dependsOn: [this.releases, ...this.namespace!.guardrails] },
        );
      }
    }

    const own = access.kind === "declare";
    const accessSummary =
      access.kind === "consume" && access.accessSummary
        ? access.accessSummary
        : pulumi.output(undefined);
    this.summary = pulumi
      .all([
        namespace,
        this.deployer?.serviceAccountName ?? null,
        this.releases?.summary ?? {},
        accessSummary,
        this.deployer?.credential ?? null,
        this.tiller?.serviceAccountName ?? null,
      ])
      .apply(([ns, serviceAccount, releases, upstream, credential, tillerAccount]) => ({
        namespace: ns,
        serviceAccount: own ? serviceAccount : (upstream?.serviceAccount ?? null),
        rotation: own ? cfg.deployer.rotation : (upstream?.rotation ?? null),
        credential: own ? credential : (upstream?.credential ?? null),
        tiller: own
          ? {
              enabled: cfg.tiller.enabled,
              namespace: cfg.tiller.enabled ? ns : null,
              mode: cfg.tiller.enabled ? cfg.tiller.mode : null,
              historyMax: cfg.tiller.enabled ? cfg.tiller.historyMax : null,
              serviceAccount: tillerAccount,
            }
          : (upstream?.tiller ?? { enabled: null, namespace: null }),
        releases,
        allowances: own
          ? {
              serviceTypes: [...cfg.guardrails.services.allowTypes],
              allowMinAvailable: cfg.guardrails.disruptionBudgets.allowMinAvailable,
              allowRbac: cfg.deployer.allowRbac,
              tillerPortForward: cfg.tiller.enabled && cfg.tiller.mode === "cluster",
              ingressHosts: [...cfg.guardrails.ingress.allowHosts],
              gatewayParents: [...cfg.guardrails.gateway.allowParents],
              gatewayHosts: [...cfg.guardrails.gateway.allowHosts],
            }
          : (upstream?.allowances ?? null),
        // This stack's own acknowledgements (a delivery stack's, not its access stack's).
        inventory: { acknowledge: [...cfg.inventory.acknowledge] },
      }));

    // The kubeconfig is a property only: the stack's `kubeconfigs` output is its one copy in the
    // state.
    this.registerOutputs({ summary: this.summary });
  }
}

/** The external kind's user and groups, which the guardrails must treat as CI requesters. */
function externalCiIdentities(credential: StageConfig["deployer"]["credential"]) {
  const ext = credential.kind === "external" ? credential.external : undefined;
  return ext ? { users: ext.user ? [ext.user] : [], groups: ext.groups ?? [] } : undefined;
}
