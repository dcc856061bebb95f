// Value types shared by every section of the configuration schema.
import { z } from "zod";

export const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
export const DNS1123_MESSAGE =
  "must be a DNS-1123 label: lowercase letters, digits and '-', starting and ending with a letter or digit";
// Kubernetes resource.Quantity, e.g. "500m", "2", "4Gi", "1e3".
export const QUANTITY = /^[+-]?(\d+(\.\d*)?|\.\d+)([KMGTPE]i|[numkMGTPE]|[eE][+-]?\d+)?$/;
// ResourceQuota `hard` keys: plain compute names, requests./limits. prefixed, object counts.
export const QUOTA_KEY =
  /^((requests\.|limits\.)?(cpu|memory|storage|ephemeral-storage)|pods|services|services\.loadbalancers|services\.nodeports|secrets|configmaps|persistentvolumeclaims|replicationcontrollers|resourcequotas|count\/[a-z0-9.-]+)$/;
// A stack name as `pulumi stack` accepts it, optionally org/project-qualified.
export const STACK_NAME = /^([A-Za-z0-9_.-]+\/){0,2}[A-Za-z0-9_.-]+$/;

export const dnsLabel = (max: number) =>
  z.string().max(max, `must be at most ${max} characters`).regex(DNS1123_LABEL, DNS1123_MESSAGE);

export const quantity = z
  .union([z.string(), z.number()])
  .transform(String)
  .refine((q) => QUANTITY.test(q), 'must be a Kubernetes quantity such as "500m", "2" or "4Gi"');

export const stackName = z
  .string()
  .regex(STACK_NAME, "must be a stack name such as prod or org/scoped-cd/prod");
