// The `gateway` admission policy of a stage: Gateway API routes are the Ingress-host problem
// again (a route for another stage's hostname, or with none, takes its traffic; a route attached
// to a shared Gateway is served on every listener of it). The policy is inert until the Gateway
// API CRDs are installed: it matches requests, not types.
import { AdmissionPolicy, AdmissionSettings, hostPatternRegex } from "../admission";
import { celList, rule, says, stageKeys } from "./common";

export const GATEWAY_GROUP = "gateway.networking.k8s.io";
export const ROUTE_RESOURCES = ["httproutes", "grpcroutes", "tlsroutes"];

export function gatewayPolicy(s: AdmissionSettings): AdmissionPolicy {
  const { relax } = stageKeys(s);
  const hosts = celList(s.gateway.allowHosts.map(hostPatternRegex));
  const parents = celList(s.gateway.allowParents);
  return {
    class: "gateway",
    resourceRules: [rule([GATEWAY_GROUP], ROUTE_RESOURCES)],
    validations: [
      {
        // Group and kind default to the Gateway API's Gateway; the namespace to the route's.
        expression:
          "!has(object.spec.parentRefs) || object.spec.parentRefs.all(p, " +
          `(!has(p.group) || p.group == "${GATEWAY_GROUP}") && (!has(p.kind) || p.kind == "Gateway") && ` +
          `((has(p.namespace) ? p.namespace : request.namespace) + "/" + p.name) in ${parents})`,
        message: says(
          "gateway.parentRefs",
          `a route may attach only to the stage's allowed Gateways (${s.gateway.allowParents.join(", ") || "none"}; never a Service)`,
          relax("gateway.allowParents"),
        ),
        reason: "Forbidden",
      },
      {
        // A route without hostnames takes every hostname of the Gateway's listeners.
        expression:
          "has(object.spec.hostnames) && size(object.spec.hostnames) > 0 && " +
          `object.spec.hostnames.all(h, ${hosts}.exists(p, h.matches(p)))`,
        message: says(
          "gateway.hostnames",
          `a route needs hostnames, each matching the stage's allowed host patterns (${s.gateway.allowHosts.join(", ") || "none"})`,
          relax("gateway.allowHosts"),
        ),
        reason: "Forbidden",
      },
    ],
  };
}
