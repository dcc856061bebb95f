// What one identity wrote, from an API server audit log (audit.k8s.io/v1 Events, one JSON object a
// line): pure filtering, no I/O. An OIDC build is its username (`oidc:<job>#<build>`); a
// ServiceAccount token is its credential ID (user.extra `authentication.kubernetes.io/credential-id`).
import { OIDC_USERNAME_PREFIX } from "./credentials";

export const CREDENTIAL_ID_KEY = "authentication.kubernetes.io/credential-id";
const WRITE_VERBS = new Set(["create", "update", "patch", "delete", "deletecollection"]);

export interface AuditQuery {
  /** `<job URL>#<build number>` (OIDC). */
  readonly build?: string;
  /** `JTI=<jti>` (token kinds). */
  readonly credentialId?: string;
  /** Only writes in this namespace (the stage's). */
  readonly namespace?: string;
  /** Epoch milliseconds, inclusive. */
  readonly since?: number;
  readonly until?: number;
}

export interface AuditWrite {
  readonly time: string;
  readonly verb: string;
  readonly resource: string;
  readonly namespace: string | null;
  readonly name: string | null;
  readonly code: number | null;
}

/** The writes that match `query`, in log order (one per request: the ResponseComplete event). */
export function auditWrites(lines: Iterable<string>, query: AuditQuery): AuditWrite[] {
  if (!query.build && !query.credentialId) throw new Error("name a build or a credential ID");
  const out: AuditWrite[] = [];
  for (const line of lines) {
    if (!line.trim()) continue;
    let e: any; // eslint-disable-line @typescript-eslint/no-explicit-any
    try {
      e = JSON.parse(line);
    } catch {
      continue; // not an event (a truncated last line, a header of an export)
    }
    if (e?.kind !== "Event" || e.stage !== "ResponseComplete" || !WRITE_VERBS.has(e.verb)) continue;
    if (query.build && e.user?.username !== `${OIDC_USERNAME_PREFIX}${query.build}`) continue;
    if (
      query.credentialId &&
      !(e.user?.extra?.[CREDENTIAL_ID_KEY] ?? []).includes(query.credentialId)
    )
      continue;
    const ref = e.objectRef ?? {};
    if (query.namespace && ref.namespace !== query.namespace) continue;
    const time = e.requestReceivedTimestamp ?? e.stageTimestamp;
    const t = Date.parse(time);
    if (
      (query.since !== undefined && t < query.since) ||
      (query.until !== undefined && t > query.until)
    )
      continue;
    out.push({
      time,
      verb: e.verb,
      // With the subresource: a TokenRequest (serviceaccounts/token) is not a ServiceAccount.
      resource:
        `${ref.resource ?? "?"}${ref.apiGroup ? `.${ref.apiGroup}` : ""}` +
        (ref.subresource ? `/${ref.subresource}` : ""),
      namespace: ref.namespace ?? null,
      name: ref.name ?? null,
      code: e.responseStatus?.code ?? null,
    });
  }
  return out;
}

/** The identity the API server reports for a credential (SelfSubjectReview's status.userInfo). */
export interface ReviewedUser {
  readonly username?: string;
  readonly extra?: Record<string, readonly string[]>;
}

/**
 * How `scoped-cd audit` finds what this identity wrote: an OIDC build by its username, a
 * ServiceAccount token by its credential ID; undefined for an identity the log names otherwise.
 */
export function auditSelectorOf(
  user: ReviewedUser,
): { build: string } | { credentialId: string } | undefined {
  const name = user.username ?? "";
  if (name.startsWith(OIDC_USERNAME_PREFIX))
    return { build: name.slice(OIDC_USERNAME_PREFIX.length) };
  const id = user.extra?.[CREDENTIAL_ID_KEY]?.[0];
  return id ? { credentialId: id } : undefined;
}

/** The one command that lists this identity's writes in a stage namespace. */
export function auditCommand(user: ReviewedUser, namespace?: string): string | undefined {
  const sel = auditSelectorOf(user);
  if (!sel) return undefined;
  const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  const flag =
    "build" in sel ? `--build ${quote(sel.build)}` : `--credential-id ${sel.credentialId}`;
  return `scoped-cd audit --log <the API server's audit log> ${flag}${namespace ? ` --namespace ${namespace}` : ""}`;
}
