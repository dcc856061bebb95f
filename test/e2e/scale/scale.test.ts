// One access stack of many stages, end to end, on a cluster instance of its own
// (`SCOPED_CD_CLUSTER=scale`: own state and ports, a kwok node), deployed as operators deploy it:
// `scoped-cd handoff`, whose `up` checkpoints once, at the end (cli/lib/accessUp.ts). So a SIGKILL
// of the whole process tree records nothing of what the run created; the test kills the first
// `up` and a rotation of every stage midway and shows that each rerun converges, removes the lost
// run's identities, and that a token minted for one of them stops working. It is the suite's
// longest file, so it runs beside the others on its own instance.
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { pendingOperationsOf } from "../../../cli/lib/interruptedDeploy";
import { adminClients, ApiEndpoint, Clients, whoAmI } from "../kube";
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
  TestStack,
  uniqueSuffix,
  waitFor,
} from "../support";

const SCALE_ENV = { ...process.env, SCOPED_CD_CLUSTER: "scale" };
const SCALE_STATE = path.join(REPO, ".local", "cluster-scale");
const STAGES = 50;
/** How many deployer identities a run has created when the test kills it. */
const KILL_AFTER = 15;

/** hack/cluster.sh on the scale instance. */
async function cluster(...args: string[]): Promise<string> {
  const { stdout } = await execFileAsync("bash", [path.join(REPO, "hack/cluster.sh"), ...args], {
    env: SCALE_ENV,
    timeout: 180_000,
  });
  return stdout;
}

const seconds = (t0: number) => Math.round((Date.now() - t0) / 100) / 10;
const note = (text: string) => console.log(`      [scale] ${text}`);

interface Account {
  readonly namespace: string;
  readonly name: string;
  readonly rotation?: string;
}

