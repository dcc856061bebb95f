// What a live object carries beyond its declaration, in the places the Kubernetes provider's
// refresh cannot see: it compares live lists only up to the declared length and live objects only
// at declared keys, so an appended list entry (a wildcard rule added to a Role) or an added
// selector (an objectSelector on a policy binding) leave no diff. Server-set defaults are scalars
// or empty objects, so they are not surplus.

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

/** True for a value that adds something: a non-empty list, or an object with any key. */
const carries = (v: unknown) =>
  Array.isArray(v) ? v.length > 0 : isObject(v) && Object.keys(v).length > 0;

/**
 * Paths where `live` has entries `declared` lacks. `declared` may hold values that are not plain
 * data (Pulumi Outputs): they are leaves.
 */
export function surplus(declared: unknown, live: unknown, at = "$"): string[] {
  if (Array.isArray(declared)) {
    const l = Array.isArray(live) ? live : [];
    const out = l.length > declared.length ? [`${at}[${declared.length}:${l.length}]`] : [];
    declared.forEach((d, i) => out.push(...surplus(d, l[i], `${at}[${i}]`)));
    return out;
  }
  if (isObject(declared) && Object.getPrototypeOf(declared) === Object.prototype) {
    if (!isObject(live)) return [];
    const out: string[] = [];
    for (const [k, v] of Object.entries(live)) {
      if (k in declared) {
        if (declared[k] !== undefined) out.push(...surplus(declared[k], v, `${at}.${k}`));
        else if (carries(v)) out.push(`${at}.${k}`);
      } else if (carries(v)) out.push(`${at}.${k}`);
    }
    return out;
  }
  return [];
}
