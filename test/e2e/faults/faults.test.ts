// Faults, end to end, on a cluster instance of their own (`SCOPED_CD_CLUSTER=faults`: own state and
// ports; the shared e2e cluster is never stopped): two deploys at once, a deploy killed with
// SIGKILL mid-upgrade (the whole process tree, as when a Jenkins agent dies), the API server stopped
// during an up, etcd restarted between two ups, a revoked admin credential, and a delivery stack
// whose scoped credential was rotated away. Each test ends with the state checked: the release still
// `deployed`, the objects the same (uids), the namespaces kept, and `preview --expect-no-changes`
// clean after the documented recovery. Recovery times are printed (`[faults] ...`).
//
// The tests run in order and share one access stack (two stages) and two delivery stacks.
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as yaml from "js-yaml";
import { pendingOperationsOf } from "../../../cli/lib/interruptedDeploy";
import { withScopedKubeconfig } from "../../../cli/lib/scopedConfig";
import { adminClients, Clients, tokenOf, whoAmI } from "../kube";
import {
  alive,
  CliRun,
  createTestStack,
  execFileAsync,
  locksOf,
  processTree,
  REPO,
  runCli,
  startCli,
  TEST_PASSPHRASE,
  TestStack,
  uniqueSuffix,
  waitFor,
} from "../support";

const suffix = uniqueSuffix();
const NS = {
  f1: `e2e-faults-a-${suffix}`,
  f2: `e2e-faults-b-${suffix}`,
  f3: `e2e-faults-c-${suffix}`,
};
const FAULTS_ENV = { ...process.env, SCOPED_CD_CLUSTER: "faults" };
const FAULTS_KUBECONFIG = path.join(REPO, ".local", "cluster-faults", "admin.kubeconfig");
const FAULTS_SERVER = "https://127.0.0.1:16543";

/** hack/cluster.sh on the faults instance. */
async function cluster(...args: string[]): Promise<string> {
  const { stdout } = await execFileAsync("bash", [path.join(REPO, "hack/cluster.sh"), ...args], {
    env: FAULTS_ENV,
    timeout: 180_000,
  });
  return stdout;
}

const seconds = (t0: number) => Math.round((Date.now() - t0) / 100) / 10;
const note = (text: string) => console.log(`      [faults] ${text}`);
/** What a refused run said, for the transcript (the tests assert that no token is in it). */
const said = (what: string, r: CliRun) =>
  note(`${what} (exit ${r.code}):\n${r.stderr.trim().replace(/^/gm, "        | ")}`);

