// Probes of the admission guardrails as pure data: objects the stage's scoped identity sends as
// server-side dry-run creates (nothing is persisted). Each refused probe breaks exactly one rule
// that no stage setting relaxes, so a missing, weakened or unbound policy shows up whatever the
// stage's configuration; the admitted ones catch a policy that refuses everything.
import { ACCESS_LAYER_LABEL, API_EGRESS_LABEL, RULE_PREFIX } from "./admission";

export interface AdmissionProbe {
  /** What is tried, as a sentence. */
  readonly description: string;
  /** `refused`: the API server must deny it with `scoped-cd guardrail <rule>:`. */
  readonly expect: "refused" | "admitted";
  /** The rule whose message the refusal carries. */
  readonly rule?: string;
  readonly object: Record<string, unknown>;
}

/** The text a refusal by `rule` contains. */
export const refusalText = (rule: string) => `${RULE_PREFIX} ${rule}:`;

const podSpec = (extra: Record<string, unknown> = {}) => ({
  automountServiceAccountToken: false,
  securityContext: {
    runAsNonRoot: true,
    runAsUser: 101,
    seccompProfile: { type: "RuntimeDefault" },
  },
  containers: [
    {
      name: "probe",
      image: "registry.invalid/probe:1",
      securityContext: {
        allowPrivilegeEscalation: false,
        capabilities: { drop: ["ALL"] },
      },
    },
  ],
  ...extra,
});
const deployment = (namespace: string, name: string, spec: Record<string, unknown>) => ({
  apiVersion: "apps/v1",
  kind: "Deployment",
  metadata: { name, namespace },
  spec: {
    replicas: 1,
    selector: { matchLabels: { probe: name } },
    template: { metadata: { labels: { probe: name } }, spec },
  },
});

