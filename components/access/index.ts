// The access layer: everything declared with the admin provider.
export { adminAccess, AdminAccess, AdminAccessArgs, AdminProvider } from "./adminProvider";
export { LiveCluster, LiveObject, LiveRef } from "./liveCluster";
export { AdmissionGuardrails, AdmissionGuardrailsArgs } from "./admissionGuardrails";
export { DeployerAccess, DeployerAccessArgs } from "./deployerAccess";
export { ScopedNamespace, ScopedNamespaceArgs } from "./scopedNamespace";
export { HELM_V2_WARNING, Tiller, TillerArgs } from "./tiller";
export { TokenRequest, TokenRequestArgs } from "./tokenRequest";