describe("scale: one access stack of 50 stages, killed and rerun, on the scale cluster", function () {
  this.timeout(20 * 60_000);
  const savedKubeconfig = process.env.KUBECONFIG;
  const suffix = uniqueSuffix();
  const prefix = `e2e-scale-${suffix}-`;
  const fileStart = Date.now();
  let scale: TestStack;
  let admin: Clients;
  let api: ApiEndpoint;
  let out: string;

  const config = (rotation: string) => ({
    mode: "access",
    cluster: { name: "scale" },
    stages: Object.fromEntries(
      Array.from({ length: STAGES }, (_, i) => [
        `s${String(i).padStart(2, "0")}`,
        { namespace: `${prefix}${i}`, deletable: true, deployer: { rotation } },
      ]),
    ),
  });
  const handoffArgs = () => [
    "handoff",
    ...["--stack", scale.name, "--stage", "s00", "--yes"],
    ...["--work-dir", scale.workDir, "--out", out],
  ];

  const locks = () => locksOf(scale.name);

  /** Every object of a kind the access layer labels as the deployer's, in this file's namespaces. */
  async function deployerObjects(kind: "serviceaccounts" | "secrets"): Promise<Account[]> {
    const selector = "app.kubernetes.io/managed-by=scoped-cd,app.kubernetes.io/component=deployer";
    const list =
      kind === "serviceaccounts"
        ? await admin.core.listServiceAccountForAllNamespaces({ labelSelector: selector })
        : await admin.core.listSecretForAllNamespaces({ labelSelector: selector });
    return list.items
      .filter((o) => o.metadata?.namespace?.startsWith(prefix))
      .map((o) => ({
        namespace: o.metadata!.namespace!,
        name: o.metadata!.name!,
        rotation: o.metadata!.annotations?.["scoped-cd.io/rotation"],
      }));
  }

  /** The stack's deployer ServiceAccounts, as its state records them. */
  async function accountsInState(): Promise<string[]> {
    const exported = (await scale.stack.exportStack()) as any;
    return ((exported.deployment?.resources ?? []) as any[])
      .filter((r) => r.type === "kubernetes:core/v1:ServiceAccount")
      .map((r) => `${r.outputs.metadata.namespace}/${r.outputs.metadata.name}`)
      .sort();
  }

  /** A token for the ServiceAccount, minted with the admin credential (as a lost run minted one). */
  async function mintToken(a: Account): Promise<string> {
    const minted = await admin.core.createNamespacedServiceAccountToken({
      name: a.name,
      namespace: a.namespace,
      body: {
        apiVersion: "authentication.k8s.io/v1",
        kind: "TokenRequest",
        spec: { audiences: [], expirationSeconds: 3600 },
      },
    });
    return minted.status!.token;
  }

  /** Start a handoff, SIGKILL its whole process tree once `ready`, and wait for it to be gone. */
  async function killWhen(what: string, ready: () => Promise<boolean>): Promise<void> {
    const run = startCli(handoffArgs());
    let ended: CliRun | undefined;
    void run.done.then((r) => (ended = r));
    await waitFor(what, 300, async () => {
      if (ended) throw new Error(`the handoff ended first (exit ${ended.code}):\n${ended.stderr}`);
      return (await ready()) ? true : undefined;
    });
    const tree = processTree(run.child.pid!);
    for (const pid of tree) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // already gone
      }
    }
    const killed = await run.done;
    assert.notEqual(killed.code, 0);
    await waitFor("every killed process to be gone", 30, async () =>
      tree.some(alive) ? undefined : true,
    );
    assert.equal(locks().length, 1, "the killed run's lock");
    note(`${what}: killed ${tree.length} processes`);
  }

  /** The rerun: converges, clears the dead run's lock, and names every identity it removed. */
  async function rerun(lost: readonly Account[]): Promise<CliRun> {
    const t0 = Date.now();
    const r = await runCli(handoffArgs());
    assert.equal(r.code, 0, r.stderr.slice(-4000));
    assert.equal(r.stderr.split("\n").filter((l) => /: cleared the lock of pid/.test(l)).length, 1);
    const removed = r.stderr
      .split("\n")
      .filter((l) => /: removed ServiceAccount /.test(l))
      .map((l) => / ServiceAccount (\S+):/.exec(l)![1]);
    for (const a of lost)
      assert.ok(removed.includes(`${a.namespace}/${a.name}`), `${a.name} removed`);
    note(`rerun converged in ${seconds(t0)}s, removing ${removed.length} lost ServiceAccounts`);
    assert.deepEqual(locks(), []);
    assert.deepEqual(pendingOperationsOf(await scale.stack.exportStack()), []);
    return r;
  }

  /** The token is refused (401) once the API server's ~10 s authentication cache has expired. */
  async function refusedSoon(token: string) {
    await waitFor("the lost identity's token to be refused", 30, async () =>
      (await whoAmI(api, token)).status === 401 ? true : undefined,
    );
  }

  /** Exactly one deployer identity per stage, the state's, and no Secret of another. */
  async function assertOnlyStateIdentities(rotation: string) {
    const accounts = await deployerObjects("serviceaccounts");
    const recorded = await accountsInState();
    assert.deepEqual(accounts.map((a) => `${a.namespace}/${a.name}`).sort(), recorded);
    assert.equal(new Set(accounts.map((a) => a.namespace)).size, STAGES);
    assert.ok(accounts.every((a) => a.rotation === rotation));
    const current = new Map(accounts.map((a) => [a.namespace, a.name]));
    for (const s of await deployerObjects("secrets")) {
      assert.ok(
        s.name.startsWith(`${current.get(s.namespace)}-`),
        `Secret ${s.namespace}/${s.name}`,
      );
    }
  }

  before(async function () {
    this.timeout(5 * 60_000);
    // A fresh cluster each run: its etcd data is this file's alone.
    await cluster("stop");
    fs.rmSync(path.join(SCALE_STATE, "etcd"), { recursive: true, force: true });
    const t0 = Date.now();
    await cluster("start");
    note(`scale cluster started in ${seconds(t0)}s`);
    process.env.KUBECONFIG = path.join(SCALE_STATE, "admin.kubeconfig");
    admin = await adminClients();
    const c = admin.kc.getCurrentCluster()!;
    api = { server: c.server, ca: Buffer.from(c.caData!, "base64") };
    scale = await createTestStack("scale");
    out = path.join(scale.workDir, "s00.kubeconfig");
  });

  after(async function () {
    this.timeout(5 * 60_000);
    await scale?.remove().catch((err) => console.error(String(err)));
    await cluster("stop").catch((err) => console.error(String(err)));
    if (savedKubeconfig === undefined) delete process.env.KUBECONFIG;
    else process.env.KUBECONFIG = savedKubeconfig;
    note(`this file, cluster start to cluster stop: ${seconds(fileStart)}s`);
  });

  it("converges after a SIGKILL of the first up; the lost run's identities are removed, their tokens refused", async () => {
    scale.setConfig(config("r1"));
    await killWhen(
      `the first up, ${KILL_AFTER} of ${STAGES} deployer identities created`,
      async () => (await deployerObjects("serviceaccounts")).length >= KILL_AFTER,
    );
    // What is at stake: the state recorded nothing (one checkpoint, at the end), and the lost
    // run's identities are live. A token minted for one works until the rerun.
    assert.deepEqual(await accountsInState(), []);
    const lost = await deployerObjects("serviceaccounts");
    assert.ok(lost.length >= KILL_AFTER);
    const token = await mintToken(lost[0]);
    assert.equal((await whoAmI(api, token)).status, 201, "the lost identity's token, before");

    await rerun(lost);
    await refusedSoon(token);
    await assertOnlyStateIdentities("r1");
    assert.ok(fs.statSync(out).isFile(), "the stage's kubeconfig was written");
  });

  it("converges after a SIGKILL of a rotation of every stage; neither the old nor the lost identities remain", async () => {
    const old = await deployerObjects("serviceaccounts");
    scale.setConfig(config("r2"));
    await killWhen(
      `the rotation, ${KILL_AFTER} new identities created`,
      async () =>
        (await deployerObjects("serviceaccounts")).filter((a) => a.rotation === "r2").length >=
        KILL_AFTER,
    );
    const recorded = new Set(await accountsInState());
    const lost = (await deployerObjects("serviceaccounts")).filter(
      (a) => a.rotation === "r2" && !recorded.has(`${a.namespace}/${a.name}`),
    );
    assert.ok(lost.length >= KILL_AFTER, "the rotation's new identities are not in the state");
    const token = await mintToken(lost[0]);
    assert.equal((await whoAmI(api, token)).status, 201);

    await rerun(lost);
    await refusedSoon(token);
    await assertOnlyStateIdentities("r2");
    const names = new Set((await deployerObjects("serviceaccounts")).map((a) => a.name));
    assert.deepEqual(
      old.filter((a) => names.has(a.name)),
      [],
      "every identity of before the rotation is gone",
    );

    const t0 = Date.now();
    const again = await scale.stack.preview({ color: "never" });
    note(`no-change preview of ${STAGES} stages: ${seconds(t0)}s`);
    assert.deepEqual(Object.keys(again.changeSummary), ["same"]);
  });
});
