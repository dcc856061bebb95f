// `npm run bench` (bench/run.sh starts the `bench` cluster instance and exports the toolchain's
// environment, then runs this): what a deploy, a preview and a drift report cost against what a user
// would script instead, and how the access layer grows with stages (issue 13). Every measurement
// has a warm-up and --runs runs; ratios are taken within one run, so machine noise cancels. Progress
// goes to stderr, the table to stdout and bench/results/. Figures are never asserted anywhere.
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { Command } from "commander";
import type { Io } from "../cli/io";
import { upAccessStack } from "../cli/lib/accessUp";
import { SECRET_SIG } from "../cli/lib/exportedOutputs";
import { benchBackend } from "./backend";
import { bareStack } from "./bareFloor";
import { renderScalingPng, ScalingPoint } from "./plot";
import { benchFixedCosts } from "./fixedCosts";
import { longestGaps, previewPhases, readVerboseLog } from "./profile";
import { run, timed, timedWithCpu, timedWithPeakMemory } from "./proc";
import {
  benchWorkspace,
  BENCH_DIR,
  BENCH_ENV,
  benchStack,
  BenchStack,
  qualified,
  REPO,
  WORK_DIR,
} from "./stacks";
import { fitLine, ratios, renderTable, Row, summarize } from "./stats";

const GROUPS = [
  "toolchain",
  "fixed",
  "program",
  "delivery",
  "profile",
  "access",
  "drift",
  "backend",
] as const;
/** The access stack size of the backend group (issue 21: 10 stages). */
const BACKEND_STAGES = 10;
type Group = (typeof GROUPS)[number];

interface Options {
  runs: number;
  warmup: number;
  stages: number[];
  only: Group[];
  results: string;
  /** Also the engine's default checkpointing (the access up before issue 20). */
  checkpointed: boolean;
  /** The largest stage count the default (checkpointed) `up` runs at. */
  checkpointedMax: number;
}

const RESULTS_DIR = path.join(REPO, "bench", "results");
/**
 * The sample chart, copied without its `checksum/config` pod annotation: the values edit then
 * changes the ConfigMap only, no rollout. A rollout would wait for the local cluster's fake
 * kubelet (kwok), whose pod pick-up takes anywhere from 0 to 60 s here, and that wait, the same
 * for both tools, would drown what each tool itself costs.
 */
const CHART = path.join(BENCH_DIR, "charts", "storefront");
const CHART_IN_WORK_DIR = "./bench-charts/storefront";

function prepareChart() {
  fs.rmSync(CHART, { recursive: true, force: true });
  fs.cpSync(path.join(REPO, "charts", "storefront"), CHART, { recursive: true });
  const deployment = path.join(CHART, "templates", "deployment.yaml");
  const text = fs.readFileSync(deployment, "utf8");
  const without = text.replace(/^\s*annotations:\n\s*checksum\/config:.*\n/m, "");
  if (without === text) throw new Error("charts/storefront: no checksum/config annotation to drop");
  fs.writeFileSync(deployment, without);
  const link = path.join(WORK_DIR, "bench-charts");
  if (!fs.existsSync(link)) fs.symlinkSync(path.dirname(CHART), link);
}
const SECRETS_DIR = path.join(BENCH_DIR, "secrets");
const STAGE_VALUES = { replicaCount: 1, greeting: "hello from the bench" };

const progress = (line: string) => process.stderr.write(`${line}\n`);
const fmt = (s: number) => `${s.toFixed(1)}s`;
const tag = () => crypto.randomBytes(2).toString("hex");

function admin(): string {
  const k = process.env.KUBECONFIG;
  if (!k || !k.includes("cluster-bench")) {
    throw new Error("KUBECONFIG is not the bench cluster's: run the bench with `npm run bench`");
  }
  return k;
}

/** Write a scoped kubeconfig to a 0600 file in a 0700 dir (never printed). */
function writeSecretFile(name: string, content: string): string {
  fs.mkdirSync(SECRETS_DIR, { recursive: true, mode: 0o700 });
  fs.chmodSync(SECRETS_DIR, 0o700);
  const file = path.join(SECRETS_DIR, name);
  fs.writeFileSync(file, content, { mode: 0o600 });
  return file;
}

