// The state backend's cost (issue 21): the same stacks on the file backend and on PostgreSQL
// (hack/postgres.sh on the bench instance), measured in one run so the ratio cancels machine noise:
// an access `up` of N stages (create), a one-stage delivery preview without changes and a delivery
// `up` of one values change. Each backend gets its own work dir and stacks; nothing is shared.
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { LocalWorkspace, Stack } from "@pulumi/pulumi/automation";
import * as yaml from "js-yaml";
import { run, timed } from "./proc";
import { BENCH_DIR, BENCH_PASSPHRASE, qualified, REPO } from "./stacks";
import { ratios, Row } from "./stats";

type Backend = "file" | "postgres";

interface Sample {
  access: number;
  preview: number;
  up: number;
}

/** The PostgreSQL of the bench instance (its own port, beside the bench cluster): started, its URL (no password) and pgpass file. */
async function postgresEnv(): Promise<Record<string, string>> {
  const script = path.join(REPO, "hack", "postgres.sh");
  const instance = { SCOPED_CD_CLUSTER: "bench" };
  await run("bash", [script, "start"], { env: instance, timeoutSeconds: 120 });
  const env = (await run("bash", [script, "env"], { env: instance })).stdout;
  const get = (k: string) => new RegExp(`^export ${k}="([^"]*)"$`, "m").exec(env)![1];
  return { PULUMI_BACKEND_URL: get("SCOPED_CD_POSTGRES_URL"), PGPASSFILE: get("PGPASSFILE") };
}

async function workDirFor(backend: Backend, env: Record<string, string>): Promise<LocalWorkspace> {
  const dir = path.join(BENCH_DIR, `backend-${backend}`);
  fs.mkdirSync(dir, { recursive: true });
  fs.copyFileSync(path.join(REPO, "Pulumi.yaml"), path.join(dir, "Pulumi.yaml"));
  for (const entry of ["bin", "node_modules", "charts", "package.json"]) {
    const link = path.join(dir, entry);
    if (!fs.existsSync(link)) fs.symlinkSync(path.join(REPO, entry), link);
  }
  // The bench's copy of the chart (main.ts prepareChart): a values change makes no rollout.
  const charts = path.join(dir, "bench-charts");
  if (!fs.existsSync(charts)) fs.symlinkSync(path.join(BENCH_DIR, "charts"), charts);
  return LocalWorkspace.create({
    workDir: dir,
    envVars: { PULUMI_CONFIG_PASSPHRASE: BENCH_PASSPHRASE, ...env },
  });
}

function setConfig(ws: LocalWorkspace, stack: string, config: Record<string, unknown>) {
  const file = path.join(ws.workDir, `Pulumi.${stack}.yaml`);
  const doc = (fs.existsSync(file) ? (yaml.load(fs.readFileSync(file, "utf8")) ?? {}) : {}) as {
    config?: unknown;
  };
  doc.config = Object.fromEntries(Object.entries(config).map(([k, v]) => [`scoped-cd:${k}`, v]));
  fs.writeFileSync(file, yaml.dump(doc));
}

/** One sample on one backend: fresh stacks, measured, then their namespaces and state removed. */
async function sample(
  ws: LocalWorkspace,
  stages: number,
  admin: string,
  progress: (l: string) => void,
): Promise<Sample> {
  const id = crypto.randomBytes(2).toString("hex");
  const ns = (i: number) => `bench-be-${id}-${i}`;
  const accessName = `bench-be-access-${id}`;
  const deliveryName = `bench-be-d-${id}`;
  const access = await Stack.create(accessName, ws);
  setConfig(ws, accessName, {
    mode: "access",
    cluster: { name: "local" },
    stages: Object.fromEntries(
      Array.from({ length: stages }, (_, i) => [`s${i}`, { namespace: ns(i), deletable: true }]),
    ),
  });
  const delivery = await Stack.create(deliveryName, ws);
  const deliveryConfig = (greeting: string) => ({
    mode: "delivery",
    cluster: { name: "local" },
    accessStack: qualified(accessName),
    stages: {
      s0: {
        namespace: ns(0),
        releases: { storefront: { chart: "./bench-charts/storefront", values: { greeting } } },
      },
    },
  });
  try {
    const a = await timed(() => access.up({ color: "never" }));
    setConfig(ws, deliveryName, deliveryConfig("first"));
    await delivery.up({ color: "never" });
    const p = await timed(() => delivery.preview({ color: "never" }));
    setConfig(ws, deliveryName, deliveryConfig(`change ${id}`));
    const u = await timed(() => delivery.up({ color: "never" }));
    return { access: a.seconds, preview: p.seconds, up: u.seconds };
  } finally {
    const names = Array.from({ length: stages }, (_, i) => ns(i));
    await run("kubectl", ["--kubeconfig", admin, "delete", "namespace", "--wait=false", ...names], {
      ok: [0, 1],
    }).catch((err) => progress(`  cleanup: ${String(err)}`));
    for (const s of [deliveryName, accessName]) {
      await ws.removeStack(s, { force: true }).catch(() => undefined);
    }
  }
}

/**
 * Delivery preview/up and access up at `stages` stages on the file backend and on PostgreSQL,
 * alternating within each run; rows of seconds and the PostgreSQL / file ratios.
 */
export async function benchBackend(
  opts: { runs: number; warmup: number },
  stages: number,
  admin: string,
  progress: (l: string) => void,
): Promise<Row[]> {
  const file = await workDirFor("file", {
    PULUMI_BACKEND_URL: `file://${path.join(BENCH_DIR, "state-backend")}`,
  });
  fs.mkdirSync(path.join(BENCH_DIR, "state-backend"), { recursive: true });
  const pg = await workDirFor("postgres", await postgresEnv());
  progress(`== backend: file vs PostgreSQL, access up at ${stages} stages, delivery preview/up`);
  const samples: Record<Backend, Sample[]> = { file: [], postgres: [] };
  for (let i = 0; i < opts.warmup + opts.runs; i++) {
    const label = i < opts.warmup ? "warm-up" : `run ${i - opts.warmup + 1}/${opts.runs}`;
    for (const [backend, ws] of [
      ["file", file],
      ["postgres", pg],
    ] as const) {
      const s = await sample(ws, stages, admin, progress);
      progress(
        `  ${backend} ${label}: access up ${s.access.toFixed(1)}s, preview ${s.preview.toFixed(1)}s, up ${s.up.toFixed(1)}s`,
      );
      if (i >= opts.warmup) samples[backend].push(s);
    }
  }
  const col = (b: Backend, k: keyof Sample) => samples[b].map((s) => s[k]);
  const rows: Row[] = [];
  for (const [k, what] of [
    ["access", `access up, ${stages} stages`],
    ["preview", "delivery preview, no change"],
    ["up", "delivery up, one values change"],
  ] as const) {
    rows.push(
      { name: `${what}: file backend`, values: col("file", k) },
      { name: `${what}: PostgreSQL`, values: col("postgres", k) },
      {
        name: `ratio ${what}: PostgreSQL / file`,
        values: ratios(col("postgres", k), col("file", k)),
        unit: "x",
      },
    );
  }
  return rows;
}
