// ResourceQuota defaults: every object a chart can multiply is counted, so one stage cannot fill
// etcd (about 2,500 ConfigMaps of 1 MB fill its default 2 GiB and stop every write in the
// cluster) or exhaust cluster-wide node ports and load balancers. A stage overrides any value.

/** A default quota entry and why it is there (listed in docs/configuration.md "Quota defaults"). */
export interface QuotaDefault {
  readonly value: string;
  readonly why: string;
}

export const QUOTA_DEFAULTS: Readonly<Record<string, QuotaDefault>> = {
  "requests.cpu": { value: "2", why: "compute the stage may reserve" },
  "requests.memory": { value: "4Gi", why: "memory the stage may reserve" },
  "limits.cpu": { value: "4", why: "compute the stage may burst to" },
  "limits.memory": { value: "8Gi", why: "memory the stage may burst to" },
  "requests.ephemeral-storage": {
    value: "10Gi",
    why: "node disk (writable layers, logs, emptyDirs) the stage may reserve",
  },
  "limits.ephemeral-storage": {
    value: "20Gi",
    why: "node disk the stage may fill: 20 pods at the default 1Gi container limit",
  },
  "requests.storage": { value: "50Gi", why: "storage all PersistentVolumeClaims may request" },
  pods: { value: "20", why: "pods (each also holds node resources and an IP)" },
  persistentvolumeclaims: { value: "10", why: "volumes the stage may claim" },
  configmaps: { value: "50", why: "each may hold 1 MB of etcd" },
  secrets: {
    value: "100",
    why: "each may hold 1 MB of etcd; Helm keeps one Secret per release revision (history 10)",
  },
  services: { value: "20", why: "each takes a cluster IP and endpoints" },
  "count/serviceaccounts": { value: "20", why: "identities a chart may create" },
  "count/deployments.apps": { value: "20", why: "workloads" },
  "count/replicasets.apps": {
    value: "200",
    why: "Deployments keep 10 old ReplicaSets each by default",
  },
  "count/statefulsets.apps": { value: "10", why: "workloads" },
  "count/jobs.batch": { value: "50", why: "Helm hooks and CronJob runs" },
  "count/cronjobs.batch": { value: "10", why: "each creates Jobs on its own" },
  "count/ingresses.networking.k8s.io": {
    value: "20",
    why: "each configures the shared controller",
  },
  "count/poddisruptionbudgets.policy": { value: "20", why: "each constrains node drains" },
  "count/horizontalpodautoscalers.autoscaling": { value: "20", why: "each scales a workload" },
  "count/roles.rbac.authorization.k8s.io": {
    value: "10",
    why: "the stage's own Roles count too (deployer, Tiller)",
  },
  "count/rolebindings.rbac.authorization.k8s.io": {
    value: "10",
    why: "the stage's own RoleBindings count too (deployer, Tiller)",
  },
};

/** The defaults as a ResourceQuota `hard` map. */
export const DEFAULT_QUOTA: Readonly<Record<string, string>> = Object.fromEntries(
  Object.entries(QUOTA_DEFAULTS).map(([k, d]) => [k, d.value]),
);

/**
 * The quota a stage gets: its (already merged) quota, plus zero node ports and load balancers
 * unless the stage allows those Service types (a LoadBalancer normally allocates node ports too).
 * A value the stage set explicitly is kept.
 */
export function stageQuota(
  quota: Readonly<Record<string, string>>,
  allowServiceTypes: readonly string[],
): Record<string, string> {
  const out: Record<string, string> = { ...quota };
  const lb = allowServiceTypes.includes("LoadBalancer");
  if (!lb && !allowServiceTypes.includes("NodePort")) out["services.nodeports"] ??= "0";
  if (!lb) out["services.loadbalancers"] ??= "0";
  return out;
}