describe("faults: kills, restarts, revoked credentials and races, on the faults cluster", function () {
  this.timeout(15 * 60_000);
  const savedKubeconfig = process.env.KUBECONFIG;
  const savedPassphrase = process.env.PULUMI_CONFIG_PASSPHRASE;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "scoped-cd-faults-"));
  const files = { f1: path.join(dir, "f1.kubeconfig"), f2: path.join(dir, "f2.kubeconfig") };
  const runs: CliRun[] = [];
  let admin: Clients;
  let access: TestStack;
  let d1: TestStack;
  let d2: TestStack;
  const accessStages: Record<string, unknown> = {
    f1: { namespace: NS.f1, deletable: true },
    f2: { namespace: NS.f2, deletable: true },
  };
  const values = {
    f1: { replicaCount: 1, greeting: "v1" },
    f2: { replicaCount: 1, greeting: "v1" },
  };
  /** uid of every object a fault must leave in place, recorded after the first deploys. */
  let baseline: Record<string, string> = {};

  async function scopedCd(args: string[], env: Record<string, string | undefined> = {}) {
    const r = await runCli(args, env);
    runs.push(r);
    return r;
  }
  /** `scoped-cd <command>` of a delivery stack with a kubeconfig file, as Jenkins runs it. */
  const stackArgs = (command: string, d: TestStack, file: string) => [
    command,
    "--stack",
    d.name,
    "--work-dir",
    d.workDir,
    "--kubeconfig-file",
    `${d.name}=${file}`,
  ];
  const deployArgs = (d: TestStack, file: string) => stackArgs("deploy", d, file);
  function setDelivery(d: TestStack, stage: "f1" | "f2") {
    d.setConfig({
      mode: "delivery",
      cluster: { name: "faults" },
      accessStack: access.name,
      stages: {
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
    });
  }
  function setAccess(stages = accessStages) {
    access.setConfig({ mode: "access", cluster: { name: "faults" }, stages });
  }

  /** Helm's revisions of storefront in a namespace, oldest first: [revision, status]. */
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
      .sort((a, b) => a[0] - b[0]);
  }

  async function uids(): Promise<Record<string, string>> {
    const out: Record<string, string> = {};
    for (const ns of [NS.f1, NS.f2]) {
      out[`ns/${ns}`] = (await admin.core.readNamespace({ name: ns })).metadata!.uid!;
      out[`deploy/${ns}`] = (
        await admin.apps.readNamespacedDeployment({ name: "storefront", namespace: ns })
      ).metadata!.uid!;
      out[`svc/${ns}`] = (
        await admin.core.readNamespacedService({ name: "storefront", namespace: ns })
      ).metadata!.uid!;
      out[`role/${ns}`] = (
        await admin.rbac.readNamespacedRole({ name: "scoped-deployer", namespace: ns })
      ).metadata!.uid!;
      const quotas = await admin.core.listNamespacedResourceQuota({ namespace: ns });
      for (const q of quotas.items) out[`quota/${ns}/${q.metadata!.name}`] = q.metadata!.uid!;
    }
    return out;
  }

  /**
   * The end of every fault: both releases deployed with their values, the same objects (uids) as
   * before, the namespaces kept, and every stack's preview without changes.
   */
  async function assertIntact(
    what: string,
    previews: readonly ("access" | "d1" | "d2")[] = ["access", "d1", "d2"],
  ) {
    for (const stage of ["f1", "f2"] as const) {
      const revs = await revisions(NS[stage]);
      assert.equal(
        revs.at(-1)?.[1],
        "deployed",
        `${what}: ${stage} release ${JSON.stringify(revs)}`,
      );
      const d = await admin.apps.readNamespacedDeployment({
        name: "storefront",
        namespace: NS[stage],
      });
      assert.equal(d.spec?.replicas, values[stage].replicaCount, `${what}: ${stage} replicas`);
      const cm = await admin.core.readNamespacedConfigMap({
        name: "storefront-config",
        namespace: NS[stage],
      });
      assert.equal(cm.data?.greeting, values[stage].greeting, `${what}: ${stage} greeting`);
    }
    assert.deepEqual(await uids(), baseline, `${what}: an object was replaced or lost`);
    const expectNoChanges = (t: TestStack, configFile?: string) =>
      t.stack.preview({ expectNoChanges: true, color: "never", configFile }).catch((err) => {
        throw new Error(
          `${what}: ${t.name} preview --expect-no-changes: ${String(err).slice(-2000)}`,
        );
      });
    // The stacks the fault could have touched (every test checks all objects' uids above).
    if (previews.includes("access")) await expectNoChanges(access);
    // Delivery stacks as Jenkins runs them: with the handed-over file as secret config.
    if (previews.includes("d1"))
      await withScopedKubeconfig(d1.workDir, d1.name, files.f1, (c) => expectNoChanges(d1, c));
    if (previews.includes("d2"))
      await withScopedKubeconfig(d2.workDir, d2.name, files.f2, (c) => expectNoChanges(d2, c));
  }

  const fileStart = Date.now();

  before(async function () {
    this.timeout(10 * 60_000);
    // A fresh faults cluster for each run: its etcd data is this file's alone (nothing leaks into
    // the next run: no leftover namespaces or cluster-wide policies of killed runs).
    await cluster("stop");
    fs.rmSync(path.join(REPO, ".local", "cluster-faults", "etcd"), {
      recursive: true,
      force: true,
    });
    const t0 = Date.now();
    await cluster("start");
    note(`faults cluster started in ${seconds(t0)}s`);
    process.env.KUBECONFIG = FAULTS_KUBECONFIG;
    process.env.PULUMI_CONFIG_PASSPHRASE = TEST_PASSPHRASE; // withScopedKubeconfig's pulumi config
    admin = await adminClients();

    access = await createTestStack("faults-access");
    setAccess();
    d1 = await createTestStack("faults-d1", { KUBECONFIG: path.join(dir, "no-admin") });
    d2 = await createTestStack("faults-d2", { KUBECONFIG: path.join(dir, "no-admin") });
    setDelivery(d1, "f1");
    setDelivery(d2, "f2");
    for (const stage of ["f1", "f2"] as const) {
      const r = await scopedCd([
        "handoff",
        "--stack",
        access.name,
        "--stage",
        stage,
        "--work-dir",
        access.workDir,
        "--out",
        files[stage],
        ...(stage === "f1" ? ["--yes"] : ["--no-up"]),
      ]);
      assert.equal(r.code, 0, r.stderr);
    }
  });

  after(async function () {
    this.timeout(5 * 60_000);
    if (process.env.E2E_VERBOSE || this.currentTest?.state === "failed") {
      for (const r of runs) console.log(r.stdout, r.stderr);
    }
    // The cluster goes with its etcd data; the stacks only leave the shared backend.
    for (const t of [d1, d2, access]) {
      await t?.remove().catch((err) => console.error(String(err)));
    }
    await cluster("stop").catch((err) => console.error(String(err)));
    if (savedKubeconfig === undefined) delete process.env.KUBECONFIG;
    else process.env.KUBECONFIG = savedKubeconfig;
    if (savedPassphrase === undefined) delete process.env.PULUMI_CONFIG_PASSPHRASE;
    else process.env.PULUMI_CONFIG_PASSPHRASE = savedPassphrase;
    fs.rmSync(dir, { recursive: true, force: true });
    note(`this file, cluster start to cluster stop: ${seconds(fileStart)}s`);
  });

  it("deploys two different stacks at the same time: both succeed", async () => {
    const t0 = Date.now();
    const [a, b] = await Promise.all([
      scopedCd(deployArgs(d1, files.f1)),
      scopedCd(deployArgs(d2, files.f2)),
    ]);
    assert.equal(a.code, 0, a.stderr);
    assert.equal(b.code, 0, b.stderr);
    note(`two stacks deployed concurrently in ${seconds(t0)}s`);
    baseline = await uids();
    await assertIntact("after the first deploys");
  });

  it("refuses a second deploy of the same stack with the backend's lock message; it changes nothing", async () => {
    values.f1 = { ...values.f1, greeting: "two-at-once" };
    setDelivery(d1, "f1");
    const before = await revisions(NS.f1);
    const first = startCli(deployArgs(d1, files.f1));
    await waitFor("the first deploy's lock", 120, async () =>
      locksOf(d1.name).length > 0 ? true : undefined,
    );
    const second = await scopedCd(deployArgs(d1, files.f1));
    const firstRun = await first.done;
    runs.push(firstRun);
    assert.equal(firstRun.code, 0, firstRun.stderr);
    assert.equal(second.code, 2, second.stderr);
    said("second deploy of the same stack", second);
    assert.match(
      second.stderr,
      new RegExp(
        `^scoped-cd deploy: stack ${d1.name}: the stack is currently locked by 1 lock\\(s\\)\\. Either wait for the other process\\(es\\) to end`,
      ),
    );
    assert.match(second.stderr, /that process is still running here; wait for it/);
    assert.match(second.stderr, /Nothing was changed/);
    assert.doesNotMatch(second.stdout, /Updating \(/, "the second deploy ran an update");
    // Exactly one new revision: the first deploy's.
    const after = await revisions(NS.f1);
    assert.deepEqual(after.length, before.length + 1, JSON.stringify(after));
    assert.equal(after.filter(([, s]) => s === "deployed").length, 1);
    await assertIntact("after two deploys of one stack", ["d1"]);
  });

  it("recovers a deploy killed with SIGKILL mid-upgrade (the whole process tree, as an agent dies)", async () => {
    values.f1 = { ...values.f1, replicaCount: 2 };
    setDelivery(d1, "f1");
    const last = (await revisions(NS.f1)).at(-1)![0];
    const run = startCli(deployArgs(d1, files.f1));
    await waitFor("the upgrade to be under way (Helm revision pending-upgrade)", 180, async () => {
      const revs = await revisions(NS.f1);
      return revs.some(([v, s]) => v > last && s === "pending-upgrade") ? true : undefined;
    });
    const tree = processTree(run.child.pid!);
    for (const pid of tree) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // already gone
      }
    }
    const killedAt = Date.now();
    const killed = await run.done;
    assert.notEqual(killed.code, 0);
    assert.ok(tree.length >= 3, `the CLI, pulumi and its plugins: ${tree.length} processes`);
    await waitFor("every killed process to be gone", 30, async () =>
      tree.some(alive) ? undefined : true,
    );
    note(`killed ${tree.length} processes mid-upgrade`);

    // What the agent's death left: the lock, a pending operation, a pending Helm revision; what ran
    // before still runs.
    assert.equal(locksOf(d1.name).length, 1, "the dead deploy's lock");
    const pending = pendingOperationsOf(await d1.stack.exportStack());
    assert.ok(
      pending.some(
        (p) => p.type === "updating" && p.resourceType === "kubernetes:helm.sh/v3:Release",
      ),
      `pending operations: ${JSON.stringify(pending)}`,
    );
    assert.equal((await revisions(NS.f1)).at(-1)?.[1], "pending-upgrade");
    const running = await admin.apps.readNamespacedDeployment({
      name: "storefront",
      namespace: NS.f1,
    });
    assert.ok((running.status?.readyReplicas ?? 0) >= 1, "the previous revision still runs");

    // The rerun, from the same PULUMI_HOME on the same host, proves the holder dead (its witness:
    // this boot and pid namespace, that pulumi process gone), clears the lock in one line, and
    // converges. (Another agent's rerun is refused with the command: test/e2e/postgres.test.ts.)
    const [left] = locksOf(d1.name);
    const rerun = await scopedCd(deployArgs(d1, files.f1));
    assert.equal(rerun.code, 0, rerun.stderr);
    const cleared = rerun.stderr.split("\n").filter((l) => /cleared the lock/.test(l));
    assert.equal(cleared.length, 1, rerun.stderr);
    assert.match(
      cleared[0],
      new RegExp(
        `^== ${d1.name}: cleared the lock of pid ${left.pid} on .* \\(held \\d+m\\d\\ds\\): .*that process \\(pid ${left.pid}\\) is gone$`,
      ),
    );
    note(
      rerun.stderr
        .split("\n")
        .filter((l) => l.startsWith("== "))
        .join("\n"),
    );
    assert.match(rerun.stderr, /was interrupted while updating .*Release::/);
    assert.match(rerun.stderr, /pending-upgrade, left by an interrupted deploy .*: marked failed/);
    note(
      `SIGKILL: the rerun cleared the dead deploy's lock and converged ${seconds(killedAt)}s after the kill`,
    );
    const revs = await revisions(NS.f1);
    assert.deepEqual(
      revs.slice(-2).map(([, s]) => s),
      ["failed", "deployed"],
      JSON.stringify(revs),
    );
    assert.equal(locksOf(d1.name).length, 0);
    assert.deepEqual(pendingOperationsOf(await d1.stack.exportStack()), []);
    await assertIntact("after the SIGKILL and its recovery", ["d1"]);
  });

  it("fails an up whose API server stops, naming the server; the rerun converges, nothing replaced", async () => {
    values.f1 = { ...values.f1, greeting: "after-apiserver-restart" };
    setDelivery(d1, "f1");
    assert.deepEqual(locksOf(d1.name), [], "a lock left by an earlier test");
    const run = startCli(deployArgs(d1, files.f1));
    await waitFor("the deploy's up to start (its lock)", 120, async () =>
      locksOf(d1.name).length > 0 ? true : undefined,
    );
    let t0: number;
    try {
      await cluster("stop-component", "kube-apiserver");
      const stoppedAt = Date.now();
      const failed = await run.done;
      runs.push(failed);
      note(`up failed ${seconds(stoppedAt)}s after the API server stopped`);
      said("deploy during the API server stop", failed);
      assert.equal(failed.code, 2, failed.stderr);
      assert.match(failed.stderr, /^scoped-cd deploy: pulumi up of stack /m);
      assert.match(
        failed.stderr,
        /could not reach the API server at (https:\/\/)?127\.0\.0\.1:16543/,
      );
      assert.doesNotMatch(failed.stderr, /^\s+at .+:\d+:\d+\)?$/m, "a stack trace");
    } finally {
      // Back up whatever happened above, so the tests after this one find a cluster.
      t0 = Date.now();
      await cluster("start"); // the API server, and the controller-manager if it exited with it
    }
    note(`cluster back in ${seconds(t0)}s`);
    const rerun = await scopedCd(deployArgs(d1, files.f1));
    assert.equal(rerun.code, 0, rerun.stderr);
    note(
      `API server restart: cluster back and rerun converged in ${seconds(t0)}s${/marked failed/.test(rerun.stderr) ? " (a pending Helm revision was marked failed)" : ""}`,
    );
    await assertIntact("after the API server restart");
  });

  it("shows no diff and replaces nothing after etcd restarts between two ups", async () => {
    const revsBefore = await revisions(NS.f1);
    const t0 = Date.now();
    try {
      await cluster("stop-component", "etcd");
      await cluster("start-component", "etcd");
    } finally {
      await cluster("start"); // whatever exited meanwhile; waits for /readyz
    }
    note(`etcd restarted, cluster ready in ${seconds(t0)}s`);
    await waitFor("the API server to serve again", 60, async () =>
      (await admin.core.readNamespace({ name: NS.f1 })) ? true : undefined,
    );
    const up = await access.stack.up({ expectNoChanges: true, color: "never" });
    assert.deepEqual(Object.keys(up.summary.resourceChanges ?? {}), ["same"]);
    const deployed = await scopedCd([...deployArgs(d1, files.f1), "--output", "json"]);
    assert.equal(deployed.code, 0, deployed.stderr);
    assert.deepEqual(await revisions(NS.f1), revsBefore, "no Helm upgrade");
    await assertIntact("after the etcd restart", ["d1", "d2"]); // access: the up above
  });

  it("fails an access up with a revoked admin credential before changing anything, naming it", async () => {
    // An admin credential of its own: a ServiceAccount bound to cluster-admin, its token in a kubeconfig.
    const sa = `faults-admin-${suffix}`;
    await admin.core.createNamespacedServiceAccount({
      namespace: "kube-system",
      body: { metadata: { name: sa } },
    });
    await admin.rbac.createClusterRoleBinding({
      body: {
        metadata: { name: sa },
        roleRef: {
          apiGroup: "rbac.authorization.k8s.io",
          kind: "ClusterRole",
          name: "cluster-admin",
        },
        subjects: [{ kind: "ServiceAccount", name: sa, namespace: "kube-system" }],
      },
    });
    const token = (
      await admin.core.createNamespacedServiceAccountToken({
        name: sa,
        namespace: "kube-system",
        body: { spec: { expirationSeconds: 3600, audiences: [] } },
      })
    ).status!.token;
    const doc = yaml.load(fs.readFileSync(FAULTS_KUBECONFIG, "utf8")) as {
      users: { name: string; user: Record<string, unknown> }[];
    };
    doc.users = doc.users.map((u) => ({ ...u, user: { token } }));
    const opsKubeconfig = path.join(dir, "operator.kubeconfig");
    fs.writeFileSync(opsKubeconfig, yaml.dump(doc), { mode: 0o600 });
    const asOperator = { KUBECONFIG: opsKubeconfig };
    const pulumiEnv = { ...process.env, PULUMI_CONFIG_PASSPHRASE: TEST_PASSPHRASE, ...asOperator };
    // It works while bound: the access stack previews with it.
    await execFileAsync("pulumi", ["preview", "--stack", access.name, "--non-interactive"], {
      cwd: access.workDir,
      env: pulumiEnv,
      timeout: 5 * 60_000,
      maxBuffer: 64 * 1024 * 1024,
    });

    // A pending change: a third stage. Neither refusal below may create any of it.
    setAccess({ ...accessStages, f3: { namespace: NS.f3, deletable: true } });
    const stateBefore = (await access.stack.exportStack()).deployment.resources.length;
    const handoff = () =>
      scopedCd(
        [
          "handoff",
          "--stack",
          access.name,
          "--stage",
          "f3",
          "--work-dir",
          access.workDir,
          "--yes",
          "--out",
          path.join(dir, "f3.kubeconfig"),
        ],
        asOperator,
      );
    const assertNothingChanged = async (what: string) => {
      assert.equal(
        (await access.stack.exportStack()).deployment.resources.length,
        stateBefore,
        what,
      );
      const namespaces = await admin.core.listNamespace();
      assert.ok(
        !namespaces.items.some((n) => n.metadata?.name === NS.f3),
        `${what}: ${NS.f3} was created`,
      );
      assert.ok(!fs.existsSync(path.join(dir, "f3.kubeconfig")));
    };

    // The binding deleted: authenticated, but no longer an admin (403).
    await admin.rbac.deleteClusterRoleBinding({ name: sa });
    const forbidden = await waitFor("the refusal of the unbound credential", 60, async () => {
      const r = await handoff();
      if (/403 Forbidden/.test(r.stderr)) return r;
      // Kept as the timeout's reason: what the handoff said instead.
      throw new Error(`handoff exited ${r.code}:\n${r.stderr.slice(-3000)}`);
    });
    assert.equal(forbidden.code, 2);
    said("handoff with the unbound admin credential", forbidden);
    assert.match(
      forbidden.stderr,
      new RegExp(
        `the admin kubeconfig \\(${opsKubeconfig.replace(/[.]/g, "\\.")}; context [^,]+, user [^)]+\\) authenticates as system:serviceaccount:kube-system:${sa}, which may not create namespaces`,
      ),
    );
    assert.match(
      forbidden.stderr,
      /nothing was changed\. Get a current admin credential for https:\/\/127\.0\.0\.1:16543/,
    );
    assert.doesNotMatch(forbidden.stderr, /^\s+at .+:\d+:\d+\)?$/m, "a stack trace");
    await assertNothingChanged("after the 403");

    // The ServiceAccount deleted: its token is revoked (401).
    await admin.core.deleteNamespacedServiceAccount({ name: sa, namespace: "kube-system" });
    const api = { server: FAULTS_SERVER, ca: await caOf(admin) };
    await waitFor("the revoked token to get 401", 60, async () =>
      (await whoAmI(api, token)).status === 401 ? true : undefined,
    );
    const revoked = await handoff();
    assert.equal(revoked.code, 2, revoked.stderr);
    said("handoff with the revoked admin credential", revoked);
    assert.match(
      revoked.stderr,
      new RegExp(
        `the API server https://127\\.0\\.0\\.1:16543 refused the admin kubeconfig \\(${opsKubeconfig.replace(/[.]/g, "\\.")}; context [^)]+\\): 401 Unauthorized \\(SelfSubjectReview\\)\\. Its credential is revoked, expired or not trusted`,
      ),
    );
    assert.ok(!revoked.stderr.includes(token), "the token is shown");
    assert.doesNotMatch(revoked.stderr, /^\s+at .+:\d+:\d+\)?$/m, "a stack trace");
    await assertNothingChanged("after the 401");

    setAccess();
    await assertIntact("after the revoked admin credential", ["access"]);
  });

  it("names the hand-over step when a delivery stack's scoped credential was rotated away", async () => {
    const old = path.join(dir, "f2-old.kubeconfig");
    fs.copyFileSync(files.f2, old);
    const oldToken = await tokenOf(fs.readFileSync(old, "utf8"));
    setAccess({
      ...accessStages,
      f2: { ...(accessStages.f2 as object), deployer: { rotation: "r2" } },
    });
    const rotated = await scopedCd([
      "handoff",
      "--stack",
      access.name,
      "--stage",
      "f2",
      "--work-dir",
      access.workDir,
      "--yes",
      "--out",
      files.f2,
    ]);
    assert.equal(rotated.code, 0, rotated.stderr);
    const api = { server: FAULTS_SERVER, ca: await caOf(admin) };
    await waitFor("the old token to get 401", 60, async () =>
      (await whoAmI(api, oldToken)).status === 401 ? true : undefined,
    );
    const revsBefore = await revisions(NS.f2);
    const handover = new RegExp(
      `scoped-cd handoff --stack ${access.name} --stage f2\`.*Jenkins credential scoped-cd-kubeconfig-f2`,
    );
    const deploy = await scopedCd(stackArgs("deploy", d2, old));
    assert.equal(deploy.code, 2, deploy.stderr);
    said("deploy with the rotated-away kubeconfig", deploy);
    assert.match(
      deploy.stderr,
      /refused the scoped kubeconfig of stack .* \(stage f2\): 401 Unauthorized/,
    );
    assert.match(deploy.stderr, handover);
    assert.match(deploy.stderr, /Nothing was changed/);
    const verify = await scopedCd(stackArgs("verify", d2, old));
    assert.equal(verify.code, 2, verify.stderr);
    said("verify with the rotated-away kubeconfig", verify);
    assert.match(verify.stderr, /401 Unauthorized/);
    assert.match(verify.stderr, handover);
    const drift = await scopedCd([
      ...stackArgs("drift", d2, old),
      "--out",
      path.join(dir, "drift.md"),
    ]);
    assert.equal(drift.code, 2, drift.stderr);
    note(
      `drift report with the rotated-away kubeconfig:\n${drift.stdout.replace(/^/gm, "        | ")}`,
    );
    assert.match(drift.stdout, handover);
    assert.deepEqual(await revisions(NS.f2), revsBefore, "a refused run changed the release");
    for (const r of [deploy, verify, drift]) {
      assert.doesNotMatch(r.stderr, /^\s+at .+:\d+:\d+\)?$/m, "a stack trace");
      assert.ok(!r.stderr.includes(oldToken) && !r.stdout.includes(oldToken), "the token is shown");
    }

    // The hand-over done (the new file): deploy converges, the release untouched.
    const t0 = Date.now();
    const redeployed = await scopedCd(deployArgs(d2, files.f2));
    assert.equal(redeployed.code, 0, redeployed.stderr);
    note(`rotated credential: deploy with the handed-over file converged in ${seconds(t0)}s`);
    const clean = await scopedCd([
      ...stackArgs("drift", d2, files.f2),
      "--out",
      path.join(dir, "drift.md"),
    ]);
    assert.equal(clean.code, 0, clean.stdout);
    Object.assign(accessStages, {
      f2: { ...(accessStages.f2 as object), deployer: { rotation: "r2" } },
    });
    setAccess();
    await assertIntact("after the rotation and hand-over", ["access", "d2"]);
  });
});

/** The cluster CA the admin kubeconfig trusts (inline or by file). */
async function caOf(clients: Clients): Promise<Buffer> {
  const c = clients.kc.getCurrentCluster();
  if (c?.caData) return Buffer.from(c.caData, "base64");
  if (c?.caFile) return fs.readFileSync(c.caFile);
  throw new Error("the admin kubeconfig has no CA");
}
