// A stack's locks in a DIY backend that scoped-cd can read before it runs: the file backend (lock
// files) and PostgreSQL (rows of Pulumi's state table). Both hold the same lock documents — pid,
// username, hostname, timestamp of the `pulumi` that took the lock — under
// `.pulumi/locks/organization/<project>/<stack>/<id>.json` (PostgreSQL: under `<database>/`), and neither expires them: a lock left
// by a killed agent stays until someone runs `pulumi cancel`. Other backends (S3, GCS, Azure Blob,
// Pulumi Cloud) are not read here; their own refusal says who holds the stack.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { backendKind } from "./backend";
import { fileBackendDir, StackLock, stackLocks } from "./interruptedDeploy";

/** The state table a PostgreSQL backend URL names (`?table=`, default Pulumi's `pulumi_state`). */
export function postgresTable(url: string): string {
  const table = new URL(url).searchParams.get("table") ?? "pulumi_state";
  if (!/^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$/.test(table)) {
    throw new Error(`the backend URL's table "${table}" is not a plain SQL name`);
  }
  return table;
}

/** The connection string for node-postgres: Pulumi's own `table` parameter removed. */
export function postgresConnectionString(url: string): string {
  const u = new URL(url);
  u.searchParams.delete("table");
  return u.toString();
}

/**
 * The key prefix of a stack's lock documents. Pulumi prefixes every key of a non-file DIY backend
 * with the URL's path (for PostgreSQL: the database name, `pulumi/.pulumi/locks/...`).
 */
export function lockPrefix(url: string, project: string, stack: string): string {
  const sub = decodeURIComponent(new URL(url).pathname).replace(/^\/+/, "");
  const prefix = sub === "" || sub.endsWith("/") ? sub : `${sub}/`;
  return `${prefix}.pulumi/locks/organization/${project}/${stack.split("/").pop()!}/`;
}

/** A lock row as Pulumi's PostgreSQL bucket stores it: data = {"data": base64(lock JSON)}. */
export function lockOfRow(key: string, data: unknown): StackLock {
  try {
    const doc = typeof data === "string" ? (JSON.parse(data) as unknown) : data;
    const b64 = (doc as { data?: unknown } | null)?.data;
    const lock = JSON.parse(Buffer.from(String(b64), "base64").toString("utf8")) as Record<
      string,
      unknown
    >;
    return {
      file: key,
      pid: typeof lock.pid === "number" ? lock.pid : undefined,
      hostname: typeof lock.hostname === "string" ? lock.hostname : undefined,
      username: typeof lock.username === "string" ? lock.username : undefined,
      timestamp: typeof lock.timestamp === "string" ? lock.timestamp : undefined,
    };
  } catch {
    return { file: key };
  }
}

/**
 * The password libpq would use for this connection from a pgpass file (PGPASSFILE, else
 * ~/.pgpass): the first `host:port:database:user:password` line that matches (`*` matches any,
 * `\\:` is a colon). Read here, because node-postgres' own pgpass lookup is deprecated.
 */
export function pgpassPassword(
  url: string,
  env: NodeJS.ProcessEnv = process.env,
): string | undefined {
  const file = env.PGPASSFILE || path.join(os.homedir(), ".pgpass");
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch {
    return undefined;
  }
  const u = new URL(url);
  const want = [
    u.hostname || env.PGHOST || "localhost",
    u.port || env.PGPORT || "5432",
    decodeURIComponent(u.pathname.replace(/^\//, "")) || env.PGDATABASE || "",
    decodeURIComponent(u.username) || env.PGUSER || os.userInfo().username,
  ];
  for (const line of text.split("\n")) {
    if (line.trim() === "" || line.startsWith("#")) continue;
    const fields = line.split(/(?<!\\):/).map((f) => f.replace(/\\([:\\])/g, "$1"));
    if (fields.length < 5) continue;
    if (want.every((w, i) => fields[i] === "*" || fields[i] === w)) {
      return fields.slice(4).join(":");
    }
  }
  return undefined;
}

/** A connected node-postgres client for the backend URL (its table parameter removed). */
async function connect(url: string) {
  const { Client } = await import("pg");
  // The password comes from the URL, PGPASSWORD or PGPASSFILE, as for Pulumi's own driver; it
  // goes into the in-memory connection string (node-postgres lets a URL's empty password win).
  const conn = new URL(postgresConnectionString(url));
  const password = conn.password ? undefined : (process.env.PGPASSWORD ?? pgpassPassword(url));
  if (password) conn.password = encodeURIComponent(password);
  const client = new Client({
    connectionString: conn.toString(),
    connectionTimeoutMillis: 10_000,
    query_timeout: 10_000,
  });
  await client.connect();
  return client;
}

/** The stack's locks in a PostgreSQL backend (none when Pulumi has not created its table yet). */
export async function postgresLocks(
  url: string,
  project: string,
  stack: string,
): Promise<StackLock[]> {
  const table = postgresTable(url);
  const client = await connect(url);
  try {
    const exists = await client.query<{ t: string | null }>("SELECT to_regclass($1)::text AS t", [
      table,
    ]);
    if (!exists.rows[0]?.t) return [];
    const prefix = lockPrefix(url, project, stack);
    const rows = await client.query<{ key: string; data: unknown }>(
      `SELECT key, data FROM ${table} WHERE key LIKE $1 ORDER BY key`,
      [`${prefix.replace(/[\\%_]/g, (c) => `\\${c}`)}%`],
    );
    return rows.rows.filter((r) => r.key.endsWith(".json")).map((r) => lockOfRow(r.key, r.data));
  } finally {
    await client.end().catch(() => undefined);
  }
}

/**
 * Remove exactly this lock (its file, or its row), not every lock of the stack as `pulumi cancel`
 * does: a lock another deploy took meanwhile stays. Only for a lock proven dead (lockWitness.ts).
 */
export async function removeLock(url: string, lock: StackLock): Promise<void> {
  if (fileBackendDir(url)) {
    fs.rmSync(lock.file, { force: true });
    return;
  }
  const client = await connect(url);
  try {
    await client.query(`DELETE FROM ${postgresTable(url)} WHERE key = $1`, [lock.file]);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/**
 * The stack's locks, for the backends scoped-cd can read (file, PostgreSQL); undefined for the
 * others, whose `pulumi up` refuses a locked stack by itself.
 */
export async function backendLocks(
  url: string | undefined,
  project: string,
  stack: string,
): Promise<StackLock[] | undefined> {
  const dir = fileBackendDir(url);
  if (dir) return stackLocks(dir, project, stack);
  if (url && backendKind(url) === "postgres") return postgresLocks(url, project, stack);
  return undefined;
}
