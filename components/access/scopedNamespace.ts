import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { egressRules, EgressAllow } from "../../policy/egress";
import { stageQuota } from "../../policy/quota";
import { AdmissionSettings } from "../../policy/admission";
import { AdmissionGuardrails } from "./admissionGuardrails";
import { StageTeardown } from "./deletionGuard";
import { authoritativeAnnotations } from "./authoritative";
import { AUTHORITATIVE, stageLabels } from "./labels";

/** Per-container LimitRange defaults (config `guardrails.containerRequests`/`containerLimits`). */
export interface ContainerDefaults {
  readonly cpu: string;
  readonly memory: string;
  /** The writable layer, logs and emptyDirs: without a limit a container can fill its node's disk. */
  readonly ephemeralStorage: string;
}

/** A LimitRange resource map from the config's names. */
export const limitRangeResources = (d: ContainerDefaults) => ({
  cpu: d.cpu,
  memory: d.memory,
  "ephemeral-storage": d.ephemeralStorage,
});

export interface ScopedNamespaceArgs {
  /** The stage this namespace belongs to. */
  readonly stage: string;
  /** The namespace's name. */
  readonly namespace: string;
  /** Pod Security Admission level enforced on the namespace. */
  readonly podSecurity: "restricted" | "baseline";
  /** ResourceQuota `hard` limits (node ports and load balancers are added per services.allowTypes). */
  readonly quota: Readonly<Record<string, string>>;
  /** Admission guardrails' settings (policy/admission.ts). */
  readonly services: AdmissionSettings["services"];
  readonly ingress: AdmissionSettings["ingress"];
  readonly workloads: AdmissionSettings["workloads"];
  readonly disruptionBudgets: AdmissionSettings["disruptionBudgets"];
  readonly gateway: AdmissionSettings["gateway"];
  /** The external credential kind's user and groups (the guardrails treat them as CI). */
  readonly ciIdentities?: AdmissionSettings["ciIdentities"];
  /** Egress isolation: own namespace, cluster DNS and these allowances only. */
  readonly egress: { readonly isolate: boolean; readonly allow: readonly EgressAllow[] };
  /** LimitRange defaults for containers that declare no requests. */
  readonly containerRequests: ContainerDefaults;
  /** LimitRange defaults for containers that declare no limits. */
  readonly containerLimits: ContainerDefaults;
  /** Deny ingress from outside the namespace. */
  readonly isolateNetwork: boolean;
  /** When false the namespace is kept (not deleted) when the stage is removed. */
  readonly deletable: boolean;
  /**
   * A deletable stage of an access stack: the teardown deletes the namespace and removes foreign
   * finalizers until it is gone (in `all` mode the Stage tears down before its releases instead).
   */
  readonly teardownNamespace?: boolean;
  /** The admin kubeconfig context (`cluster.context`), for the teardown. */
  readonly adminContext?: string;
  /** The admin provider; access-layer resources only. */
  readonly provider: k8s.Provider;
}

/**
 * A stage's namespace and its guardrails: Pod Security Admission labels, a ResourceQuota, a
 * LimitRange, NetworkPolicies isolating ingress and egress, and the admission policies. The
 * deployer can edit none of them.
 */
export class ScopedNamespace extends pulumi.ComponentResource {
  /** The namespace's name, known once it exists. */
  public readonly name: pulumi.Output<string>;
  /** The guardrail objects; releases wait for them so quota defaults apply from the first pod. */
  public readonly guardrails: pulumi.Resource[];

