// Tiller (Helm v2) proven with the real Helm v2 client and Tiller v2.17.0 (hack/toolchain/helm2),
// against the real API server. One access stack, two stages: `c` runs Tiller in the cluster,
// `l` runs it locally through `scoped-cd helm2`. With no kubelet here, the in-cluster Tiller is
// the real binary run as a local process holding exactly what its pod would hold: a token of its
// ServiceAccount (minted with TokenRequest, as the kubelet would) and the Deployment's flags.
import * as assert from "node:assert/strict";
import { ChildProcess, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as http from "node:http";
import * as os from "node:os";
import * as path from "node:path";
import { adminClients, canI, Clients, clientsFor, statusOf, tokenOf } from "./kube";
import {
  collect,
  createTestStack,
  execFileAsync,
  REPO,
  runCli,
  TestStack,
  uniqueSuffix,
  waitFor,
} from "./support";
import { freePort } from "../../cli/commands/helm2";

const suffix = uniqueSuffix();
const NS_C = `e2e-tiller-c-${suffix}`;
const NS_L = `e2e-tiller-l-${suffix}`;
const CHARTS = path.join(REPO, "test/e2e/charts");
const STOREFRONT = path.join(CHARTS, "helm2-storefront");

function stackConfig(rotation: string) {
  return {
    mode: "access",
    cluster: { name: "local" },
    stages: {
      c: {
        namespace: NS_C,
        deletable: true,
        // allowRbac: the scoped identity may then read Tiller's live Role, which verify compares.
        deployer: { rotation, allowRbac: true },
        tiller: { enabled: true, mode: "cluster" },
      },
      l: { namespace: NS_L, deletable: true, tiller: { enabled: true, mode: "local" } },
    },
  };
}

/** What a transcript line shows: the command and its output (E2E_VERBOSE prints them). */
const transcript: string[] = [];
function record(command: string, out: string) {
  transcript.push(`$ ${command}\n${out.trimEnd()}\n`);
}

const ready = (port: number) =>
  new Promise<true | undefined>((resolve) => {
    const req = http.get({ host: "127.0.0.1", port, path: "/readiness", timeout: 1000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200 ? true : undefined);
    });
    req.on("error", () => resolve(undefined));
    req.on("timeout", () => req.destroy());
  });

/** helm2 with the given HELM_HOST; resolves with exit code and output (never rejects). */
async function helm2(
  host: string,
  helmHome: string,
  ...args: string[]
): Promise<{ code: number; out: string }> {
  try {
    const { stdout, stderr } = await execFileAsync("helm2", ["--host", host, ...args], {
      env: { ...process.env, HELM_HOME: helmHome, KUBECONFIG: "/nonexistent" },
      timeout: 120_000,
    });
    record(`helm2 ${args.join(" ")}`, stdout + stderr);
    return { code: 0, out: stdout + stderr };
  } catch (err) {
    const e = err as { code?: unknown; stdout?: string; stderr?: string };
    if (typeof e.code !== "number") throw err;
    const out = (e.stdout ?? "") + (e.stderr ?? "");
    record(`helm2 ${args.join(" ")}  # exit ${e.code}`, out);
    return { code: e.code, out };
  }
}

