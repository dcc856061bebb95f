// Labels that identify what scoped-cd manages, shared by every component.
export const MANAGED_BY = { "app.kubernetes.io/managed-by": "scoped-cd" } as const;

export function stageLabels(stage: string, component: string): Record<string, string> {
  return { ...MANAGED_BY, "scoped-cd.io/stage": stage, "app.kubernetes.io/component": component };
}

/**
 * On objects scoped-cd alone owns (guardrails, RBAC): `pulumi up` takes back fields someone else
 * edited (server-side apply conflicts are forced), so drift on them is undone rather than kept.
 */
export const AUTHORITATIVE = { "pulumi.com/patchForce": "true" } as const;

/**
 * Deleted in the background: the Kubernetes provider's default (foreground) makes the garbage
 * collector wait for every dependent holding `blockOwnerDeletion`, which a revocation must not.
 */
export const BACKGROUND_DELETION = {
  "pulumi.com/deletionPropagationPolicy": "background",
} as const;
