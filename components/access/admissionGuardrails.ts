import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { AdmissionSettings, policyName } from "../../policy/admission";
import { guardrailPolicy } from "../../policy/admissionPolicies";
import { authoritativeAnnotations } from "./authoritative";
import { stageLabels } from "./labels";

export interface AdmissionGuardrailsArgs extends AdmissionSettings {
  /** The admin provider; access-layer resources only. */
  readonly provider: k8s.Provider;
}

/**
 * The stage's ValidatingAdmissionPolicy and its binding (policy/admission.ts; every class merged into
 * one policy, policy/admissionPolicies/merged.ts): they refuse the fields RBAC cannot (externalIPs,
 * foreign Ingress hosts, control-plane scheduling, …). Both are
 * cluster-scoped objects only the admin can edit; the bindings select the stage namespace by
 * `kubernetes.io/metadata.name`, a label the API server sets from the name and nobody can change.
 */
export class AdmissionGuardrails extends pulumi.ComponentResource {
  /** Policies and bindings; releases wait for them. */
  public readonly resources: pulumi.Resource[] = [];

  constructor(name: string, args: AdmissionGuardrailsArgs, opts?: pulumi.ComponentResourceOptions) {
    super("scoped-cd:access:AdmissionGuardrails", name, {}, opts);
    const provider = args.provider;
    const labels = stageLabels(args.stage, "admission");
    const namespaceSelector = {
      matchExpressions: [
        { key: "kubernetes.io/metadata.name", operator: "In", values: [args.namespace] },
      ],
    };
    const p = guardrailPolicy(args);
    const objectName = policyName(args.namespace, p.class);
    const policySpec = {
      // A policy that cannot be evaluated refuses rather than admits.
      failurePolicy: "Fail",
      matchConstraints: {
        matchPolicy: "Equivalent",
        namespaceSelector,
        resourceRules: p.resourceRules,
      },
      matchConditions: p.matchConditions,
      variables: p.variables,
      validations: p.validations,
    };
    const api = "admissionregistration.k8s.io/v1";
    const policy = new k8s.admissionregistration.v1.ValidatingAdmissionPolicy(
      `${name}-${p.class}`,
      {
        metadata: {
          name: objectName,
          labels,
          annotations: authoritativeAnnotations(
            { apiVersion: api, kind: "ValidatingAdmissionPolicy", name: objectName },
            { spec: policySpec },
            provider,
          ),
        },
        spec: policySpec,
      },
      { parent: this, provider },
    );
    const bindingSpec = {
      policyName: objectName,
      validationActions: ["Deny"],
      matchResources: { namespaceSelector },
    };
    const binding = new k8s.admissionregistration.v1.ValidatingAdmissionPolicyBinding(
      `${name}-${p.class}-binding`,
      {
        metadata: {
          name: objectName,
          labels,
          annotations: authoritativeAnnotations(
            { apiVersion: api, kind: "ValidatingAdmissionPolicyBinding", name: objectName },
            { spec: bindingSpec },
            provider,
          ),
        },
        spec: bindingSpec,
      },
      { parent: this, provider, dependsOn: [policy] },
    );
    this.resources.push(policy, binding);
    this.registerOutputs({});
  }
}