/** The probes for one stage namespace; `id` makes names unique per run. */
export function admissionProbes(namespace: string, id: string): AdmissionProbe[] {
  const name = (what: string) => `scoped-cd-probe-${what}-${id}`;
  const meta = (what: string) => ({ name: name(what), namespace });
  return [
    {
      description: "a ClusterIP Service",
      expect: "admitted",
      object: {
        apiVersion: "v1",
        kind: "Service",
        metadata: meta("svc"),
        spec: { ports: [{ port: 80 }] },
      },
    },
    {
      description: "an ordinary Deployment",
      expect: "admitted",
      object: deployment(namespace, name("deploy"), podSpec()),
    },
    {
      description: "a rewrite of the namespace's cluster CA (kube-root-ca.crt)",
      expect: "refused",
      rule: "identities.clusterCA",
      object: {
        apiVersion: "v1",
        kind: "ConfigMap",
        metadata: { name: "kube-root-ca.crt", namespace },
        data: { "ca.crt": "not the cluster CA" },
      },
    },
    {
      description: "a claim naming a PersistentVolume",
      expect: "refused",
      rule: "volumes.volumeName",
      object: {
        apiVersion: "v1",
        kind: "PersistentVolumeClaim",
        metadata: meta("pvc"),
        spec: {
          accessModes: ["ReadWriteOnce"],
          resources: { requests: { storage: "1Gi" } },
          volumeName: "someone-elses-volume",
        },
      },
    },
    {
      description: "a Service with externalIPs (CVE-2020-8554)",
      expect: "refused",
      rule: "services.externalIPs",
      object: {
        apiVersion: "v1",
        kind: "Service",
        metadata: meta("extip"),
        spec: { ports: [{ port: 80 }], externalIPs: ["203.0.113.10"] },
      },
    },
    {
      description: "an Ingress with a catch-all defaultBackend",
      expect: "refused",
      rule: "ingress.defaultBackend",
      object: {
        apiVersion: "networking.k8s.io/v1",
        kind: "Ingress",
        metadata: meta("catchall"),
        spec: { defaultBackend: { service: { name: "x", port: { number: 80 } } } },
      },
    },
    {
      description: "an Ingress with an nginx configuration-snippet",
      expect: "refused",
      rule: "ingress.annotations",
      object: {
        apiVersion: "networking.k8s.io/v1",
        kind: "Ingress",
        metadata: {
          ...meta("snippet"),
          annotations: { "nginx.ingress.kubernetes.io/configuration-snippet": "return 200;" },
        },
        spec: {
          rules: [
            {
              http: {
                paths: [
                  {
                    path: "/",
                    pathType: "Prefix",
                    backend: { service: { name: "x", port: { number: 80 } } },
                  },
                ],
              },
            },
          ],
        },
      },
    },
    {
      description: "a Deployment with priorityClassName system-node-critical",
      expect: "refused",
      rule: "workloads.priorityClassName",
      object: deployment(
        namespace,
        name("prio"),
        podSpec({ priorityClassName: "system-node-critical" }),
      ),
    },
    {
      description: "a StatefulSet pinned to a node (nodeName)",
      expect: "refused",
      rule: "workloads.nodeName",
      object: {
        apiVersion: "apps/v1",
        kind: "StatefulSet",
        metadata: meta("node"),
        spec: {
          serviceName: "x",
          selector: { matchLabels: { probe: "node" } },
          template: { metadata: { labels: { probe: "node" } }, spec: podSpec({ nodeName: "any" }) },
        },
      },
    },
    {
      description: "a CronJob tolerating every taint",
      expect: "refused",
      rule: "workloads.tolerations",
      object: {
        apiVersion: "batch/v1",
        kind: "CronJob",
        metadata: meta("tol"),
        spec: {
          schedule: "0 0 1 1 *",
          jobTemplate: {
            spec: {
              template: {
                spec: podSpec({ restartPolicy: "Never", tolerations: [{ operator: "Exists" }] }),
              },
            },
          },
        },
      },
    },
    {
      description: "a PodDisruptionBudget with maxUnavailable 0",
      expect: "refused",
      rule: "disruptionBudgets.maxUnavailable",
      object: {
        apiVersion: "policy/v1",
        kind: "PodDisruptionBudget",
        metadata: meta("pdb"),
        spec: { maxUnavailable: 0, selector: { matchLabels: { probe: "pdb" } } },
      },
    },
    {
      description: "a legacy token Secret for the default ServiceAccount",
      expect: "refused",
      rule: "identities.tokenSecret",
      object: {
        apiVersion: "v1",
        kind: "Secret",
        metadata: {
          ...meta("token"),
          annotations: { "kubernetes.io/service-account.name": "default" },
        },
        type: "kubernetes.io/service-account-token",
      },
    },
    {
      description: "a ConfigMap claiming to belong to the access layer (its label)",
      expect: "refused",
      rule: "access.owned",
      object: {
        apiVersion: "v1",
        kind: "ConfigMap",
        metadata: {
          ...meta("owned"),
          labels: { [ACCESS_LAYER_LABEL.key]: ACCESS_LAYER_LABEL.value },
        },
      },
    },
    {
      description: "a ConfigMap with a finalizer no controller removes",
      expect: "refused",
      rule: "access.finalizers",
      object: {
        apiVersion: "v1",
        kind: "ConfigMap",
        metadata: { ...meta("finalizer"), finalizers: ["example.com/stall"] },
      },
    },
    {
      description: "a ServiceAccount named like a deployer identity",
      expect: "refused",
      rule: "access.reservedName",
      object: {
        apiVersion: "v1",
        kind: "ServiceAccount",
        metadata: { name: `deployer-probe-${id}`, namespace },
      },
    },
    {
      description: "a Deployment running as the tiller ServiceAccount",
      expect: "refused",
      rule: "identities.serviceAccountName",
      object: deployment(namespace, name("asid"), podSpec({ serviceAccountName: "tiller" })),
    },
    {
      description: "a Job whose pods carry Tiller's API-server egress label",
      expect: "refused",
      rule: "identities.apiEgressLabel",
      object: {
        apiVersion: "batch/v1",
        kind: "Job",
        metadata: meta("apiegress"),
        spec: {
          template: {
            metadata: { labels: { [API_EGRESS_LABEL]: "tiller" } },
            spec: { ...podSpec(), restartPolicy: "Never" },
          },
        },
      },
    },
  ];
}
