// The admission policies of one stage, one builder per policy class. The order and every
// policy's content are what existing stacks hold (test/unit/admissionPolicies.test.ts compares
// them with a snapshot): a change here replaces or rewrites live policies.
import type { AdmissionPolicy, AdmissionSettings } from "../admission";
import { accessPolicy } from "./access";
import { disruptionPolicy } from "./disruption";
import { gatewayPolicy } from "./gateway";
import { identitiesPolicy } from "./identities";
import { ingressPolicy } from "./ingress";
import { mergePolicies } from "./merged";
import { rbacPolicy } from "./rbac";
import { servicesPolicy } from "./services";
import { volumesPolicy } from "./volumes";
import { workloadsPolicy } from "./workloads";

export const POLICY_BUILDERS: readonly ((s: AdmissionSettings) => AdmissionPolicy)[] = [
  servicesPolicy,
  ingressPolicy,
  workloadsPolicy,
  disruptionPolicy,
  rbacPolicy,
  identitiesPolicy,
  volumesPolicy,
  accessPolicy,
  // After the snapshot's eight: a stack made before it gains one policy, changes none.
  gatewayPolicy,
];

/** The policies of one stage. */
export function admissionPolicies(s: AdmissionSettings): AdmissionPolicy[] {
  return POLICY_BUILDERS.map((build) => build(s));
}

/**
 * The stage's one ValidatingAdmissionPolicy: every class above, merged (./merged.ts). What the
 * access layer declares; the classes stay the unit of review and of the snapshot test.
 */
export function guardrailPolicy(s: AdmissionSettings): AdmissionPolicy {
  return mergePolicies(admissionPolicies(s));
}
