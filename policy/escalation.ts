// What a change to a Role's rules grants or takes away, for a reviewer: the rules before and after
// are split into single permissions (group, resource, verb, names), a permission counts as added
// only when no rule before covered it (and removed only when no rule after does), with the API
// server's own matching (policy/rbac.ts ruleCovers), and each addition is named by the escalation
// classes it carries.
import { EscalationClass, escalationClasses, normalizeRules, PolicyRule, ruleCovers } from "./rbac";

/** One verb on one resource of one API group (optionally only on the named objects). */
export interface Permission {
  readonly group: string;
  readonly resource: string;
  readonly verb: string;
  readonly resourceNames?: readonly string[];
}

/**
 * Classes a reviewer should see named on an addition besides the ones a deployer Role must not
 * carry (policy/rbac.ts): writing Roles/RoleBindings hands the deployer's rights to other
 * identities of the namespace (allowRbac).
 */
export type DeltaClass = EscalationClass | "rbac";

export interface PermissionChange extends Permission {
  /** Escalation classes of an added permission (empty for a removal or a harmless addition). */
  readonly classes: readonly DeltaClass[];
}

export interface RuleDelta {
  /** Normalized rules before (empty: there was no Role) and after (empty: the Role goes). */
  readonly before: readonly PolicyRule[];
  readonly after: readonly PolicyRule[];
  readonly added: readonly PermissionChange[];
  readonly removed: readonly PermissionChange[];
}

const RBAC_WRITE_VERBS = ["create", "update", "patch", "*"];

/** The permissions a rule set grants, one per (group, resource, verb), in a stable order. */
export function permissionsOf(rules: readonly PolicyRule[]): Permission[] {
  const out: Permission[] = [];
  for (const rule of normalizeRules(rules)) {
    for (const group of rule.apiGroups)
      for (const resource of rule.resources)
        for (const verb of rule.verbs)
          out.push({
            group,
            resource,
            verb,
            ...(rule.resourceNames?.length ? { resourceNames: rule.resourceNames } : {}),
          });
  }
  return out.sort(comparePermissions);
}

function comparePermissions(a: Permission, b: Permission): number {
  return (
    a.group.localeCompare(b.group) ||
    a.resource.localeCompare(b.resource) ||
    a.verb.localeCompare(b.verb) ||
    (a.resourceNames ?? []).join(",").localeCompare((b.resourceNames ?? []).join(","))
  );
}

/** Does some rule grant the permission (for every object name it names)? */
function covered(rules: readonly PolicyRule[], p: Permission): boolean {
  return rules.some(
    (r) =>
      ruleCovers(r, p.group, p.resource, p.verb) &&
      (!r.resourceNames?.length ||
        (p.resourceNames !== undefined &&
          p.resourceNames.every((n) => r.resourceNames!.includes(n)))),
  );
}

/** The escalation classes one permission carries. */
export function classesOfPermission(p: Permission): DeltaClass[] {
  const rule: PolicyRule = {
    apiGroups: [p.group],
    resources: [p.resource],
    verbs: [p.verb],
    ...(p.resourceNames ? { resourceNames: [...p.resourceNames] } : {}),
  };
  const classes: DeltaClass[] = escalationClasses(rule);
  if (
    ["rbac.authorization.k8s.io", "*"].includes(p.group) &&
    ["roles", "rolebindings", "*"].includes(p.resource) &&
    RBAC_WRITE_VERBS.includes(p.verb)
  ) {
    classes.push("rbac");
  }
  return classes;
}

/** What changes from `before` to `after` (either may be empty: the Role is new, or goes). */
export function diffRules(before: readonly PolicyRule[], after: readonly PolicyRule[]): RuleDelta {
  const b = normalizeRules(before);
  const a = normalizeRules(after);
  return {
    before: b,
    after: a,
    added: permissionsOf(a)
      .filter((p) => !covered(b, p))
      .map((p) => ({ ...p, classes: classesOfPermission(p) })),
    removed: permissionsOf(b)
      .filter((p) => !covered(a, p))
      .map((p) => ({ ...p, classes: [] })),
  };
}

/** `pods/exec` (core group) or `apps/deployments`, with `[names]` when limited to some objects. */
export function permissionResource(p: Permission): string {
  const names = p.resourceNames?.length ? `[${p.resourceNames.join(",")}]` : "";
  return `${p.group === "" ? "" : `${p.group}/`}${p.resource}${names}`;
}

/** Group changes by resource for a short listing: `pods/exec: create, get`. */
export function byResource(
  changes: readonly PermissionChange[],
): { resource: string; verbs: string[]; classes: DeltaClass[] }[] {
  const grouped = new Map<string, { resource: string; verbs: string[]; classes: DeltaClass[] }>();
  for (const c of changes) {
    const resource = permissionResource(c);
    const entry = grouped.get(resource) ?? { resource, verbs: [], classes: [] };
    entry.verbs.push(c.verb);
    for (const cls of c.classes) if (!entry.classes.includes(cls)) entry.classes.push(cls);
    grouped.set(resource, entry);
  }
  return [...grouped.values()];
}
