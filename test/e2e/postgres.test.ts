// The stacks' state on a real PostgreSQL (hack/postgres.sh: Debian's server, loopback, password
// authentication), shared by two "agents" as two Jenkins agents share it: two processes with their
// own work trees, PULUMI_HOMEs and temp dirs, sharing only the backend URL (no password in it), the
// database password (each agent its own copy of a pgpass file, as withCredentials hands a file)
// and the passphrase. The access stack is migrated from the file backend first (stack
// export/import), then: two stacks at once, one stack at once, an agent SIGKILLed mid-up, a lock
// of another machine, PostgreSQL stopped during an up, and a dump of the database searched for
// secrets. Recovery times are printed (`[postgres] ...`).
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as zlib from "node:zlib";
import * as yaml from "js-yaml";
import { postgresLocks } from "../../cli/lib/backendLocks";
import { adminClients, Clients, tokenOf } from "./kube";
import {
  alive,
  CliRun,
  execFileAsync,
  processTree,
  REPO,
  runCli,
  startCli,
  TEST_PASSPHRASE,
  uniqueSuffix,
  waitFor,
} from "./support";

const suffix = uniqueSuffix();
const NS = { p1: `e2e-pg-a-${suffix}`, p2: `e2e-pg-b-${suffix}` };
const seconds = (t0: number) => Math.round((Date.now() - t0) / 100) / 10;
const note = (text: string) => console.log(`      [postgres] ${text}`);
const said = (what: string, r: CliRun) =>
  note(`${what} (exit ${r.code}):\n${r.stderr.trim().replace(/^/gm, "        | ")}`);
const noStackTrace = (r: CliRun) =>
  assert.doesNotMatch(r.stderr, /^\s+at .+:\d+:\d+\)?$/m, "a stack trace");

/** hack/postgres.sh of this run's cluster instance. */
async function postgres(command: string): Promise<string> {
  const { stdout } = await execFileAsync("bash", [path.join(REPO, "hack/postgres.sh"), command], {
    timeout: 120_000,
  });
  return stdout;
}

interface Agent {
  readonly name: string;
  readonly env: Record<string, string>;
  /** This agent's work tree of a stack (created on first use, with the stack's YAML). */
  workDir(stack: string): string;
}