  constructor(name: string, args: ScopedNamespaceArgs, opts?: pulumi.ComponentResourceOptions) {
    super("scoped-cd:access:ScopedNamespace", name, {}, opts);
    const provider = args.provider;
    const labels = stageLabels(args.stage, "namespace");
    const annotations = AUTHORITATIVE;

    // Survives `pulumi destroy` unless deletable, so a removed stage never takes its data along.
    const namespace = new k8s.core.v1.Namespace(
      `${name}-namespace`,
      {
        metadata: {
          name: args.namespace,
          annotations,
          labels: {
            ...labels,
            "pod-security.kubernetes.io/enforce": args.podSecurity,
            "pod-security.kubernetes.io/enforce-version": "latest",
            "pod-security.kubernetes.io/warn": args.podSecurity,
            "pod-security.kubernetes.io/audit": args.podSecurity,
          },
        },
      },
      { parent: this, provider, retainOnDelete: !args.deletable },
    );
    this.name = namespace.metadata.name;
    const inNamespace = { parent: this, provider, dependsOn: [namespace] };

    // Authoritative annotations: forced apply, plus a token that changes when the live object
    // carries entries the declaration lacks (components/access/authoritative.ts).
    const own = (apiVersion: string, kind: string, objectName: string, declared: object) =>
      authoritativeAnnotations(
        { apiVersion, kind, name: objectName, namespace: args.namespace },
        declared as Record<string, unknown>,
        provider,
      );
    const quotaSpec = { hard: stageQuota(args.quota, args.services.allowTypes) };
    const quota = new k8s.core.v1.ResourceQuota(
      `${name}-quota`,
      {
        metadata: {
          name: "stage-quota",
          namespace: this.name,
          labels,
          annotations: own("v1", "ResourceQuota", "stage-quota", { spec: quotaSpec }),
        },
        spec: quotaSpec,
      },
      inNamespace,
    );

    const limitsSpec = {
      limits: [
        {
          type: "Container",
          defaultRequest: limitRangeResources(args.containerRequests),
          default: limitRangeResources(args.containerLimits),
        },
      ],
    };
    const limits = new k8s.core.v1.LimitRange(
      `${name}-limits`,
      {
        metadata: {
          name: "stage-defaults",
          namespace: this.name,
          labels,
          annotations: own("v1", "LimitRange", "stage-defaults", { spec: limitsSpec }),
        },
        spec: limitsSpec,
      },
      inNamespace,
    );
    this.guardrails = [namespace, quota, limits];
    if (args.deletable && args.teardownNamespace) {
      // Everything that waits for the guardrails (deployer, Tiller, releases) is deleted first.
      this.guardrails.push(
        new StageTeardown(
          `${name}-teardown`,
          { namespace: this.name, context: args.adminContext, deleteNamespace: true },
          // (No provider: a dynamic resource handed the Kubernetes provider is sent to the wrong
          // plugin -- "unrecognized resource type" at the first access-mode up.)
          { parent: this, dependsOn: [namespace] },
        ),
      );
    }

    if (args.isolateNetwork) {
      // Selects every pod; allows ingress only from pods of the same namespace.
      const spec = {
        podSelector: {},
        policyTypes: ["Ingress"],
        ingress: [{ from: [{ podSelector: {} }] }],
      };
      this.guardrails.push(
        new k8s.networking.v1.NetworkPolicy(
          `${name}-isolation`,
          {
            metadata: {
              name: "stage-isolation",
              namespace: this.name,
              labels,
              annotations: own("networking.k8s.io/v1", "NetworkPolicy", "stage-isolation", {
                spec,
              }),
            },
            spec,
          },
          inNamespace,
        ),
      );
    }

    if (args.egress.isolate) {
      // Selects every pod; egress only to the namespace, cluster DNS and the stage's allowances
      // (the metadata address excepted from each). Only where the network plugin enforces it.
      const spec = {
        podSelector: {},
        policyTypes: ["Egress"],
        egress: egressRules(args.egress.allow),
      };
      this.guardrails.push(
        new k8s.networking.v1.NetworkPolicy(
          `${name}-egress`,
          {
            metadata: {
              name: "stage-egress",
              namespace: this.name,
              labels,
              annotations: own("networking.k8s.io/v1", "NetworkPolicy", "stage-egress", { spec }),
            },
            spec,
          },
          inNamespace,
        ),
      );
    }

    const admission = new AdmissionGuardrails(
      `${name}-admission`,
      {
        stage: args.stage,
        namespace: args.namespace,
        services: args.services,
        ingress: args.ingress,
        workloads: args.workloads,
        disruptionBudgets: args.disruptionBudgets,
        gateway: args.gateway,
        ciIdentities: args.ciIdentities,
        provider,
      },
      { parent: this, dependsOn: [namespace] },
    );
    this.guardrails.push(...admission.resources);

    this.registerOutputs({ name: this.name });
  }
}
