// The Pulumi state backend a run uses (PULUMI_BACKEND_URL, else `pulumi login`): what kind it is,
// its URL without a password (for messages), masking of its password in any text the CLI prints,
// and a one-line explanation when the backend cannot be reached.
//
// A PostgreSQL URL may carry a password (postgres://user:password@host/db). The Pulumi CLI writes
// the URL as given into $PULUMI_HOME/workspaces/*-workspace.json and prints it in `whoami -v`, so
// the documented way is a URL without one plus PGPASSWORD or PGPASSFILE (libpq's variables, which
// Pulumi's driver reads too); either way, nothing scoped-cd prints shows it.

export type BackendKind = "file" | "postgres" | "s3" | "gcs" | "azblob" | "cloud";

/** The kind of backend a URL names (Pulumi Cloud when it has no DIY scheme). */
export function backendKind(url: string | undefined): BackendKind {
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(url ?? "")?.[1]?.toLowerCase();
  switch (scheme) {
    case "file":
      return "file";
    case "postgres":
    case "postgresql":
      return "postgres";
    case "s3":
      return "s3";
    case "gs":
      return "gcs";
    case "azblob":
      return "azblob";
    default:
      return "cloud";
  }
}

const KIND_NAMES: Record<BackendKind, string> = {
  file: "file",
  postgres: "PostgreSQL",
  s3: "S3",
  gcs: "Google Cloud Storage",
  azblob: "Azure Blob",
  cloud: "Pulumi Cloud",
};

/** `scheme://user:password@` -> `scheme://user:****@`, for every URL in the text. */
function maskUserinfo(text: string): string {
  return text.replace(/\b([a-z][a-z0-9+.-]*:\/\/[^\s:/@"'<>]*):([^\s/@"'<>]+)@/gi, "$1:****@");
}

/**
 * The text with the backend's password masked: in URLs (`user:****@`), and wherever the literal
 * password of PULUMI_BACKEND_URL or PGPASSWORD appears (decoded or not).
 */
export function maskBackendSecrets(text: string, env: NodeJS.ProcessEnv = process.env): string {
  const secrets = new Set<string>();
  const fromUrl = /^[a-z][a-z0-9+.-]*:\/\/[^/@\s]*:([^/@\s]+)@/i.exec(env.PULUMI_BACKEND_URL ?? "");
  if (fromUrl) {
    secrets.add(fromUrl[1]);
    try {
      secrets.add(decodeURIComponent(fromUrl[1]));
    } catch {
      // not percent-encoded: the raw form is masked
    }
  }
  if (env.PGPASSWORD) secrets.add(env.PGPASSWORD);
  let masked = maskUserinfo(text);
  // Longest first, so a secret containing another is masked whole.
  for (const s of [...secrets].filter((s) => s.length >= 4).sort((a, b) => b.length - a.length)) {
    masked = masked.split(s).join("****");
  }
  return masked;
}

/** The URL as messages show it: no password, no query string (which may name a passfile). */
export function displayUrl(url: string): string {
  return maskUserinfo(url).replace(/\?.*$/, "");
}

/** A warning when the backend URL itself carries a password; undefined when it does not. */
export function passwordInUrlWarning(url: string | undefined): string | undefined {
  if (!url || backendKind(url) !== "postgres") return undefined;
  if (!/^[a-z]+:\/\/[^/@\s]*:[^/@\s]+@/i.test(url)) return undefined;
  return (
    `the backend URL ${displayUrl(url)} carries a password, which the Pulumi CLI writes in clear ` +
    `into $PULUMI_HOME/workspaces/*-workspace.json; pass the URL without it and the password as ` +
    `PGPASSWORD (Jenkins: withCredentials) or a PGPASSFILE`
  );
}

/** Pulumi's words when a DIY backend cannot be reached or gave way during a run. */
const BACKEND_FAILED =
  /unable to open state database|failed to ping PostgreSQL|(?:could not|failed to) (?:save|persist|write|read|load) (?:the )?(?:snapshot|checkpoint)|pq: (?:terminating connection|the database system is (?:shutting down|starting up))|password authentication failed/i;

/**
 * The first line of `failure` that says why the backend failed, or undefined. A refused or broken
 * connection counts only when it names the backend's own host:port (the API server's does not).
 */
export function backendFailureLine(failure: string, url: string): string | undefined {
  const lines = failure.split("\n").map((l) => l.trim());
  const direct = lines.find((l) => BACKEND_FAILED.test(l));
  if (direct) return direct;
  let hostPort: string | undefined;
  try {
    const u = new URL(url);
    hostPort = u.hostname ? `${u.hostname}:${u.port || "5432"}` : undefined;
  } catch {
    return undefined;
  }
  if (!hostPort) return undefined;
  return lines.find(
    (l) =>
      l.includes(hostPort) &&
      /connection refused|i\/o timeout|no such host|bad connection|connection reset/i.test(l),
  );
}

/**
 * One line for a run that failed because the backend could not be reached: which backend, what
 * Pulumi said (masked), and what to do. Undefined when the failure is not about the backend.
 */
export function describeBackendFailure(
  failure: string,
  url: string | undefined,
  stack: string,
  env: NodeJS.ProcessEnv = process.env,
): string | undefined {
  // A file backend's failures are the disk's, and Pulumi Cloud's speak for themselves.
  if (!url || backendKind(url) === "file" || backendKind(url) === "cloud") return undefined;
  const line = backendFailureLine(failure, url);
  if (!line) return undefined;
  const kind = backendKind(url);
  // Only the driver's reason: Pulumi's prefix repeats the URL (masked or not).
  const reason = maskBackendSecrets(
    line.replace(/^error: /, "").replace(/unable to open state database "[^"]*": /, ""),
    env,
  );
  const auth = /password authentication failed/i.test(line)
    ? " Check the credential (PGPASSWORD or PGPASSFILE) the agent was given."
    : "";
  return (
    `the ${KIND_NAMES[kind]} state backend ${displayUrl(url)} could not be reached while running stack ${stack} ` +
    `(${reason}).${auth} Bring the backend back, then rerun scoped-cd deploy: it resumes from the last ` +
    `state the backend recorded; the lock an update cut short leaves is cleared by a rerun on this agent (its holder proven dead), and named with the command on any other.`
  );
}