describe("state on PostgreSQL: two agents, locks, recovery, backend down, secrets at rest", function () {
  this.timeout(15 * 60_000);
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "scoped-cd-pg-"));
  const runs: CliRun[] = [];
  let url: string;
  let pgpass: string;
  let pgBin: string;
  let password: string;
  let admin: Clients;
  let a: Agent;
  let b: Agent;
  const stacks = {
    access: `pg-access-${suffix}`,
    d1: `pg-d1-${suffix}`,
    d2: `pg-d2-${suffix}`,
  };
  const files = { p1: path.join(root, "p1.kubeconfig"), p2: path.join(root, "p2.kubeconfig") };
  const values = {
    p1: { replicaCount: 1, greeting: "v1" },
    p2: { replicaCount: 1, greeting: "v1" },
  };
  let baseline: Record<string, string> = {};

  function stackYaml(stack: string): Record<string, unknown> {
    const stage = stack === stacks.d1 ? "p1" : "p2";
    if (stack === stacks.access) {
      return {
        "scoped-cd:mode": "access",
        "scoped-cd:cluster": { name: "e2e-pg" },
        "scoped-cd:stages": {
          p1: { namespace: NS.p1, deletable: true },
          p2: { namespace: NS.p2, deletable: true },
        },
      };
    }
    return {
      "scoped-cd:mode": "delivery",
      "scoped-cd:cluster": { name: "e2e-pg" },
      "scoped-cd:accessStack": stacks.access,
      "scoped-cd:stages": {
        [stage]: {
          namespace: NS[stage],
          releases: {
            storefront: {
              chart: "./charts/storefront",
              values: values[stage],
              timeoutSeconds: 120,
            },
          },
        },
      },
    };
  }

  /** An agent: its own PULUMI_HOME (the toolchain's plugins linked in), temp dir and work trees. */
  function makeAgent(name: string): Agent {
    const home = path.join(root, name, "pulumi-home");
    const tmp = path.join(root, name, "tmp");
    fs.mkdirSync(home, { recursive: true });
    fs.mkdirSync(tmp, { recursive: true });
    fs.symlinkSync(path.join(process.env.PULUMI_HOME!, "plugins"), path.join(home, "plugins"));
    const ownPgpass = path.join(root, name, "pgpass");
    fs.copyFileSync(pgpass, ownPgpass);
    fs.chmodSync(ownPgpass, 0o600);
    const env = {
      PULUMI_HOME: home,
      TMPDIR: tmp,
      PULUMI_BACKEND_URL: url,
      PGPASSFILE: ownPgpass,
      PULUMI_CONFIG_PASSPHRASE: TEST_PASSPHRASE,
      KUBECONFIG: path.join(root, "no-admin"),
    };
    return {
      name,
      env,
      workDir(stack) {
        const dir = path.join(root, name, stack);
        if (!fs.existsSync(dir)) {
          fs.mkdirSync(dir, { recursive: true });
          fs.copyFileSync(path.join(REPO, "Pulumi.yaml"), path.join(dir, "Pulumi.yaml"));
          for (const entry of ["bin", "node_modules", "charts", "package.json"]) {
            fs.symlinkSync(path.join(REPO, entry), path.join(dir, entry));
          }
        }
        // The checked-out stack file: the config, plus the salt the stack was created with.
        const file = path.join(dir, `Pulumi.${stack}.yaml`);
        const salt = saltOf(stack);
        fs.writeFileSync(
          file,
          yaml.dump({ ...(salt ? { encryptionsalt: salt } : {}), config: stackYaml(stack) }),
        );
        return dir;
      },
    };
  }
  /** The passphrase salt of a stack, as `stack init` wrote it in the first agent's work tree. */
  const salts: Record<string, string> = {};
  const saltOf = (stack: string) => salts[stack];

  /** `pulumi stack init` of a new stack on the backend from agent A; its salt is kept. */
  async function initStack(stack: string, env: Record<string, string> = a.env) {
    const dir = a.workDir(stack);
    await execFileAsync("pulumi", ["stack", "init", stack, "--non-interactive"], {
      cwd: dir,
      env: { ...process.env, ...env },
      timeout: 60_000,
    });
    const doc = yaml.load(fs.readFileSync(path.join(dir, `Pulumi.${stack}.yaml`), "utf8")) as {
      encryptionsalt?: string;
    };
    if (doc.encryptionsalt) salts[stack] = doc.encryptionsalt;
  }

  const deployArgs = (agent: Agent, stack: string, file: string) => [
    "deploy",
    "--stack",
    stack,
    "--work-dir",
    agent.workDir(stack),
    "--kubeconfig-file",
    `${stack}=${file}`,
  ];
  async function deploy(
    agent: Agent,
    stack: string,
    file: string,
    env: Record<string, string> = {},
  ) {
    const r = await runCli(deployArgs(agent, stack, file), { ...agent.env, ...env });
    runs.push(r);
    return r;
  }
  function startDeploy(agent: Agent, stack: string, file: string) {
    const run = startCli(deployArgs(agent, stack, file), agent.env);
    return { ...run, done: run.done.then((r) => (runs.push(r), r)) };
  }
  const locks = (stack: string) => postgresLocks(url, "scoped-cd", stack);

  async function revisions(ns: string): Promise<[number, string][]> {
    const list = await admin.core.listNamespacedSecret({
      namespace: ns,
      labelSelector: "owner=helm,name=storefront",
    });
    return list.items
      .map((s): [number, string] => [
        Number(s.metadata!.labels!.version),
        s.metadata!.labels!.status,
      ])
      .sort((x, y) => x[0] - y[0]);
  }
  async function uids(): Promise<Record<string, string>> {
    const out: Record<string, string> = {};
    for (const ns of [NS.p1, NS.p2]) {
      out[`ns/${ns}`] = (await admin.core.readNamespace({ name: ns })).metadata!.uid!;
      out[`deploy/${ns}`] = (
        await admin.apps.readNamespacedDeployment({ name: "storefront", namespace: ns })
      ).metadata!.uid!;
      out[`svc/${ns}`] = (
        await admin.core.readNamespacedService({ name: "storefront", namespace: ns })
      ).metadata!.uid!;
    }
    return out;
  }
  /** Both releases deployed with their values, the same objects (uids), no lock left. */
  async function assertIntact(what: string) {
    for (const stage of ["p1", "p2"] as const) {
      const revs = await revisions(NS[stage]);
      assert.equal(revs.at(-1)?.[1], "deployed", `${what}: ${stage} ${JSON.stringify(revs)}`);
      const cm = await admin.core.readNamespacedConfigMap({
        name: "storefront-config",
        namespace: NS[stage],
      });
      assert.equal(cm.data?.greeting, values[stage].greeting, `${what}: ${stage} greeting`);
    }
    assert.deepEqual(await uids(), baseline, `${what}: an object was replaced or lost`);
    for (const s of [stacks.d1, stacks.d2])
      assert.deepEqual(await locks(s), [], `${what}: lock of ${s}`);
  }

  const fileStart = Date.now();

  before(async function () {
    this.timeout(10 * 60_000);
    const t0 = Date.now();
    await postgres("start");
    const env = await postgres("env");
    const get = (k: string) => new RegExp(`^export ${k}="([^"]*)"$`, "m").exec(env)![1];
    url = get("SCOPED_CD_POSTGRES_URL");
    pgpass = get("PGPASSFILE");
    pgBin = get("SCOPED_CD_POSTGRES_BIN");
    password = fs.readFileSync(pgpass, "utf8").split("\n")[1].split(":")[4];
    process.env.PGPASSFILE = pgpass; // the test's own reads of the lock rows (postgresLocks)
    assert.ok(password.length >= 32 && !url.includes(password));
    note(`PostgreSQL ready in ${seconds(t0)}s (${url})`);
    admin = await adminClients();
    a = makeAgent("agent-a");
    b = makeAgent("agent-b");

    // The access stack starts on the file backend (the e2e default), as a team's does before the
    // move; handoff deploys it and writes both stages' kubeconfigs.
    const fileEnv = { ...a.env, PULUMI_BACKEND_URL: process.env.PULUMI_BACKEND_URL! };
    await initStack(stacks.access, fileEnv);
    const accessDir = a.workDir(stacks.access);
    for (const stage of ["p1", "p2"] as const) {
      const r = await runCli(
        [
          "handoff",
          "--stack",
          stacks.access,
          "--stage",
          stage,
          "--work-dir",
          accessDir,
          "--out",
          files[stage],
          ...(stage === "p1" ? ["--yes"] : ["--no-up"]),
        ],
        { ...fileEnv, KUBECONFIG: process.env.KUBECONFIG },
      );
      runs.push(r);
      assert.equal(r.code, 0, r.stderr);
    }
    for (const s of [stacks.d1, stacks.d2]) await initStack(s);
  });

  after(async function () {
    this.timeout(5 * 60_000);
    if (process.env.E2E_VERBOSE || this.currentTest?.state === "failed") {
      for (const r of runs) console.log(r.stdout, r.stderr);
    }
    await postgres("start").catch((err) => console.error(String(err)));
    for (const s of [stacks.d1, stacks.d2, stacks.access]) {
      await execFileAsync("pulumi", ["stack", "rm", s, "--yes", "--force", "--non-interactive"], {
        cwd: a.workDir(s),
        env: { ...process.env, ...a.env },
        timeout: 60_000,
      }).catch((err) => console.error(String(err)));
    }
    for (const ns of [NS.p1, NS.p2]) {
      await admin.core.deleteNamespace({ name: ns }).catch(() => undefined);
    }
    fs.rmSync(root, { recursive: true, force: true });
    note(`this file: ${seconds(fileStart)}s`);
  });

  it("migrates the access stack from the file backend with stack export/import; the preview is clean", async () => {
    const t0 = Date.now();
    const dir = a.workDir(stacks.access);
    const exported = path.join(root, "access.json");
    const fileEnv = {
      ...process.env,
      ...a.env,
      PULUMI_BACKEND_URL: process.env.PULUMI_BACKEND_URL!,
    };
    const pg = { ...process.env, ...a.env };
    const pulumi = (args: string[], env: NodeJS.ProcessEnv) =>
      execFileAsync("pulumi", [...args, "--non-interactive"], { cwd: dir, env, timeout: 120_000 });
    // The documented commands (docs/jenkins.md › Moving a stack to PostgreSQL).
    await pulumi(["stack", "export", "--stack", stacks.access, "--file", exported], fileEnv);
    await pulumi(["stack", "init", stacks.access], pg);
    await pulumi(["stack", "import", "--stack", stacks.access, "--file", exported], pg);
    const preview = await pulumi(
      ["preview", "--stack", stacks.access, "--expect-no-changes", "--diff"],
      { ...pg, KUBECONFIG: process.env.KUBECONFIG },
    );
    assert.match(preview.stdout, /unchanged/);
    await pulumi(["stack", "rm", stacks.access, "--yes", "--force"], fileEnv);
    fs.rmSync(exported);
    note(`file -> PostgreSQL migration of the access stack and a clean preview: ${seconds(t0)}s`);
  });

  it("deploys two different stacks from two agents at the same time: both succeed", async () => {
    const t0 = Date.now();
    const [x, y] = await Promise.all([
      deploy(a, stacks.d1, files.p1),
      deploy(b, stacks.d2, files.p2),
    ]);
    assert.equal(x.code, 0, x.stderr);
    assert.equal(y.code, 0, y.stderr);
    note(`two stacks, two agents, concurrently: ${seconds(t0)}s`);
    baseline = await uids();
    await assertIntact("after the first deploys");
  });

  // Agent A's deploy of d1, frozen mid-upgrade while agent B tries the same stack, then killed:
  // one deploy serves both faults (two agents on one stack, an agent lost mid-up).
  let frozen: { run: ReturnType<typeof startDeploy>; tree: number[]; before: number } | undefined;

  it("runs one deploy of a stack deployed from both agents at once; the other exits 2 naming the holder", async () => {
    values.p1 = { ...values.p1, greeting: "two-at-once" };
    const before = (await revisions(NS.p1)).at(-1)![0];
    const run = startDeploy(a, stacks.d1, files.p1);
    // Agent A holds the lock and its Helm upgrade is under way; its process tree is then frozen
    // (SIGSTOP), so agent B meets the lock however fast the rollout is on the real node.
    await waitFor("agent A's upgrade under way (Helm pending-upgrade)", 180, async () =>
      (await revisions(NS.p1)).some(([v, st]) => v > before && st === "pending-upgrade")
        ? true
        : undefined,
    );
    const tree = processTree(run.child.pid!);
    for (const pid of tree) process.kill(pid, "SIGSTOP");
    frozen = { run, tree, before };
    const [held] = await locks(stacks.d1);
    const second = await deploy(b, stacks.d1, files.p1);
    assert.equal(second.code, 2, second.stderr);
    said("agent B's deploy of the stack agent A is deploying", second);
    assert.match(
      second.stderr,
      new RegExp(
        `^scoped-cd deploy: stack ${stacks.d1}: the stack is currently locked by 1 lock\\(s\\)`,
      ),
    );
    assert.ok(held?.pid && held.hostname && held.timestamp, JSON.stringify(held));
    assert.ok(
      second.stderr.includes(
        `pid ${held.pid} on ${held.hostname} (user ${held.username}) since ${held.timestamp} (held `,
      ),
      "the holder (host, pid, start time) is not named",
    );
    assert.match(second.stderr, /that process is still running here; wait for it/);
    assert.doesNotMatch(second.stdout, /Updating \(/, "agent B ran an update");
    // One Helm revision: agent A's (B made none).
    const revs = await revisions(NS.p1);
    assert.deepEqual(
      revs.filter(([v]) => v > before),
      [[before + 1, "pending-upgrade"]],
      JSON.stringify(revs),
    );
  });

  it("recovers from agent A killed mid-up: agent B says what is wrong and what to run, then converges", async () => {
    assert.ok(frozen, "agent A's deploy of the previous test");
    const { run, tree } = frozen;
    values.p1 = { ...values.p1, greeting: "after-kill" };
    for (const pid of tree) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // already gone
      }
    }
    const killedAt = Date.now();
    await run.done;
    await waitFor("every killed process gone", 30, async () =>
      tree.some(alive) ? undefined : true,
    );
    assert.equal((await locks(stacks.d1)).length, 1, "the dead agent's lock row");

    // Agent B runs on this host too, but nothing of its own proves the holder dead: refused.
    const refused = await deploy(b, stacks.d1, files.p1);
    assert.equal(refused.code, 2, refused.stderr);
    said("agent B's deploy after agent A was killed", refused);
    assert.match(
      refused.stderr,
      /no such process here any more: the update that took it was killed \(agent lost, SIGKILL\), or it runs in another container with this host name/,
    );
    assert.match(refused.stderr, /\(held \d+m\d\ds\)/);
    noStackTrace(refused);
    const command = /^\s*(\(cd .+ && pulumi cancel --stack .+ --yes\))$/m.exec(refused.stderr)?.[1];
    assert.ok(command, `no pulumi cancel command in: ${refused.stderr}`);
    assert.ok(command.includes(b.workDir(stacks.d1)), "the command is not agent B's own");
    await execFileAsync("bash", ["-c", command], {
      env: { ...process.env, ...b.env },
      timeout: 60_000,
    });
    const rerun = await deploy(b, stacks.d1, files.p1);
    assert.equal(rerun.code, 0, rerun.stderr);
    assert.match(rerun.stderr, /pending-upgrade, left by an interrupted deploy .*: marked failed/);
    note(
      `SIGKILL of agent A (${tree.length} processes): refused, pulumi cancel, converged on agent B ${seconds(killedAt)}s after the kill`,
    );
    await assertIntact("after agent A's kill and the recovery on agent B");
  });

  it("never clears a lock of another machine, or of this host name without proof: names it with its age and the command", async () => {
    // What a dead agent elsewhere leaves: a lock row of another host (as Pulumi writes one).
    const key = `pulumi/.pulumi/locks/organization/scoped-cd/${stacks.d2}/00000000-other-agent.json`;
    const taken = new Date(Date.now() - 2 * 3600_000 - 5 * 60_000).toISOString();
    const doc = { pid: 31337, username: "jenkins", hostname: "jenkins-agent-7", timestamp: taken };
    const data = JSON.stringify({ data: Buffer.from(JSON.stringify(doc)).toString("base64") });
    await psql(`INSERT INTO pulumi_state (key, data) VALUES ('${key}', '${data}'::json)`);
    // And what a container sharing this host name (a pod's sibling: its own pids) leaves: this
    // host's name, a pid not running here, no witness in this agent's PULUMI_HOME.
    const twin = { ...doc, pid: 2 ** 22 + 7, hostname: os.hostname() };
    const twinData = JSON.stringify({ data: Buffer.from(JSON.stringify(twin)).toString("base64") });
    const twinKey = key.replace("other-agent", "same-hostname");
    await psql(`INSERT INTO pulumi_state (key, data) VALUES ('${twinKey}', '${twinData}'::json)`);
    const refused = await deploy(a, stacks.d2, files.p2);
    assert.equal(refused.code, 2, refused.stderr);
    said("deploy with another machine's lock", refused);
    assert.match(
      refused.stderr,
      /pid 31337 on jenkins-agent-7 \(user jenkins\) since .* \(held 2h0[45]m\): on another machine/,
    );
    assert.match(refused.stderr, /never cleared by scoped-cd: .*\(the lock is 2h0[45]m old\)/);
    assert.match(refused.stderr, /locked by 2 lock\(s\)/);
    assert.match(
      refused.stderr,
      /no such process here any more: .*another container with this host name/,
    );
    const command = /^\s*(\(cd .+ && pulumi cancel --stack .+ --yes\))$/m.exec(refused.stderr)?.[1];
    assert.ok(command);
    assert.equal((await locks(stacks.d2)).length, 2, "a lock was cleared by the refused deploy");
    await execFileAsync("bash", ["-c", command], {
      env: { ...process.env, ...a.env },
      timeout: 60_000,
    });
    assert.deepEqual(await locks(stacks.d2), []);
  });

  it("fails an up whose PostgreSQL stops with one line naming the backend; the next run clears its own dead lock and converges", async () => {
    values.p2 = { ...values.p2, greeting: "after-backend-outage" };
    const run = startDeploy(b, stacks.d2, files.p2);
    await waitFor("agent B's up under way (its lock row)", 120, async () =>
      (await locks(stacks.d2)).length > 0 ? true : undefined,
    );
    let failed: CliRun;
    let t0: number;
    try {
      await postgres("stop");
      const stoppedAt = Date.now();
      failed = await run.done;
      note(`up failed ${seconds(stoppedAt)}s after PostgreSQL stopped`);
    } finally {
      t0 = Date.now();
      await postgres("start");
    }
    said("deploy during the PostgreSQL stop", failed);
    assert.equal(failed.code, 2, failed.stderr);
    const errorLines = failed.stderr.split("\n").filter((l) => l.startsWith("scoped-cd deploy:"));
    assert.equal(errorLines.length, 1, failed.stderr);
    assert.match(
      errorLines[0],
      /^scoped-cd deploy: the PostgreSQL state backend postgres:\/\/scoped_cd@127\.0\.0\.1:\d+\/pulumi could not be reached while running stack /,
    );
    noStackTrace(failed);
    // The outage left the lock (the failed CLI could not delete it). It is this agent's own: the
    // next run proves its holder dead, clears it with one line, and converges; no manual step.
    const [left] = await locks(stacks.d2);
    assert.ok(left, "the lock the outage left");
    const next = await deploy(b, stacks.d2, files.p2);
    said("the next run after the outage", next);
    assert.equal(next.code, 0, next.stderr);
    const cleared = next.stderr.split("\n").filter((l) => /cleared the lock/.test(l));
    assert.equal(cleared.length, 1, next.stderr);
    assert.ok(
      cleared[0].startsWith(
        `== ${stacks.d2}: cleared the lock of pid ${left.pid} on ${left.hostname} (user ${left.username}) since ${left.timestamp} (held `,
      ),
      cleared[0],
    );
    assert.match(
      cleared[0],
      /in this boot and pid namespace, and that process \(pid \d+\) is gone$/,
    );
    note(`PostgreSQL outage: backend back and the stack converged in ${seconds(t0)}s`);
    await assertIntact("after the PostgreSQL outage");
  });

  it("masks a password given in the backend URL, and warns where Pulumi would keep it", async () => {
    const inline = url.replace("scoped_cd@", `scoped_cd:${password}@`);
    const env = { PULUMI_BACKEND_URL: inline, PGPASSFILE: path.join(root, "none") };
    await postgres("stop");
    let down: CliRun;
    try {
      down = await deploy(a, stacks.d1, files.p1, env);
    } finally {
      await postgres("start");
    }
    said("deploy with the password in the URL, PostgreSQL down", down);
    assert.equal(down.code, 2);
    assert.match(down.stderr, /== warning: the backend URL .* carries a password/);
    assert.match(down.stderr, /could not be reached while running stack/);
    const up = await deploy(a, stacks.d1, files.p1, env);
    assert.equal(up.code, 0, up.stderr);
    for (const r of [down, up]) {
      assert.ok(!(r.stdout + r.stderr).includes(password), "the password was printed");
    }
    // Why the warning: the Pulumi CLI itself keeps the URL as given in the agent's PULUMI_HOME.
    const kept = grepTree(path.join(root, "agent-a", "pulumi-home"), password);
    note(
      `Pulumi kept the inline URL's password in: ${kept.map((f) => path.basename(f)).join(", ")}`,
    );
    assert.ok(
      kept.some((f) => f.endsWith("-workspace.json")),
      "the reason for the warning is gone",
    );
  });

  it("keeps no token, kubeconfig or passphrase in plaintext in the database, and no URL password in any log", async () => {
    const dump = path.join(root, "pulumi.sql");
    await pgClient("pg_dump", ["-f", dump], 60_000);
    const raw = fs.readFileSync(dump, "utf8");
    // Pulumi stores each blob base64-encoded (optionally gzip'd): search what it decodes to as well.
    const decoded = [...raw.matchAll(/"data"\s*:\s*"([A-Za-z0-9+/=]+)"/g)].map((m) => {
      const bytes = Buffer.from(m[1], "base64");
      return (bytes[0] === 0x1f && bytes[1] === 0x8b ? zlib.gunzipSync(bytes) : bytes).toString(
        "utf8",
      );
    });
    const text = [raw, ...decoded].join("\n");
    // The search can find things: the checkpoints are there, with the stages' namespaces.
    assert.ok(
      decoded.length > 3 && text.includes(NS.p1) && text.includes(stacks.d1),
      "an empty dump",
    );
    const secrets: Record<string, string> = {
      passphrase: TEST_PASSPHRASE,
      "database password": password,
    };
    for (const stage of ["p1", "p2"] as const) {
      const kubeconfig = fs.readFileSync(files[stage], "utf8");
      secrets[`${stage} token`] = await tokenOf(kubeconfig);
      secrets[`${stage} kubeconfig`] = kubeconfig.trim();
      secrets[`${stage} kubeconfig (base64)`] = Buffer.from(kubeconfig).toString("base64");
    }
    for (const [what, value] of Object.entries(secrets)) {
      assert.ok(!text.includes(value), `the ${what} is in the database dump`);
    }
    note(
      `pg_dump: ${Math.round(raw.length / 1024)} KiB, ${decoded.length} blobs decoded, none holds the ${Object.keys(secrets).length} secrets`,
    );
    // Logs and outputs: no run printed the password; no agent file holds it (password-less URL).
    for (const r of runs)
      assert.ok(!(r.stdout + r.stderr).includes(password), "a run printed the password");
    const files_ = grepTree(path.join(root, "agent-b"), password);
    assert.deepEqual(
      files_.filter((f) => !f.endsWith("pgpass")),
      [],
      "agent B keeps the password",
    );
  });

  /** A PostgreSQL client tool of the toolchain, connected to the test database as the backend is. */
  async function pgClient(tool: "pg_dump" | "psql", args: string[], timeout: number) {
    await execFileAsync(
      path.join(pgBin, tool),
      [
        "-h",
        "127.0.0.1",
        "-p",
        /:(\d+)\//.exec(url)![1],
        "-U",
        "scoped_cd",
        "-d",
        "pulumi",
        ...args,
      ],
      { env: { ...process.env, PGPASSFILE: pgpass }, timeout },
    );
  }

  async function psql(sql: string) {
    await pgClient("psql", ["-X", "-q", "-v", "ON_ERROR_STOP=1", "-c", sql], 30_000);
  }
});

/** The files under `dir` (symlinks not followed) that contain `needle`. */
function grepTree(dir: string, needle: string): string[] {
  const found: string[] = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) found.push(...grepTree(p, needle));
    else if (entry.isFile() && fs.readFileSync(p).includes(needle)) found.push(p);
  }
  return found;
}