/** Run `fn` warmup + runs times; return the measured runs only. */
async function repeat<T>(
  what: string,
  opts: Options,
  fn: (run: number) => Promise<T>,
  describe: (value: T) => string,
): Promise<T[]> {
  const out: T[] = [];
  for (let i = 0; i < opts.warmup + opts.runs; i++) {
    const label = i < opts.warmup ? "warm-up" : `run ${i - opts.warmup + 1}/${opts.runs}`;
    const value = await fn(i);
    progress(`  ${what} ${label}: ${describe(value)}`);
    if (i >= opts.warmup) out.push(value);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Toolchain: warm start (every step cached) and the bench cluster's start. Cold figures are not
// rebuilt here (about 20 minutes and 16 GB on 2 cores): the last cold build's are read back.
async function benchToolchain(opts: Options): Promise<Row[]> {
  progress("== toolchain: warm start (hack/toolchain.sh, every step cached), cluster start");
  const warm = await repeat(
    "toolchain warm",
    opts,
    async () => (await run("bash", [path.join(REPO, "hack/toolchain.sh")])).seconds,
    fmt,
  );
  const cluster = path.join(REPO, "hack/cluster.sh");
  const env = { SCOPED_CD_CLUSTER: "bench" };
  const start = await repeat(
    "cluster start",
    opts,
    async () => {
      await run("bash", [cluster, "stop"], { env });
      return (await run("bash", [cluster, "start"], { env })).seconds;
    },
    fmt,
  );
  return [
    { name: "toolchain warm start (all steps cached)", values: warm },
    { name: "bench cluster start (stopped -> ready)", values: start },
  ];
}

// ---------------------------------------------------------------------------------------------
async function benchProgram(opts: Options): Promise<Row[]> {
  progress("== program cost: one stage under the unit harness's mocks vs the bare SDK");
  const out = await run(
    "node",
    [path.join(REPO, "bin/bench/program.js"), String(opts.warmup), String(opts.runs)],
    { cwd: REPO },
  );
  process.stderr.write(out.stderr.replace(/^warning: .*\n/gm, ""));
  const r = JSON.parse(out.stdout.trim().split("\n").pop()!) as {
    program: number[];
    sdk: number[];
    tail: number[];
    resources: number;
    components: number;
    first: number;
  };
  const perResource = (xs: number[]) => xs.map((x, i) => ((x - r.tail[i]) / r.resources) * 1000);
  const program = perResource(r.program);
  const sdk = perResource(r.sdk);
  return [
    {
      name: `program: one stage (${r.resources} resources, ${r.components} components), per resource`,
      values: program,
      unit: "ms",
      note: `first run in a fresh process (module loading): ${(r.first * 1000).toFixed(0)} ms in all`,
    },
    { name: "bare SDK: the same resources, per resource", values: sdk, unit: "ms" },
    { name: "ratio program / bare SDK", values: ratios(program, sdk), unit: "x" },
  ];
}

// ---------------------------------------------------------------------------------------------
// Shared setup for delivery and drift: an access stack with stages d1..d3 (delivery stacks) and
// sh (the scripted baseline's namespace), and the three delivery stacks deployed once.
interface Fixture {
  readonly access: BenchStack;
  readonly delivery: BenchStack[];
  readonly namespaces: Record<string, string>;
  /** The scoped kubeconfig of stage sh (file, 0600). */
  readonly scriptedKubeconfig: string;
}

let fixture: Promise<Fixture> | undefined;

function deliveryConfig(access: BenchStack, stage: string, ns: string, values: object) {
  return {
    mode: "delivery",
    cluster: { name: "local" },
    accessStack: qualified(access.name),
    stages: {
      [stage]: {
        namespace: ns,
        releases: { storefront: { chart: CHART_IN_WORK_DIR, values } },
      },
    },
  };
}

function setupFixture(): Promise<Fixture> {
  fixture ??= (async () => {
    const id = tag();
    await benchWorkspace();
    prepareChart();
    progress(`== setup: access stack (stages d1 d2 d3 sh) and three delivery stacks [${id}]`);
    const stages = ["d1", "d2", "d3", "sh"];
    const namespaces = Object.fromEntries(stages.map((s) => [s, `bench-${id}-${s}`]));
    const access = await benchStack(`bench-access-${id}`);
    access.setConfig({
      mode: "access",
      cluster: { name: "local" },
      stages: Object.fromEntries(
        stages.map((s) => [s, { namespace: namespaces[s], deletable: true }]),
      ),
    });
    const up = await timed(() => access.stack.up({ color: "never" }));
    progress(`  access stack up: ${fmt(up.seconds)}`);
    const kubeconfigs = up.value.outputs.kubeconfigs.value as Record<string, string>;
    const scriptedKubeconfig = writeSecretFile("sh.kubeconfig", kubeconfigs.sh);
    const delivery: BenchStack[] = [];
    for (const s of ["d1", "d2", "d3"]) {
      const d = await benchStack(`bench-${s}-${id}`);
      d.setConfig(deliveryConfig(access, s, namespaces[s], STAGE_VALUES));
      const t = await timed(() => d.stack.up({ color: "never" }));
      progress(`  delivery stack ${s} up: ${fmt(t.seconds)}`);
      delivery.push(d);
    }
    await helmUpgrade(scriptedKubeconfig, namespaces.sh, STAGE_VALUES, ["--wait"]);
    progress("  scripted baseline: helm release installed in the sh namespace");
    return { access, delivery, namespaces, scriptedKubeconfig };
  })();
  return fixture;
}

async function teardownFixture() {
  if (!fixture) return;
  const f = await fixture;
  progress("== teardown: the fixture's objects (kubectl delete), its stacks' state");
  // The access stack's objects: namespaces take the releases and tokens along. A destroy of each
  // stack would take minutes and measure nothing.
  const objects = declaredObjects((await f.access.stack.exportStack()) as never);
  const file = path.join(BENCH_DIR, "fixture-objects.json");
  fs.writeFileSync(file, JSON.stringify({ apiVersion: "v1", kind: "List", items: objects }));
  await run("kubectl", [
    "--kubeconfig",
    admin(),
    "delete",
    "--wait=false",
    "--ignore-not-found",
    "-f",
    file,
  ]);
  for (const s of [...f.delivery, f.access]) {
    await s.stack.workspace.removeStack(s.name, { force: true }).catch(() => undefined);
  }
  fs.rmSync(SECRETS_DIR, { recursive: true, force: true });
}

function valuesFile(values: object): string {
  const file = path.join(BENCH_DIR, "values.json");
  fs.writeFileSync(file, JSON.stringify(values));
  return file;
}

function helmUpgrade(kubeconfig: string, ns: string, values: object, extra: string[]) {
  return run("helm", [
    "upgrade",
    "--install",
    "storefront",
    CHART,
    "--namespace",
    ns,
    "--kubeconfig",
    kubeconfig,
    "--values",
    valuesFile(values),
    ...extra,
  ]);
}

/** The manifest section of `helm upgrade --dry-run` text output. */
export function manifestOf(helmOutput: string): string {
  const start = helmOutput.indexOf("MANIFEST:\n");
  if (start < 0) throw new Error("helm --dry-run printed no MANIFEST section");
  const rest = helmOutput.slice(start + "MANIFEST:\n".length);
  const end = rest.indexOf("\nNOTES:");
  return end < 0 ? rest : rest.slice(0, end);
}

/** The scripted no-change check: server-side dry-run of the upgrade, server-side diff of the live objects. */
async function scriptedPreview(f: Fixture): Promise<number> {
  const dry = await helmUpgrade(f.scriptedKubeconfig, f.namespaces.sh, STAGE_VALUES, [
    "--dry-run=server",
  ]);
  const diff = await run(
    "kubectl",
    [
      "--kubeconfig",
      f.scriptedKubeconfig,
      "diff",
      "--server-side",
      "--force-conflicts",
      "--namespace",
      f.namespaces.sh,
      "-f",
      "-",
    ],
    { input: manifestOf(dry.stdout), ok: [0, 1] },
  );
  return dry.seconds + diff.seconds;
}

/**
 * The same check without a server dry-run, as helm.v3.Release's preview does it: Helm reads the
 * deployed release and renders the chart; nothing is sent to the API server's admission.
 */
async function scriptedClientPreview(f: Fixture): Promise<number> {
  const dry = await helmUpgrade(f.scriptedKubeconfig, f.namespaces.sh, STAGE_VALUES, [
    "--dry-run=client",
  ]);
  return dry.seconds;
}

async function benchDelivery(opts: Options): Promise<Row[]> {
  const f = await setupFixture();
  const d1 = f.delivery[0];
  progress(
    "== delivery, no change: preview of a one-stage delivery stack vs helm --dry-run=server + kubectl diff --server-side",
  );
  const preview = await repeat(
    "no-change",
    opts,
    async () => {
      const p = await timed(() => d1.stack.preview({ color: "never" }));
      const changes = Object.entries(p.value.changeSummary).filter(([k, n]) => k !== "same" && n);
      if (changes.length)
        progress(`  warning: the preview found changes: ${JSON.stringify(changes)}`);
      const scripted = await scriptedPreview(f);
      const client = await scriptedClientPreview(f);
      return { pulumi: p.seconds, scripted, client };
    },
    (v) =>
      `preview ${fmt(v.pulumi)}, scripted ${fmt(v.scripted)}, without server dry-run ${fmt(v.client)}`,
  );

  // The access stack (4 stages): its no-change preview (live reads and admin check included)
  // against a server-side diff of the same declared objects with the admin kubeconfig.
  progress("== access stack, no change: preview vs kubectl diff --server-side of its objects");
  const accessObjects = path.join(BENCH_DIR, "access-objects.json");
  fs.writeFileSync(
    accessObjects,
    JSON.stringify({
      apiVersion: "v1",
      kind: "List",
      items: declaredObjects((await f.access.stack.exportStack()) as never),
    }),
  );
  const accessPreview = await repeat(
    "access no-change",
    opts,
    async () => {
      const p = await timed(() => f.access.stack.preview({ color: "never" }));
      const changes = Object.entries(p.value.changeSummary).filter(([k, n]) => k !== "same" && n);
      if (changes.length)
        progress(`  warning: the access preview found changes: ${JSON.stringify(changes)}`);
      const diff = await run(
        "kubectl",
        [
          "--kubeconfig",
          admin(),
          "diff",
          "--server-side",
          "--force-conflicts",
          "-f",
          accessObjects,
        ],
        { ok: [0, 1] },
      );
      return { pulumi: p.seconds, scripted: diff.seconds };
    },
    (v) => `preview ${fmt(v.pulumi)}, kubectl diff ${fmt(v.scripted)}`,
  );

  progress("== delivery, one values change: up vs helm upgrade --install --wait");
  const change = await repeat(
    "one change",
    opts,
    async (i) => {
      const values = { ...STAGE_VALUES, greeting: `bench run ${i} ${tag()}` };
      d1.setConfig(deliveryConfig(f.access, "d1", f.namespaces.d1, values));
      const up = await timed(() => d1.stack.up({ color: "never" }));
      const helm = await helmUpgrade(f.scriptedKubeconfig, f.namespaces.sh, values, ["--wait"]);
      return { pulumi: up.seconds, scripted: helm.seconds };
    },
    (v) => `up ${fmt(v.pulumi)}, helm ${fmt(v.scripted)}`,
  );
  // Back to the values the other measurements expect (no change pending).
  d1.setConfig(deliveryConfig(f.access, "d1", f.namespaces.d1, STAGE_VALUES));
  await d1.stack.up({ color: "never" });
  await helmUpgrade(f.scriptedKubeconfig, f.namespaces.sh, STAGE_VALUES, ["--wait"]);

  const col = <T>(xs: T[], k: keyof T) => xs.map((x) => x[k] as number);
  return [
    { name: "delivery no change: pulumi preview", values: col(preview, "pulumi") },
    {
      name: "delivery no change: helm --dry-run=server + kubectl diff",
      values: col(preview, "scripted"),
    },
    {
      name: "ratio preview / scripted (target < 3x)",
      values: ratios(col(preview, "pulumi"), col(preview, "scripted")),
      unit: "x",
    },
    {
      name: "delivery no change: helm --dry-run=client (no server dry-run, as the preview)",
      values: col(preview, "client"),
    },
    {
      name: "ratio preview / that (like for like: neither dry-runs on the server)",
      values: ratios(col(preview, "pulumi"), col(preview, "client")),
      unit: "x",
    },
    {
      name: "access stack no change (4 stages): pulumi preview",
      values: col(accessPreview, "pulumi"),
    },
    {
      name: "access stack no change: kubectl diff --server-side of its objects",
      values: col(accessPreview, "scripted"),
    },
    {
      name: "ratio access preview / kubectl diff (target < 3x)",
      values: ratios(col(accessPreview, "pulumi"), col(accessPreview, "scripted")),
      unit: "x",
    },
    { name: "delivery one change: pulumi up", values: col(change, "pulumi") },
    { name: "delivery one change: helm upgrade --install --wait", values: col(change, "scripted") },
    {
      name: "ratio up / helm (target < 5x)",
      values: ratios(col(change, "pulumi"), col(change, "scripted")),
      unit: "x",
    },
  ];
}

// ---------------------------------------------------------------------------------------------
// One no-change preview of the delivery stack d1, profiled from the Pulumi CLI's verbose log
// (bench/profile.ts says why not its tracing flags): the phases between milestones and the longest
// silences. Taken once: a profile is a breakdown, not a figure to summarize over runs.
async function benchProfile(): Promise<Row[]> {
  const f = await setupFixture();
  const d1 = f.delivery[0];
  progress("== profile: one no-change preview of a delivery stack, from the CLI's -v=3 log");
  const pulumi = await run(
    "pulumi",
    [
      "preview",
      ...["--stack", qualified(d1.name), "--cwd", WORK_DIR],
      ...["--non-interactive", "--color", "never", "-v=3", "--logtostderr"],
    ],
    { env: { ...BENCH_ENV, KUBECONFIG: undefined } },
  );
  const log = path.join(BENCH_DIR, "preview-profile.log");
  fs.writeFileSync(log, pulumi.stderr);
  const entries = readVerboseLog(pulumi.stderr);
  const phases = previewPhases(entries);
  const logged = (entries[entries.length - 1].t - entries[0].t) / 1000;
  progress(
    `  ${fmt(pulumi.seconds)} wall, ${fmt(logged)} between the first and last log lines (${log})`,
  );
  const rows: Row[] = [
    { name: "preview, wall (the pulumi process, -v=3)", values: [pulumi.seconds] },
    {
      name: "before the first and after the last log line (Go start, exit)",
      values: [pulumi.seconds - logged],
    },
  ];
  for (const p of phases) {
    rows.push({
      name: `phase: ${p.name}`,
      values: [p.durationMs / 1000],
      note: `from +${(p.offsetMs / 1000).toFixed(2)} s`,
    });
  }
  for (const g of longestGaps(entries, 6)) {
    rows.push({
      name: `silence ended by: ${g.msg.replace(/\|/g, "/")}`,
      values: [g.gapMs / 1000],
      note: `at +${(g.afterMs / 1000).toFixed(2)} s`,
    });
  }
  return rows;
}

// ---------------------------------------------------------------------------------------------
// Drift over three delivery stacks: sequential (--concurrency 1, the old behaviour) and concurrent
// (the default), against each stack's own drift run (the slowest of the three).
async function benchDrift(opts: Options): Promise<Row[]> {
  const f = await setupFixture();
  const help = await run("node", [path.join(REPO, "bin/cli/main.js"), "drift", "--help"]);
  const hasConcurrency = help.stdout.includes("--concurrency");
  progress(
    `== drift report over three delivery stacks (${hasConcurrency ? "--concurrency 1 and default" : "this CLI has no --concurrency: sequential only"}) vs the slowest single stack`,
  );
  const out = path.join(BENCH_DIR, "drift-report.md");
  const drift = async (stacks: BenchStack[], extra: string[] = []) => {
    const r = await run(
      "node",
      [
        path.join(REPO, "bin/cli/main.js"),
        "drift",
        "--work-dir",
        WORK_DIR,
        ...stacks.flatMap((s) => ["--stack", s.name]),
        "--out",
        out,
        ...extra,
      ],
      { env: { ...BENCH_ENV, KUBECONFIG: undefined }, ok: [0, 1] },
    );
    if (r.code !== 0) progress(`  warning: drift exit ${r.code} (changes or drift found)`);
    return r.seconds;
  };
  const runs = await repeat(
    "drift",
    opts,
    async () => {
      const singles: number[] = [];
      for (const d of f.delivery) singles.push(await drift([d]));
      const sequential = await drift(f.delivery, hasConcurrency ? ["--concurrency", "1"] : []);
      const concurrent = hasConcurrency ? await drift(f.delivery) : NaN;
      return { slowest: Math.max(...singles), sequential, concurrent };
    },
    (v) =>
      `slowest single ${fmt(v.slowest)}, sequential ${fmt(v.sequential)}, concurrent ${fmt(v.concurrent)}`,
  );
  const slowest = runs.map((r) => r.slowest);
  const sequential = runs.map((r) => r.sequential);
  const concurrent = runs.map((r) => r.concurrent);
  const rows: Row[] = [
    { name: "drift: slowest single-stack report", values: slowest },
    { name: "drift: three stacks, --concurrency 1 (before)", values: sequential },
    { name: "ratio sequential / slowest single", values: ratios(sequential, slowest), unit: "x" },
  ];
  if (hasConcurrency) {
    rows.push(
      { name: "drift: three stacks, concurrent (after)", values: concurrent },
      {
        name: "ratio concurrent / slowest single (target < 1.3x)",
        values: ratios(concurrent, slowest),
        unit: "x",
      },
    );
  }
  return rows;
}

// ---------------------------------------------------------------------------------------------
// Access layer scaling: `up` of an access stack with N stages (no releases) from nothing, and the
// same Kubernetes objects (the stack's declared inputs, namespaces renamed) applied with
// `kubectl apply --server-side` as the floor, and `up` by a bare Pulumi program declaring the same
// objects as plain resources (bench/bareObjects.ts), the floor of any Pulumi program managing them.
// All three are removed after each size, untimed, and waited for.

const BARE_SERIES = "bare Pulumi program, same objects";

interface ExportedResource {
  readonly custom?: boolean;
  readonly type?: string;
  readonly inputs?: Record<string, unknown>;
}

/** The declared Kubernetes objects of a stack (its export's inputs), secret values left out. */
function declaredObjects(exported: {
  deployment?: { resources?: ExportedResource[] };
}): Record<string, unknown>[] {
  const strip = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(strip);
    if (v && typeof v === "object") {
      if ((v as Record<string, unknown>)[SECRET_SIG] !== undefined) return undefined;
      return Object.fromEntries(
        Object.entries(v)
          .map(([k, x]) => [k, strip(x)] as const)
          .filter(([, x]) => x !== undefined),
      );
    }
    return v;
  };
  const objects = (exported.deployment?.resources ?? [])
    .filter((r) => r.custom && String(r.type).startsWith("kubernetes:") && r.inputs?.kind)
    .map((r) => strip(r.inputs) as Record<string, unknown>);
  // Namespaces first, so that everything namespaced finds its namespace.
  return [
    ...objects.filter((o) => o.kind === "Namespace"),
    ...objects.filter((o) => o.kind !== "Namespace"),
  ];
}

function accessConfig(stages: number, prefix: string, rotation = "bench-1") {
  return {
    mode: "access",
    cluster: { name: "local" },
    stages: Object.fromEntries(
      Array.from({ length: stages }, (_, k) => [
        `s${k + 1}`,
        { namespace: `${prefix}-s${k + 1}`, deletable: true, deployer: { rotation } },
      ]),
    ),
  };
}

async function benchAccess(
  opts: Options,
): Promise<{ rows: Row[]; points: ScalingPoint[]; fit: ReturnType<typeof fitLine> }> {
  // As shipped: the `up` of `scoped-cd handoff` (one checkpoint at the end, then the sweep of a
  // lost run's identities). Before: the engine's default, a checkpoint after every step.
  const quiet: Io = { stdout: () => undefined, stderr: () => undefined };
  const variants: {
    key: string;
    label: string;
    /** The up; its result: the state it left, when it read that anyway (else exported untimed). */
    up: (s: BenchStack) => Promise<unknown>;
  }[] = [
    {
      key: "up",
      label: "scoped-cd access up (handoff)",
      up: async (s) =>
        (await upAccessStack(s.stack, { stackName: s.name, workDir: WORK_DIR, io: quiet }))
          .exported,
    },
  ];
  if (opts.checkpointed) {
    variants.push({
      key: "ckpt",
      label: "access up, checkpoint after every step (before)",
      up: async (s) => void (await s.stack.up({ color: "never" })),
    });
  }
  const stateAfter = async (s: BenchStack, left: unknown) => left ?? (await s.stack.exportStack());
  const resourcesIn = (exported: unknown) =>
    ((exported as { deployment?: { resources?: unknown[] } }).deployment?.resources ?? []).length;
  progress(
    `== access layer: up of an access stack with ${opts.stages.join(", ")} stages (no releases) vs kubectl apply --server-side` +
      (opts.checkpointed
        ? `; also the engine's default checkpointing, up to ${opts.checkpointedMax} stages`
        : ""),
  );
  const kube = (...args: string[]) =>
    run("kubectl", ["--kubeconfig", admin(), ...args], { timeoutSeconds: 20 * 60 });
  // Untimed, and waited for: the next measurement starts on a cluster that is not still
  // finalizing the last one's namespaces (the deletions of several files run side by side).
  const removeObjects = (files: string[]) =>
    kube(
      "delete",
      "--wait=true",
      "--timeout=10m",
      "--ignore-not-found",
      ...files.flatMap((f) => ["-f", f]),
    );
  type Sample = Record<string, number> & { floor: number; bare: number; resources: number };
  const MIB = 1024 * 1024;
  const measured = await repeat(
    "access",
    opts,
    async () => {
      const perN: Record<number, Sample> = {};
      for (const n of opts.stages) {
        const sample = { floor: NaN, bare: NaN, resources: 0 } as Sample;
        for (const v of variants) {
          if (v.key === "ckpt" && n > opts.checkpointedMax) {
            sample.ckpt = NaN;
            continue;
          }
          const id = tag();
          const s = await benchStack(`bench-scale-${n}-${v.key}-${id}`);
          s.setConfig(accessConfig(n, `ba-${id}`));
          const measuredUp = await timedWithCpu(() => timedWithPeakMemory(() => v.up(s)));
          const up = measuredUp.value;
          for (const [name, cpu] of Object.entries(measuredUp.cpu)) {
            sample[`${v.key}.cpu.${name}`] = cpu;
          }
          sample[v.key] = up.seconds;
          sample[`${v.key}.peakMiB`] = up.peakBytes / MIB;
          const exported = await stateAfter(s, up.value);
          sample.resources = resourcesIn(exported);
          sample[`${v.key}.stateKiBPerStage`] =
            Buffer.byteLength(JSON.stringify(exported)) / 1024 / n;
          // A rotation of every stage at once: a new deployer identity and credential each.
          s.setConfig(accessConfig(n, `ba-${id}`, "bench-2"));
          const rot = await timedWithPeakMemory(() => v.up(s));
          sample[`${v.key}.rotation`] = rot.seconds;
          const rotated = await stateAfter(s, rot.value);
          const rotationLine = `; rotation of every stage ${fmt(rot.seconds)}`;
          const objects = declaredObjects(rotated as never);
          const own = path.join(BENCH_DIR, `objects-${n}.json`);
          fs.writeFileSync(own, JSON.stringify({ apiVersion: "v1", kind: "List", items: objects }));
          // The floors' objects stay until this variant's cleanup, so that no measurement runs
          // while the API server finalizes another's namespaces (the up's objects were there for
          // the floor's apply before, and both are for the bare program's up now).
          const leftover: string[] = [];
          let line = `    ${n} stages, ${v.label}: ${fmt(sample[v.key])} (${sample.resources} resources in the state, peak ${Math.round(sample[`${v.key}.peakMiB`])} MiB, state ${sample[`${v.key}.stateKiBPerStage`].toFixed(1)} KiB/stage)${rotationLine}`;
          if (Number.isNaN(sample.floor)) {
            // The floor: the same objects, namespaces renamed, in one server-side apply.
            const floorFile = path.join(BENCH_DIR, `floor-${n}.json`);
            const renamedList = (prefix: string) =>
              JSON.stringify({ apiVersion: "v1", kind: "List", items: objects })
                .split(`ba-${id}-`)
                .join(`${prefix}-${id}-`);
            fs.writeFileSync(floorFile, renamedList("bf"));
            const floorRun = await timedWithCpu(() =>
              kube(
                "apply",
                "--server-side",
                "--force-conflicts",
                "--field-manager=bench",
                "-f",
                floorFile,
              ),
            );
            const floor = floorRun.value;
            for (const [name, cpu] of Object.entries(floorRun.cpu)) {
              sample[`floor.cpu.${name}`] = cpu;
            }
            sample.floor = floor.seconds;
            line += `; kubectl ${fmt(floor.seconds)} (${objects.length} objects)`;
            leftover.push(floorFile);
            // The Pulumi floor: the same objects again, one plain resource each (bench/bareObjects.ts).
            const bareFile = path.join(BENCH_DIR, `bare-${n}.json`);
            fs.writeFileSync(bareFile, renamedList("bp"));
            const bare = await bareStack(`bare-${n}-${id}`, bareFile, admin());
            const bareRun = await timedWithCpu(() => timed(() => bare.up()));
            for (const [name, cpu] of Object.entries(bareRun.cpu)) {
              sample[`bare.cpu.${name}`] = cpu;
            }
            sample.bare = bareRun.value.seconds;
            line += `; bare Pulumi program ${fmt(sample.bare)}`;
            leftover.push(bareFile);
            await bare.remove();
          }
          progress(line);
          // Untimed cleanup: delete the objects (namespaces take their contents along), drop the
          // stack's state. A destroy would take as long as the up and measure nothing.
          await removeObjects([own, ...leftover.splice(0)]);
          await s.stack.workspace.removeStack(s.name, { force: true });
        }
        perN[n] = sample;
      }
      return perN;
    },
    (v) => opts.stages.map((n) => `${n}: ${fmt(v[n].up)}/${fmt(v[n].floor)}`).join(", "),
  );

  const points: ScalingPoint[] = [];
  const rows: Row[] = [];
  const largest = Math.max(...opts.stages);
  for (const n of opts.stages) {
    const up = measured.map((m) => m[n].up);
    const floor = measured.map((m) => m[n].floor);
    const bare = measured.map((m) => m[n].bare);
    for (const m of measured) {
      for (const v of variants) {
        if (Number.isFinite(m[n][v.key])) {
          points.push({ stages: n, seconds: m[n][v.key], series: v.label });
        }
      }
      points.push({
        stages: n,
        seconds: m[n].floor,
        series: "kubectl apply --server-side (floor)",
      });
      points.push({ stages: n, seconds: m[n].bare, series: BARE_SERIES });
    }
    rows.push(
      {
        name: `access up, ${n} stages`,
        values: up,
        note: `${measured[0][n].resources} resources in the state`,
      },
      { name: `access up, ${n} stages, per stage`, values: up.map((x) => x / n), unit: "s/stage" },
      { name: `kubectl apply --server-side, ${n} stages`, values: floor },
      {
        name: `ratio up / kubectl, ${n} stages${n === largest ? " (target < 2x)" : ""}`,
        values: ratios(up, floor),
        unit: "x",
      },
      {
        name: `bare Pulumi program, same objects, ${n} stages`,
        values: bare,
        note: "one plain resource per object, no components, dynamic resources or reads",
      },
      { name: `ratio bare Pulumi / kubectl, ${n} stages`, values: ratios(bare, floor), unit: "x" },
      { name: `ratio up / bare Pulumi, ${n} stages`, values: ratios(up, bare), unit: "x" },
    );
    if (opts.checkpointed && n <= opts.checkpointedMax) {
      const ckpt = measured.map((m) => m[n].ckpt);
      rows.push(
        { name: `access up, ${n} stages, checkpoint after every step (before)`, values: ckpt },
        { name: `ratio that / kubectl, ${n} stages`, values: ratios(ckpt, floor), unit: "x" },
      );
    }
    for (const v of variants) {
      const of = (k: string) => measured.map((m) => m[n][`${v.key}.${k}`]);
      if (!of("rotation").some(Number.isFinite)) continue;
      const which = v.key === "up" ? "" : ", checkpoint after every step (before)";
      rows.push(
        { name: `rotation of every stage, ${n} stages${which}`, values: of("rotation") },
        { name: `peak memory of the up, ${n} stages${which}`, values: of("peakMiB"), unit: "MiB" },
        {
          name: `state per stage, ${n} stages${which}`,
          values: of("stateKiBPerStage"),
          unit: "KiB",
        },
      );
      if (v.key !== "up" || n !== largest) continue;
      // Where the time goes: CPU by process, the up's and the floor's (the machine's capacity is
      // cores x wall). The bench's own process is left out of the floor's (it only waits there).
      for (const [key, what, wall] of [
        ["up", "the up", up],
        ["floor", "kubectl apply", floor],
        ["bare", "the bare Pulumi program", bare],
      ] as const) {
        const prefix = `${key}.cpu.`;
        const names = [
          ...new Set(
            measured.flatMap((m) => Object.keys(m[n]).filter((k) => k.startsWith(prefix))),
          ),
        ].filter((k) => key === "up" || k !== `${prefix}bench`);
        const total = measured.map((m) =>
          names.reduce((a, k) => a + (Number.isFinite(m[n][k]) ? m[n][k] : 0), 0),
        );
        rows.push({
          name: `CPU of ${what}, ${n} stages, all processes`,
          values: total,
          note: `${os.cpus().length} cores x wall = ${fmt(os.cpus().length * summarize(wall).median)}`,
        });
        const first = measured[0][n];
        for (const k of names.sort((a, b) => (first[b] ?? 0) - (first[a] ?? 0))) {
          rows.push({
            name: `CPU of ${what}, ${n} stages: ${k.slice(prefix.length)}`,
            values: measured.map((m) => m[n][k] ?? 0),
          });
        }
      }
    }
  }
  const fitOf = (label: string) =>
    fitLine(
      points
        .filter((p) => p.series === label && Number.isFinite(p.seconds))
        .map((p) => ({ x: p.stages, y: p.seconds })),
    );
  const fit = fitOf(variants[0].label);
  const fitRow = (name: string, f: ReturnType<typeof fitLine>): Row => ({
    name,
    values: [f.slope],
    unit: "s/stage",
    note: `intercept ${f.intercept.toFixed(1)} s, r² ${f.r2.toFixed(3)}`,
  });
  rows.push(fitRow("access up: fitted slope (least squares, all runs)", fit));
  if (opts.checkpointed) {
    rows.push(
      fitRow(
        "access up, checkpoint after every step (before): fitted slope",
        fitOf(variants[1].label),
      ),
    );
  }
  rows.push(fitRow("kubectl floor: fitted slope", fitOf("kubectl apply --server-side (floor)")));
  rows.push(fitRow("bare Pulumi program: fitted slope", fitOf(BARE_SERIES)));
  return { rows, points, fit };
}

// ---------------------------------------------------------------------------------------------
function machine() {
  const cpus = os.cpus();
  return {
    cores: cpus.length,
    cpu: cpus[0]?.model ?? "unknown",
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    kernel: `${os.type()} ${os.release()}`,
    node: process.version,
    load: os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(" "),
  };
}

/** The toolchain steps, in build order (hack/toolchain.sh run_step names). */
const TOOLCHAIN_STEPS = [
  "pulumi",
  "kubernetes-provider",
  "random-provider",
  "kube",
  "etcd",
  "kwok",
  "helm",
  "helm2",
  "plugins",
  "node-packages",
  "kube-node",
  "kube-router",
  "coredns",
  "images",
] as const;

/** `<seconds> [<exit code>] <date>` as hack/toolchain.sh and hack/e2e.sh record them. */
function recorded(file: string): { seconds: number; fields: string[] } | undefined {
  try {
    const fields = fs.readFileSync(file, "utf8").trim().split(/\s+/);
    const seconds = Number(fields[0]);
    return Number.isFinite(seconds) ? { seconds, fields } : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Figures too slow to redo in a bench run, as this machine last recorded them: each toolchain
 * step's cold build (hack/toolchain.sh writes `<cache>/logs/<step>.seconds` when it builds one)
 * and the whole e2e suite's wall time (hack/e2e.sh writes `.local/e2e-last-run`).
 */
function recordedRows(): Row[] {
  const cache = process.env.SCOPED_CD_CACHE ?? path.join(os.homedir(), ".cache", "scoped-cd");
  const rows: Row[] = [];
  let total = 0;
  const missing: string[] = [];
  for (const step of TOOLCHAIN_STEPS) {
    const r = recorded(path.join(cache, "logs", `${step}.seconds`));
    if (!r) {
      missing.push(step);
      continue;
    }
    total += r.seconds;
    rows.push({
      name: `toolchain cold build: ${step} (recorded)`,
      values: [r.seconds],
      note: `built ${r.fields[1] ?? "?"}`,
    });
  }
  if (missing.length > 0) {
    rows.push({
      name: "toolchain cold build: not recorded",
      values: [NaN],
      note: `${missing.join(", ")}: built before build times were recorded; SCOPED_CD_CACHE=<empty dir> npm run bench -- --only toolchain builds and records them`,
    });
  } else {
    rows.push({ name: "toolchain cold build, total (recorded)", values: [total] });
  }
  const e2e = recorded(path.join(REPO, ".local", "e2e-last-run"));
  rows.push(
    e2e
      ? {
          name: "e2e suite wall time (last full run, recorded)",
          values: [e2e.seconds],
          note: `exit ${e2e.fields[1] ?? "?"}, ${e2e.fields[2] ?? "?"}`,
        }
      : {
          name: "e2e suite wall time: not recorded",
          values: [NaN],
          note: "bash hack/e2e.sh (the whole suite) records it",
        },
  );
  return rows;
}

async function main() {
  const program = new Command("bench")
    .description("scoped-cd benchmarks (issue 13); run through `npm run bench`")
    .option("--runs <n>", "measured runs per measurement", (v) => parseInt(v, 10), 5)
    .option("--warmup <n>", "warm-up runs (discarded)", (v) => parseInt(v, 10), 1)
    .option("--stages <list>", "access stack sizes", (v) => v.split(",").map(Number), [1, 10, 50])
    .option(
      "--only <groups>",
      `comma-separated subset of: ${GROUPS.join(", ")}`,
      (v) => v.split(",") as Group[],
      [...GROUPS],
    )
    .option("--quick", "development: 1 run, no warm-up, stages 1,5")
    .option(
      "--checkpointed-max <n>",
      "access: run the engine's default up (a checkpoint after every step, the access up before issue 20) only up to this many stages; it grows with the square of the stages (a 50-stage up takes 5 to 10 min here), so the default stops at 10",
      (v) => {
        const n = Number(v);
        if (!Number.isInteger(n) || n < 1)
          throw new Error(`--checkpointed-max: ${v} is not a whole number >= 1`);
        return n;
      },
      10,
    )
    .option(
      "--no-checkpointed",
      "access: leave out the second `up`, with the engine's default checkpointing (before)",
    )
    .option("--results <dir>", "where to write the table, JSON and plot", RESULTS_DIR);
  program.parse();
  const o = program.opts();
  const opts: Options = {
    runs: o.quick ? 1 : o.runs,
    warmup: o.quick ? 0 : o.warmup,
    stages: o.quick ? [1, 5] : o.stages,
    only: o.only,
    results: o.results,
    checkpointed: o.checkpointed,
    checkpointedMax: o.checkpointedMax,
  };
  for (const g of opts.only) if (!GROUPS.includes(g)) throw new Error(`--only: unknown group ${g}`);
  admin();
  const started = new Date();
  const before = machine();
  const t0 = Date.now();
  progress(
    `bench: ${opts.runs} runs after ${opts.warmup} warm-up; groups ${opts.only.join(", ")}; load ${before.load}`,
  );
  fs.mkdirSync(opts.results, { recursive: true });

  const rows: Row[] = [];
  const sections: { title: string; rows: Row[] }[] = [];
  let scaling: Awaited<ReturnType<typeof benchAccess>> | undefined;
  try {
    if (opts.only.includes("fixed"))
      sections.push({
        title: "Fixed costs",
        rows: await benchFixedCosts(
          (what, fn, describe) => repeat(what, opts, fn, describe),
          progress,
        ),
      });
    if (opts.only.includes("program"))
      sections.push({ title: "Program cost", rows: await benchProgram(opts) });
    if (opts.only.includes("delivery"))
      sections.push({ title: "Delivery", rows: await benchDelivery(opts) });
    if (opts.only.includes("profile"))
      sections.push({ title: "Profile of a no-change preview", rows: await benchProfile() });
    if (opts.only.includes("drift"))
      sections.push({ title: "Drift report", rows: await benchDrift(opts) });
    if (opts.only.includes("access")) {
      scaling = await benchAccess(opts);
      sections.push({ title: "Access layer scaling", rows: scaling.rows });
    }
    if (opts.only.includes("backend")) {
      await benchWorkspace();
      prepareChart();
      const stages = o.quick ? 2 : BACKEND_STAGES;
      sections.push({
        title: "State backend: PostgreSQL vs file",
        rows: await benchBackend(opts, stages, admin(), progress),
      });
    }
  } finally {
    await teardownFixture();
  }
  // Last: it stops and starts the bench cluster (kwok's pod watch takes a while to settle after).
  if (opts.only.includes("toolchain")) {
    sections.push({
      title: "Toolchain",
      rows: [...(await benchToolchain(opts)), ...recordedRows()],
    });
  }
  for (const s of sections) rows.push(...s.rows);

  const after = machine();
  const minutes = ((Date.now() - t0) / 60000).toFixed(1);
  const header =
    `scoped-cd bench, ${started.toISOString()}: ${before.cores} cores (${before.cpu}), ${before.memoryGiB} GiB, ${before.kernel}, Node ${before.node}\n` +
    `load average (1/5/15 min) at start ${before.load}, at end ${after.load}; ${opts.runs} runs after ${opts.warmup} warm-up; ${minutes} min in all\n`;
  const table = sections.map((s) => `### ${s.title}\n\n${renderTable(s.rows)}`).join("\n");
  process.stdout.write(`${header}\n${table}`);
  fs.writeFileSync(path.join(opts.results, "latest.md"), `${header}\n${table}`);
  fs.writeFileSync(
    path.join(opts.results, "latest.json"),
    JSON.stringify(
      {
        started: started.toISOString(),
        machine: { before, after },
        options: opts,
        rows: rows.map((r) => ({ ...r, summary: summarize(r.values) })),
        scaling: scaling && { points: scaling.points, fit: scaling.fit },
      },
      null,
      2,
    ),
  );
  if (scaling) {
    const png = path.join(opts.results, "access-scaling.png");
    await renderScalingPng(
      scaling.points,
      `access stack up vs stages: a point per run, medians joined (${before.cores} cores, ${opts.runs} runs, ${started.toISOString().slice(0, 10)})`,
      png,
    );
    progress(`plot written to ${path.relative(REPO, png)}`);
  }
  progress(
    `bench: done in ${minutes} min; table in ${path.relative(REPO, path.join(opts.results, "latest.md"))}`,
  );
}

if (require.main === module) {
  main().then(
    () => process.exit(0),
    (err) => {
      progress(`bench: ${String((err as Error).message ?? err)}`);
      process.exit(2);
    },
  );
}
