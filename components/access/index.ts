// The access layer: everything declared with the admin provider.
export { adminAccess, AdminAccess, AdminAccessArgs } from "./adminProvider";
export { AdmissionGuardrails, AdmissionGuardrailsArgs } from "./admissionGuardrails";
export { DeployerAccess, DeployerAccessArgs } from "./deployerAccess";
export { ScopedNamespace, ScopedNamespaceArgs } from "./scopedNamespace";
export { HELM_V2_WARNING, Tiller, TillerArgs } from "./tiller";
export { TokenRequest, TokenRequestArgs } from "./tokenRequest";