describe("Tiller with a real Helm v2 client", function () {
  this.timeout(5 * 60_000);
  let t: TestStack;
  let admin: Clients;
  let kubeconfigs: Record<string, string>;
  let tillerAccount: string;
  let tillerToken: string;
  let tiller: ChildProcess | undefined;
  let host: string;
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "scoped-cd-tiller-e2e-")); // 0700
  const helmHome = path.join(tmp, "helm-home");

  before(async () => {
    admin = await adminClients();
    t = await createTestStack("tiller");
    t.setConfig(stackConfig("r1"));
    const up = await t.stack.up({ onOutput: collect(t) });
    kubeconfigs = up.outputs.kubeconfigs.value;
    tillerAccount = up.outputs.stages.value.c.tiller.serviceAccount;
    await execFileAsync("helm2", ["init", "--client-only", "--skip-repos"], {
      env: { ...process.env, HELM_HOME: helmHome },
      timeout: 30_000,
    });
  });

  after(async function () {
    if (tiller && tiller.exitCode === null) tiller.kill("SIGKILL");
    if (process.env.E2E_VERBOSE) console.log(transcript.join("\n"));
    if (process.env.E2E_VERBOSE || this.currentTest?.state === "failed")
      console.log(t?.log.join(""));
    await t?.stack.destroy({ onOutput: collect(t) }).catch((err) => console.error(String(err)));
    await t?.remove().catch(() => undefined);
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  describe("in the cluster (tiller.mode cluster), as its own ServiceAccount", () => {
    before(async () => {
      // The credential the pod would hold: a token of Tiller's ServiceAccount, minted with the
      // admin credential as the kubelet would, in a kubeconfig in a 0700 dir (never on argv).
      const minted = await admin.core.createNamespacedServiceAccountToken({
        name: tillerAccount,
        namespace: NS_C,
        body: { spec: { audiences: [], expirationSeconds: 600 } },
      });
      tillerToken = minted.status!.token;
      const kubeconfigFile = path.join(tmp, "tiller.kubeconfig");
      fs.writeFileSync(
        kubeconfigFile,
        kubeconfigs.c.replace(await tokenOf(kubeconfigs.c), tillerToken),
        { mode: 0o600 },
      );
      // The Deployment's own flags and environment, with loopback ports of our choosing.
      const deployment = await admin.apps.readNamespacedDeployment({
        name: "tiller-deploy",
        namespace: NS_C,
      });
      const container = deployment.spec!.template.spec!.containers[0];
      const [grpc, probe] = [await freePort(), await freePort()];
      const args = container.args!.map((a) =>
        a.startsWith("--listen=")
          ? `--listen=localhost:${grpc}`
          : a.startsWith("--probe-listen=")
            ? `--probe-listen=localhost:${probe}`
            : a,
      );
      assert.deepEqual(
        args.filter((a) => !a.includes("listen")),
        ["--storage=secret", "--history-max=10"],
      );
      const env = Object.fromEntries(container.env!.map((e) => [e.name, e.value!]));
      assert.deepEqual(env, { TILLER_NAMESPACE: NS_C });
      tiller = spawn("tiller", args, {
        // HOME: client-go keeps its discovery cache under $HOME/.kube (without one, in the cwd).
        env: { PATH: process.env.PATH!, HOME: tmp, ...env, KUBECONFIG: kubeconfigFile },
        stdio: "ignore",
      });
      await waitFor("tiller to be ready", 30, () => ready(probe));
      host = `localhost:${grpc}`;
    });

    it("installs, upgrades, lists and rolls back the sample chart in the stage namespace", async () => {
      const install = await helm2(
        host,
        helmHome,
        "install",
        STOREFRONT,
        "--name",
        "web",
        "--namespace",
        NS_C,
      );
      assert.equal(install.code, 0, install.out);
      const upgrade = await helm2(
        host,
        helmHome,
        "upgrade",
        "web",
        STOREFRONT,
        "--set",
        "greeting=second",
      );
      assert.equal(upgrade.code, 0, upgrade.out);
      const greeting = async () =>
        (await admin.core.readNamespacedConfigMap({ name: "web-config", namespace: NS_C })).data!
          .greeting;
      assert.equal(await greeting(), "second");
      const rollback = await helm2(host, helmHome, "rollback", "web", "1");
      assert.equal(rollback.code, 0, rollback.out);
      assert.equal(await greeting(), "hello from scoped-cd");
      const ls = await helm2(host, helmHome, "ls", "--all");
      assert.match(
        ls.out,
        new RegExp(`web\\s+3\\s.*DEPLOYED\\s+helm2-storefront-1.4.2\\s.*${NS_C}`),
      );
      await helm2(host, helmHome, "history", "web");
      // Release records: Secrets in the stage namespace, owned by Tiller.
      const records = await admin.core.listNamespacedSecret({
        namespace: NS_C,
        labelSelector: "OWNER=TILLER,NAME=web",
      });
      assert.deepEqual(records.items.map((s) => s.metadata!.name).sort(), [
        "web.v1",
        "web.v2",
        "web.v3",
      ]);
    });

    for (const [chart, refused, left] of [
      ["helm2-escape-cluster", /clusterrolebindings.* is forbidden/, "clusterrolebinding"],
      ["helm2-escape-namespace", /configmaps.* is forbidden.*namespace "default"/, "configmap"],
    ] as const) {
      it(`refuses ${chart} with the API server's 403, and nothing outside the namespace changes`, async () => {
        const name = `esc-${chart.includes("cluster") ? "c" : "n"}`;
        const result = await helm2(
          host,
          helmHome,
          "install",
          path.join(CHARTS, chart),
          "--name",
          name,
          "--namespace",
          NS_C,
        );
        assert.notEqual(result.code, 0);
        assert.match(result.out, refused);
        assert.match(result.out, new RegExp(`system:serviceaccount:${NS_C}:${tillerAccount}`));
        const status =
          left === "clusterrolebinding"
            ? await statusOf(admin.rbac.readClusterRoleBinding({ name: `${name}-escape` }))
            : await statusOf(
                admin.core.readNamespacedConfigMap({
                  name: `${name}-escape`,
                  namespace: "default",
                }),
              );
        assert.equal(status, 404, `the ${left} exists`);
      });
    }
  });

  describe("locally (tiller.mode local), through scoped-cd helm2", () => {
    const helm2Cli = (...helmArgs: string[]) =>
      runCli(
        ["helm2", "--stack", t.name, "--stage", "l", "--work-dir", t.workDir, "--", ...helmArgs],
        { HELM_HOME: helmHome, KUBECONFIG: "/nonexistent" },
      ).then((r) => {
        record(
          `scoped-cd helm2 --stack <s> --stage l -- ${helmArgs.join(" ")}  # exit ${r.code}`,
          r.stdout + r.stderr,
        );
        return r;
      });
    const leftovers = () =>
      fs
        .readdirSync(os.tmpdir())
        .filter((n) => n.startsWith("scoped-cd-helm2-"))
        .sort();

    it("declares no Tiller identity, and the deployer holds no port-forward", async () => {
      const names = async (list: Promise<{ items: { metadata?: { name?: string } }[] }>) =>
        (await list).items.map((i) => i.metadata!.name!).filter((n) => n.startsWith("tiller"));
      assert.deepEqual(
        await names(admin.core.listNamespacedServiceAccount({ namespace: NS_L })),
        [],
      );
      assert.deepEqual(await names(admin.rbac.listNamespacedRole({ namespace: NS_L })), []);
      assert.deepEqual(await names(admin.rbac.listNamespacedRoleBinding({ namespace: NS_L })), []);
      assert.deepEqual(await names(admin.apps.listNamespacedDeployment({ namespace: NS_L })), []);
      const forward = { verb: "create", resource: "pods", subresource: "portforward" };
      const local = await clientsFor(kubeconfigs.l);
      assert.equal(await canI(local, { ...forward, namespace: NS_L }), false);
      const cluster = await clientsFor(kubeconfigs.c);
      assert.equal(await canI(cluster, { ...forward, namespace: NS_C }), true);
    });

    it("installs, upgrades, lists and rolls back with only the stage's credential, then stops Tiller", async () => {
      const before = leftovers();
      assert.equal((await helm2Cli("install", STOREFRONT, "--name", "web")).code, 0);
      assert.equal((await helm2Cli("upgrade", "web", STOREFRONT, "--set", "greeting=b")).code, 0);
      assert.equal((await helm2Cli("rollback", "web", "1")).code, 0);
      const ls = await helm2Cli("ls");
      assert.equal(ls.code, 0, ls.stderr);
      assert.match(
        ls.stdout,
        new RegExp(`web\\s+3\\s.*DEPLOYED\\s+helm2-storefront-1.4.2\\s.*${NS_L}`),
      );
      const records = await admin.core.listNamespacedSecret({
        namespace: NS_L,
        labelSelector: "OWNER=TILLER,NAME=web",
      });
      assert.equal(records.items.length, 3);
      assert.deepEqual(leftovers(), before, "a temporary kubeconfig dir was left behind");
      const { stdout: ps } = await execFileAsync("ps", ["-eo", "args"]);
      assert.ok(!ps.includes(`TILLER_NAMESPACE=${NS_L}`));
      assert.ok(
        !/tiller --storage=secret --listen=127\.0\.0\.1/.test(ps),
        "a local Tiller still runs",
      );
    });

    it("passes helm's failure through: the escape chart is refused as the deployer", async () => {
      const result = await helm2Cli(
        "install",
        path.join(CHARTS, "helm2-escape-cluster"),
        "--name",
        "esc",
      );
      assert.equal(result.code, 1);
      assert.match(result.stderr, /clusterrolebindings.* is forbidden/);
      assert.match(result.stderr, /system:serviceaccount:e2e-tiller-l-[0-9a-f]+:deployer-/);
    });

    it("refuses a stage whose Tiller runs in the cluster", async () => {
      const result = await runCli(
        ["helm2", "--stack", t.name, "--stage", "c", "--work-dir", t.workDir, "--", "ls"],
        { HELM_HOME: helmHome },
      );
      assert.equal(result.code, 2);
      assert.match(result.stderr, /stage c runs Tiller in the cluster/);
    });
  });

  // (describes, not bare its: mocha runs a suite's own tests before its child suites)
  describe("verify", () => {
    it("covers Tiller in both modes", async () => {
      const result = await runCli(["verify", "--stack", t.name, "--work-dir", t.workDir]);
      record(`scoped-cd verify --stack <s>  # exit ${result.code}`, result.stdout);
      assert.equal(result.code, 0, result.stdout + result.stderr);
      assert.match(result.stdout, new RegExp(`Tiller's ServiceAccount is ${tillerAccount}`));
      assert.match(result.stdout, /ok .* Tiller's Role \(live\) grants nothing the deployer lacks/);
      assert.match(
        result.stdout,
        new RegExp(`no Tiller ServiceAccount \\(tiller\\*\\) in ${NS_L}`),
      );
    });
  });

  describe("rotation", () => {
    it("kills a Tiller token minted before it (401)", async () => {
      const asTiller = async () =>
        statusOf(
          (
            await clientsFor(kubeconfigs.c.replace(await tokenOf(kubeconfigs.c), tillerToken))
          ).authz.createSelfSubjectRulesReview({
            body: {
              apiVersion: "authorization.k8s.io/v1",
              kind: "SelfSubjectRulesReview",
              spec: { namespace: NS_C },
            },
          }),
        );
      assert.equal(await asTiller(), 0, "the Tiller token works before the rotation");
      if (tiller && tiller.exitCode === null) tiller.kill("SIGTERM");
      t.setConfig(stackConfig("r2"));
      const up = await t.stack.up({ onOutput: collect(t) });
      assert.notEqual(up.outputs.stages.value.c.tiller.serviceAccount, tillerAccount);
      await waitFor("a 401 for the old Tiller token", 30, async () =>
        (await asTiller()) === 401 ? true : undefined,
      );
    });
  });
});
